"""What the tests read of send batches (their sizes, which readers they hold), and how a test
makes some readers' outcome known without a backend."""

from __future__ import annotations

from sqlalchemy import select

from digest.delivery.claim import waiting_readers
from digest.ledger.writer import BatchRef, settle_readers
from digest.store.db import unit_of_work
from digest.store.models import BatchState, Delivery, DeliveryStatus, SendBatch, Subscriber


def sizes(batch_ids: list[int]) -> list[int]:
    """Readers per batch when it was cut, in the order given."""
    with unit_of_work() as session:
        size = dict(session.execute(select(SendBatch.id, SendBatch.size).where(SendBatch.id.in_(batch_ids))).all())
    return [size[batch_id] for batch_id in batch_ids]


def members(batch_id: int) -> list[int]:
    """The readers the batch holds (subscriber ids): the members it was planned with and the
    readers of rows that name it."""
    with unit_of_work() as session:
        planned = session.scalar(select(SendBatch.members).where(SendBatch.id == batch_id)) or []
        rows = session.scalars(select(Delivery.subscriber_id).where(Delivery.batch_id == batch_id))
        return sorted({*planned, *rows})


def settle(edition_id: int, count: int, status: DeliveryStatus, **values) -> int:
    """Record `status` for the first `count` readers of the edition's waiting batches, as a
    worker records an outcome; returns how many."""
    done = 0
    with unit_of_work() as session:
        batches = session.execute(select(SendBatch.id, SendBatch.variant, SendBatch.members.is_not(None)).where(
            SendBatch.edition_id == edition_id, SendBatch.state.in_(BatchState.live())).order_by(SendBatch.id)).all()
        for batch_id, variant, planned in batches:
            readers = waiting_readers(session, edition_id, batch_id, planned)[:count - done]
            done += settle_readers(session, BatchRef(edition_id, batch_id, variant), readers, status, **values)
            if done >= count:
                break
    return done


def planned_readers(edition_id: int) -> set[str]:
    """The addresses the edition was planned for: its batches' members and its rows' readers."""
    with unit_of_work() as session:
        ids = {member for planned in session.scalars(select(SendBatch.members).where(
            SendBatch.edition_id == edition_id, SendBatch.members.is_not(None))) for member in planned}
        ids |= set(session.scalars(select(Delivery.subscriber_id).where(Delivery.edition_id == edition_id)))
        return set(session.scalars(select(Subscriber.email).where(Subscriber.id.in_(ids))))
