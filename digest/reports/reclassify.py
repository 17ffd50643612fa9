"""Re-classify an edition's kept opens and clicks under today's rules (after a change of
SCANNER_* settings, or for events kept before classification), then rebuild its counts from them.

The events are read a thousand deliveries at a time, each delivery with all its opens, clicks
and `delivered` events, so a burst is judged whole; the verdicts are written in one statement per
page (an UPDATE by primary key over many rows)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.reports.audience import ENGAGEMENT, Timings, classify
from digest.reports.counting import recount_edition
from digest.store.models import Delivery, DeliveryEvent
from digest.store.upsert import among

PAGE = 1000  # deliveries


def reclassify_edition(session: Session, edition_id: int) -> int:
    """Classify the edition's opens and clicks again and recount it; returns how many were classified."""
    settings = get_settings()
    classified, after = 0, 0
    while True:
        ids = list(session.scalars(
            select(DeliveryEvent.delivery_id).distinct()
            .where(DeliveryEvent.edition_id == edition_id, DeliveryEvent.event.in_(ENGAGEMENT),
                   DeliveryEvent.delivery_id > after)
            .order_by(DeliveryEvent.delivery_id).limit(PAGE)))
        if not ids:
            break
        timings = Timings(handed_over_at={
            delivery_id: sent_at for delivery_id, sent_at in session.execute(
                select(Delivery.id, Delivery.sent_at).where(among(session, Delivery.id, ids)))
            if sent_at is not None})
        rows = []
        for row in session.execute(
                select(DeliveryEvent.id, DeliveryEvent.delivery_id, DeliveryEvent.event, DeliveryEvent.occurred_at,
                       DeliveryEvent.url, DeliveryEvent.payload)
                .where(among(session, DeliveryEvent.delivery_id, ids),
                       DeliveryEvent.event.in_((*ENGAGEMENT, "delivered")))).mappings():
            if row["event"] == "delivered":
                timings.delivered(row["delivery_id"], row["occurred_at"])
            else:
                rows.append(dict(row))
        classify(rows, timings, settings)
        session.execute(update(DeliveryEvent), [
            {"id": row["id"], "audience": row["audience"], "audience_reason": row["audience_reason"]}
            for row in rows])
        classified += len(rows)
        after = ids[-1]
    recount_edition(session, edition_id)
    return classified


def editions_with_engagement(session: Session) -> list[int]:
    return list(session.scalars(select(DeliveryEvent.edition_id).distinct().where(
        DeliveryEvent.edition_id.is_not(None), DeliveryEvent.event.in_(ENGAGEMENT)).order_by(DeliveryEvent.edition_id)))
