"""Planning and sending batches: the ledger decides who gets what, once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from digest.delivery.memory import MemorySender
from digest.delivery.message import SendError
from digest.delivery.plan import start_edition
from digest.delivery.send import send_batch
from digest.ledger.states import reader_counts
from digest.editions.lookup import get_edition
from digest.store.db import unit_of_work
from digest.store.models import Delivery, DeliveryStatus, EditionStatus
from tests.factories import approved_edition, planned, polled_feed, subscribers
from tests.delivery.batches import sizes


def _started(feed_server, readers=("a@example.org", "b@example.org", "c@example.org")) -> tuple[int, list]:
    polled_feed(feed_server)
    subscribers(*readers)
    subscribers("pending@example.org", confirmed=False)
    edition_id = approved_edition()
    return edition_id, planned(edition_id)


class FailingSender:
    def __init__(self, error: SendError):
        self.error = error

    def send(self, batch):
        raise self.error


def test_only_confirmed_subscribers_are_planned_and_a_batch_sends_once(settings, feed_server):
    edition_id, batches = _started(feed_server)
    assert sizes(batches) == [3]
    sender = MemorySender()
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batches[0], sender) == 3
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batches[0], sender) == 0
        assert start_edition(session, edition_id) == []
    assert sorted(m["To"] for m in sender.messages) == ["a@example.org", "b@example.org", "c@example.org"]
    with unit_of_work() as session:
        assert get_edition(session, edition_id).status == EditionStatus.SENT
        assert reader_counts(session, edition_id) == {"accepted": 3}


def test_batches_respect_the_batch_size(settings, feed_server, monkeypatch):
    monkeypatch.setenv("SEND_BATCH_SIZE", "2")
    from digest.config import get_settings

    get_settings.cache_clear()
    _, batches = _started(feed_server, [f"r{i}@example.org" for i in range(5)])
    assert sizes(batches) == [2, 2, 1]


def test_a_retryable_failure_releases_the_rows_for_the_next_try(settings, feed_server):
    edition_id, batches = _started(feed_server)
    with unit_of_work() as session, pytest.raises(SendError):
        send_batch(session, edition_id, batches[0], FailingSender(SendError("503", permanent=False)))
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"pending": 3}
    sender = MemorySender()
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batches[0], sender) == 3
    assert len(sender.messages) == 3


def test_a_permanent_failure_is_recorded_on_every_row(settings, feed_server):
    edition_id, batches = _started(feed_server)
    with unit_of_work() as session:
        send_batch(session, edition_id, batches[0], FailingSender(SendError("bad from address", permanent=True)))
    with unit_of_work() as session:
        rows = session.scalars(select(Delivery).where(Delivery.edition_id == edition_id)).all()
        assert {(r.status, r.error) for r in rows} == {(DeliveryStatus.FAILED, "bad from address")}
        # Nothing is left in flight: the edition is finished, its failures visible.
        assert get_edition(session, edition_id).status == EditionStatus.SENT


def test_an_edition_without_confirmed_readers_finishes_at_once(settings, feed_server):
    edition_id, batches = _started(feed_server, readers=())
    assert batches == []
    with unit_of_work() as session:
        assert get_edition(session, edition_id).status == EditionStatus.SENT
