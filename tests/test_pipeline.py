"""The whole flow through a real Celery worker process on Redis, on SQLite and on PostgreSQL:
poll -> compose -> approve -> send to three readers -> three .eml files in the outbox."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from digest.clock import utcnow
from digest.editions.approve import approve_edition
from digest.editions.compose import compose_next_edition
from digest.feeds.registry import add_feed
from digest.store.db import unit_of_work
from digest.store.models import Article, Delivery, DeliveryStatus, Edition, EditionStatus, SendBatch
from tests.conftest import wait_for, wait_until_drained
from tests.factories import approved_edition, polled_feed, serve_feed, subscribers
from workers.tasks import edition_tick, poll_feed, send_batch, start_edition

pytestmark = pytest.mark.slow

READERS = ("ana@example.org", "bek@example.org", "cyrus@example.org")


def _count(model, *where) -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _edition_status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return session.get(Edition, edition_id).status


def _outbox_messages(outbox: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(outbox.rglob("*.eml"))]


def test_feed_to_outbox_through_a_worker(settings, celery_worker, feed_server):
    url = serve_feed(feed_server)
    with unit_of_work() as session:
        feed_id = add_feed(session, url, "Analytical Articles").id
    subscribers(*READERS)
    subscribers("not-yet@example.org", confirmed=False)

    poll_feed.delay(feed_id)
    wait_for(lambda: _count(Article) == 4, what="the worker to store 4 articles")

    with unit_of_work() as session:
        edition = compose_next_edition(session, utcnow())
        approve_edition(session, edition.id, "publisher@example.org")
        edition.send_at = utcnow() - dt.timedelta(minutes=1)
        edition_id = edition.id

    # The beat tick finds the due edition; the worker plans and sends it.
    edition_tick.delay()
    wait_for(lambda: _edition_status(edition_id) == EditionStatus.SENT, what="the edition to be sent")

    messages = _outbox_messages(settings.OUTBOX_DIR)
    assert sorted(m["To"] for m in messages) == sorted(READERS)
    for message in messages:
        assert message.get_content_type() == "multipart/alternative"
        parts = [part.get_content_type() for part in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        unsubscribe = message["List-Unsubscribe"]
        assert unsubscribe.startswith("<https://digest.example.org/u/") and "<mailto:" in unsubscribe
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = message.get_body(("plain",)).get_content()
        assert "Port Capacity Shapes the Middle Corridor" in text
    assert _count(Delivery, Delivery.status == DeliveryStatus.ACCEPTED) == 3


def test_running_a_send_task_twice_sends_nothing_more(settings, celery_worker, feed_server):
    polled_feed(feed_server)
    subscribers(*READERS)
    edition_id = approved_edition()
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == edition_id).values(send_at=utcnow()))

    start_edition.delay(edition_id)
    wait_for(lambda: _edition_status(edition_id) == EditionStatus.SENT, what="the edition to be sent")
    first = {path.name: path.read_bytes() for path in settings.OUTBOX_DIR.rglob("*.eml")}
    with unit_of_work() as session:
        [batch] = session.scalars(select(SendBatch.id).where(SendBatch.edition_id == edition_id))

    # A redelivered message, and a second start of the same edition.
    send_batch.delay(edition_id, batch)
    start_edition.delay(edition_id)
    wait_until_drained()

    again = {path.name: path.read_bytes() for path in settings.OUTBOX_DIR.rglob("*.eml")}
    assert again == first  # no file rewritten: every Message-ID and Date is unchanged
    with unit_of_work() as session:
        attempts = list(session.scalars(select(Delivery.attempts).where(Delivery.edition_id == edition_id)))
    assert attempts == [1, 1, 1]
