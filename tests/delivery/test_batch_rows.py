"""A batch handed over whole to SendGrid is recorded by its row alone: what reads readers (counts,
progress, reports, the dashboard, a person's page and data) reads them from it through the read
model, and writes nothing; an action credited to the edition writes that reader's row first."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.clock import utcnow
from digest.delivery.control import cancel_send

from digest.delivery.backends import get_sender
from digest.delivery.message import SendError
from digest.delivery.progress import send_progress
from digest.delivery.send import send_batch
from digest.ledger.states import reader_counts
from digest.reports.attribution import credit_edition
from digest.store.db import unit_of_work
from digest.store.models import Delivery, DeliveryEvent, DeliveryStatus, Edition, SendBatch
from digest.subscribers.privacy import describe_subscriber
from digest.web.app import app
from digest.web.dashboard import dashboard_context
from tests.delivery.batches import members
from tests.factories import sending_edition
from tests.web.editor_helpers import logged_in

READERS = ("first@example.org", "second@example.org", "third@example.org")


def _sent_whole(feed_server) -> tuple[int, int]:
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, get_sender()) == 3
    with unit_of_work() as session:
        assert session.scalars(select(Delivery)).all() == []  # the batch's row records them
    return edition_id, batch


def test_progress_counts_the_readers_a_batch_row_records(standin, feed_server):
    edition_id, _ = _sent_whole(feed_server)
    with unit_of_work() as session:
        progress = send_progress(session, session.get(Edition, edition_id))
    assert (progress.counts, progress.total, progress.done) == ({"accepted": 3}, 3, 3)
    assert progress.per_minute is not None and progress.per_minute > 0


def test_a_persons_data_shows_the_edition_their_batch_row_records(standin, feed_server):
    edition_id, batch = _sent_whole(feed_server)
    with unit_of_work() as session:
        held = describe_subscriber(session, READERS[1])
        message_id = session.scalar(select(SendBatch.message_id).where(SendBatch.id == batch))
    assert [(d["edition_id"], d["status"], d["message_id"], d["email"], d["id"]) for d in held["deliveries"]] == \
        [(edition_id, DeliveryStatus.ACCEPTED, message_id, READERS[1], None)]
    with unit_of_work() as session:  # reading wrote nothing: rows wait for events or reconciliation
        assert session.scalars(select(Delivery.email)).all() == []


def test_a_persons_page_shows_the_edition_their_batch_row_records_and_writes_nothing(standin, feed_server):
    edition_id, batch = _sent_whole(feed_server)
    reader = members(batch)[0]
    with TestClient(app, base_url="https://testserver") as client:
        logged_in(client)
        html = client.get(f"/subscribers/{reader}").text
    row = re.search(rf'<a href="/editions/{edition_id}">.*?</tr>', html, re.S).group(0)
    assert "<td>accepted</td>" in row
    with unit_of_work() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_every_figure_counts_a_cancelled_editions_waiting_readers(standin, feed_server):
    """Members of batches cancelled before a worker took them have no rows: the edition page,
    the dashboard and the report all count them, from the read model."""
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    with unit_of_work() as session:
        cancel_send(session, edition_id, by="editor", source="test")
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"cancelled": 3}
        assert dashboard_context(session, utcnow())["recent"][0][1] == {"cancelled": 3}
        assert session.scalars(select(Delivery)).all() == []


def test_an_unsubscribe_through_an_editions_link_is_credited_before_any_event(standin, feed_server):
    edition_id, batch = _sent_whole(feed_server)
    reader = members(batch)[2]
    with unit_of_work() as session:
        assert credit_edition(session, reader, str(edition_id), "web_unsubscribe")
    with unit_of_work() as session:
        event = session.scalars(select(DeliveryEvent)).one()
        assert (event.edition_id, event.subscriber_id, event.event) == (edition_id, reader, "web_unsubscribe")
        assert session.get(Delivery, event.delivery_id).subscriber_id == reader


def test_a_batch_sent_whole_after_an_earlier_attempt_accepted_a_part_counts_every_reader_once(
        standin, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS, "fourth@example.org")
    standin.fail_next.extend([413, None, 503])  # split; the first half accepted; the second half fails
    with unit_of_work() as session, pytest.raises(SendError):
        send_batch(session, edition_id, batch, get_sender())
    with unit_of_work() as session:  # the retry hands the other half over whole
        assert send_batch(session, edition_id, batch, get_sender()) == 2
    with unit_of_work() as session:
        assert len(session.scalars(select(Delivery)).all()) == 2  # the first half's rows
        assert reader_counts(session, edition_id) == {"accepted": 4}
        progress = send_progress(session, session.get(Edition, edition_id))
    assert (progress.total, progress.done) == (4, 4)
    assert sorted(standin.delivered.values()) == [1, 1, 1, 1]
