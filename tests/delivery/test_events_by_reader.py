"""Events name their reader (edition, subscriber and send batch). A batch handed over whole is
recorded by its row alone: a reader's first event writes their row from it; an event that beats
the worker's commit waits for it; a message sent before readers were named so (delivery_id) is
still matched; an id that is not ours, or a reader the batch does not hold, matches nothing
without failing the request; reconciliation writes the rows events did not."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from sqlalchemy import select, update

from digest.clock import utcnow
from digest.delivery.backends import get_sender
from digest.delivery.reconcile import mark_stuck_unknown
from digest.delivery.events import EventsAhead, process_webhook_batch, store_webhook_batch
from digest.ledger.writer import record_sent_batches
from digest.delivery.memory import MemorySender
from digest.delivery.send import send_batch
from digest.delivery.claim import claim_batch
from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.store.models import Delivery, DeliveryEvent, DeliveryStatus, SendBatch, WebhookBatch
from tests.delivery.batches import members
from tests.factories import sending_edition, subscribers

READERS = ("first@example.org", "second@example.org", "third@example.org")


def _event(kind: str, number: int, **names) -> dict:
    return {"event": kind, "email": READERS[0], "timestamp": int(utcnow().timestamp()),
            "sg_event_id": f"{kind}-{number}", "sg_message_id": f"m{number}.filter",
            **{key: str(value) for key, value in names.items()}}


def _stored(events: list[dict]) -> int:
    """Kept as a request of its own (its own signed timestamp), even when its events repeat."""
    with unit_of_work() as session:
        return store_webhook_batch(session, json.dumps(events).encode(), str(time.time_ns())).batch_id


def _apply(batch_id: int) -> dict:
    with unit_of_work() as session:
        return process_webhook_batch(session, batch_id)


def test_an_event_that_beats_the_workers_commit_is_applied_once_the_batch_is_recorded(settings, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    with unit_of_work() as session:
        assert claim_batch(session, edition_id, batch, utcnow()) is not None  # the request is on its way
    reader, other, _ = members(batch)
    early = _stored([_event("delivered", 1, edition_id=edition_id, subscriber_id=reader, batch_id=batch)])
    with pytest.raises(EventsAhead):
        _apply(early)
    with unit_of_work() as session:  # nothing of it applied, and it is still waiting
        assert session.scalar(select(WebhookBatch.processed_at).where(WebhookBatch.id == early)) is None
        assert session.scalars(select(DeliveryEvent)).all() == []
        # The worker commits: the batch's row records its three readers as accepted.
        session.execute(update(SendBatch).where(SendBatch.id == batch).values(
            state="sent", sent_at=utcnow(), message_id="m1"))
    assert _apply(early) == {"new": 1, "duplicate": 0, "unmatched": 0, "skipped": 0}
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 2, "delivered": 1}
        event = session.scalars(select(DeliveryEvent)).one()
        assert (event.edition_id, event.subscriber_id) == (edition_id, reader)
        row = session.scalars(select(Delivery)).one()  # the reader's row, written from the batch's
        assert (row.subscriber_id, row.message_id, row.batch_id, row.email) == (reader, "m1", batch, READERS[0])
    # An event naming a reader the batch does not hold writes nothing for them.
    stranger = subscribers("stranger@example.org")[0]
    assert _apply(_stored([_event("delivered", 2, edition_id=edition_id, subscriber_id=stranger, batch_id=batch),
                           _event("open", 3, edition_id=edition_id, subscriber_id=other, batch_id=batch)])) == \
        {"new": 2, "duplicate": 0, "unmatched": 1, "skipped": 0}
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 1, "delivered": 2}


def test_reconciliation_writes_the_rows_no_event_wrote(settings, feed_server, standin):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    with unit_of_work() as session:
        send_batch(session, edition_id, batch, get_sender())
    with unit_of_work() as session:
        assert record_sent_batches(session, older_than=utcnow() - dt.timedelta(minutes=10)) == 0  # too soon
        assert record_sent_batches(session, older_than=utcnow() + dt.timedelta(seconds=1)) == 3
        assert record_sent_batches(session, older_than=utcnow() + dt.timedelta(seconds=1)) == 0  # once
        rows = session.execute(select(Delivery.status, Delivery.message_id, Delivery.batch_id)).all()
        sent = session.get(SendBatch, batch)
        assert rows == [(DeliveryStatus.ACCEPTED, sent.message_id, batch)] * 3 and sent.recorded_at is not None
        assert reader_counts(session, edition_id) == {"accepted": 3}


def test_an_old_messages_delivery_id_still_names_its_delivery(settings, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    with unit_of_work() as session:
        send_batch(session, edition_id, batch, MemorySender())
        delivery_id, reader = session.execute(select(Delivery.id, Delivery.subscriber_id).limit(1)).one()
    applied = _apply(_stored([_event("bounce", 1, edition_id=edition_id, delivery_id=delivery_id)]))
    assert applied == {"new": 1, "duplicate": 0, "unmatched": 0, "skipped": 0}
    with unit_of_work() as session:
        assert session.scalar(select(Delivery.status).where(Delivery.id == delivery_id)) == DeliveryStatus.BOUNCED
        assert session.scalar(select(DeliveryEvent.subscriber_id)) == reader


def test_readers_that_are_not_ours_match_nothing_and_the_rest_applies(settings, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    with unit_of_work() as session:
        send_batch(session, edition_id, batch, MemorySender())
    first, *_ = members(batch)
    events = [_event("delivered", 1, edition_id=edition_id, subscriber_id=first),
              _event("delivered", 2, edition_id=edition_id + 1, subscriber_id=first),  # another edition
              _event("delivered", 3, edition_id=edition_id, subscriber_id=2**40),  # wider than our ids
              _event("delivered", 4, edition_id=2**40, subscriber_id=first)]
    assert _apply(_stored(events)) == {"new": 4, "duplicate": 0, "unmatched": 3, "skipped": 0}
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 2, "delivered": 1}
        kept = session.execute(select(DeliveryEvent.edition_id, DeliveryEvent.subscriber_id)
                               .order_by(DeliveryEvent.id)).all()
    # An unmatched event keeps no word of its own for an edition or a reader.
    assert kept == [(edition_id, first), (None, None), (None, None), (None, None)]


class _SlowRequest(MemorySender):
    """A request that outlasts SEND_STUCK_AFTER_SECONDS: reconciliation takes its batch for lost
    before the provider's answer comes back."""

    def send(self, batch):
        with unit_of_work() as session:
            self.unknown = mark_stuck_unknown(session, now=utcnow().replace(year=utcnow().year + 1))
        return super().send(batch)


def test_readers_reconciliation_took_for_lost_stay_unknown_when_the_late_answer_comes(settings, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    sender = _SlowRequest()
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, sender) == 3
    assert sender.unknown == 3 and len(sender.messages) == 3
    with unit_of_work() as session:
        # Their events settle them; the batch is not marked sent over reconciliation's verdict.
        assert reader_counts(session, edition_id) == {"unknown": 3}
        assert session.scalar(select(SendBatch.state).where(SendBatch.id == batch)) == "unknown"
