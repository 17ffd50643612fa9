"""A reader who leaves after their edition was planned (unsubscribes, is suppressed by a bounce
or a complaint, pauses) gets nothing when their batch is sent: the batch is checked again as it
is claimed. They are not silently dropped either: their row says the edition was cancelled for
them and why, so every figure still adds up to the planned readers."""

from __future__ import annotations

from sqlalchemy import select

from digest.delivery.backends import get_sender
from digest.delivery.memory import MemorySender
from digest.delivery.send import send_batch
from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.store.models import Delivery, SuppressionReason
from digest.subscribers.lifecycle import unsubscribe
from digest.subscribers.preferences import get_subscriber
from digest.subscribers.suppressions import suppress
from tests.delivery.batches import members
from tests.factories import sending_edition

READERS = ("stays@example.org", "leaves@example.org", "bounced@example.org", "pauses@example.org")


def _leave_after_planning(batch: int) -> list[int]:
    stays, leaves, bounced, pauses = members(batch)
    with unit_of_work() as session:
        unsubscribe(session, leaves, source="test")
        suppress(session, READERS[2], SuppressionReason.HARD_BOUNCE, source="test")
        get_subscriber(session, pauses).paused = True
    return [stays, leaves, bounced, pauses]


def _left(edition_id: int) -> dict[str, tuple[str, str]]:
    with unit_of_work() as session:
        return {email: (status.value, error) for email, status, error in session.execute(
            select(Delivery.email, Delivery.status, Delivery.error).where(Delivery.edition_id == edition_id))}


def test_readers_who_left_after_planning_are_not_sent_and_are_counted_cancelled(settings, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    _leave_after_planning(batch)
    sender = MemorySender()
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, sender) == 1
    assert [message["To"] for message in sender.messages] == ["stays@example.org"]
    left = _left(edition_id)
    assert {email: status for email, (status, _) in left.items()} == {
        "stays@example.org": "accepted", "leaves@example.org": "cancelled",
        "bounced@example.org": "cancelled", "pauses@example.org": "cancelled"}
    assert "no longer receives editions" in left["leaves@example.org"][1]
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 1, "cancelled": 3}


def test_a_batch_sent_whole_to_sendgrid_records_only_those_who_stayed(standin, feed_server):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    _leave_after_planning(batch)
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, get_sender()) == 1
    assert list(standin.delivered) == ["stays@example.org"]
    # Those who left have rows; the one who stayed is recorded by the batch row alone.
    assert sorted(_left(edition_id)) == ["bounced@example.org", "leaves@example.org", "pauses@example.org"]
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 1, "cancelled": 3}
