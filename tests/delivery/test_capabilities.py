"""What a backend can do beyond `send` is declared on the Sender interface and read from there:
the tick starts editions early only for a backend with scheduled sends, and only a backend with
cancellable batches is asked for a batch id. A one-off email has a type of its own."""

from __future__ import annotations

import datetime as dt

import pytest

from digest.delivery.backends import get_sender
from digest.delivery.memory import MemorySender
from digest.delivery.message import Sender, Unsupported
from digest.delivery.outbox import OutboxSender
from digest.delivery.plan import send_ahead, start_edition
from digest.editions.lookup import get_edition
from digest.editions.render import RenderedEdition, TransactionalMail
from digest.editions.schedule import due_edition_ids
from digest.store.db import unit_of_work
from digest.delivery.confirmation import confirmation_email
from digest.store.models import Subscriber
from tests.conftest import reset_caches
from tests.factories import approved_edition, many_subscribers, polled_feed, subscribers


def test_each_backend_declares_what_it_can_do(settings, standin):
    sendgrid = get_sender()
    assert isinstance(sendgrid, Sender) and sendgrid.scheduled_sends and sendgrid.cancellable_batches
    for local in (MemorySender(), OutboxSender(settings.OUTBOX_DIR)):
        assert isinstance(local, Sender)
        assert not local.scheduled_sends and not local.cancellable_batches
        with pytest.raises(Unsupported, match=type(local).__name__):
            local.create_batch_id()


def test_the_tick_starts_early_only_for_a_backend_with_scheduled_sends(settings, standin, monkeypatch, feed_server):
    monkeypatch.setenv("SEND_SCHEDULE_AHEAD_MINUTES", "30")
    reset_caches()
    polled_feed(feed_server)
    edition_id = approved_edition()
    with unit_of_work() as session:
        send_at = get_edition(session, edition_id).send_at
    twenty_minutes_before = send_at - dt.timedelta(minutes=20)
    assert send_ahead(get_sender()) == dt.timedelta(minutes=30)
    assert send_ahead(OutboxSender(settings.OUTBOX_DIR)) == dt.timedelta(0)
    with unit_of_work() as session:
        assert due_edition_ids(session, twenty_minutes_before, send_ahead(get_sender())) == [edition_id]
        assert due_edition_ids(session, twenty_minutes_before, send_ahead(MemorySender())) == []


def test_a_local_backend_is_never_asked_for_a_batch_id(settings, feed_server):
    polled_feed(feed_server)
    many_subscribers(3)
    edition_id = approved_edition()  # send_at is days ahead
    with unit_of_work() as session:
        assert start_edition(session, edition_id, sender=MemorySender())
        assert get_edition(session, edition_id).provider_batch_id is None


def test_a_confirmation_is_transactional_mail_not_an_edition(settings):
    [reader] = subscribers("reader@example.org", confirmed=False)
    with unit_of_work() as session:
        mail = confirmation_email(session.get(Subscriber, reader))
    assert isinstance(mail, TransactionalMail) and not isinstance(mail, RenderedEdition)
    assert mail.fill({"name": "ignored"}).text == mail.text
