"""What the tests read of send batches: their sizes and which deliveries they hold."""

from __future__ import annotations

from sqlalchemy import select

from digest.store.db import unit_of_work
from digest.store.models import Delivery, SendBatch


def sizes(batch_ids: list[int]) -> list[int]:
    """Readers per batch when it was cut, in the order given."""
    with unit_of_work() as session:
        size = dict(session.execute(select(SendBatch.id, SendBatch.size).where(SendBatch.id.in_(batch_ids))).all())
    return [size[batch_id] for batch_id in batch_ids]


def members(batch_id: int) -> list[int]:
    """The deliveries the batch holds, by id."""
    with unit_of_work() as session:
        return list(session.scalars(select(Delivery.id).where(Delivery.batch_id == batch_id).order_by(Delivery.id)))
