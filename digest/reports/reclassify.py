"""Re-classify an edition's kept opens and clicks under today's rules (after a change of
SCANNER_* settings, or for events kept before classification), then, if any verdict changed,
rebuild its counts from them.

The events are read a thousand deliveries at a time, each delivery with all its opens, clicks
and `delivered` events, so a burst is judged whole; the verdicts that changed are written in one
statement per page (an UPDATE by primary key over many rows). The recount reads every event of
the edition again, and is most of the time a change costs (bench/classify_events.py); an edition
whose verdicts all stand is left as it is."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.reports.audience import ENGAGEMENT, Timings, classify
from digest.reports.counting import recount_edition
from digest.store.models import Delivery, DeliveryEvent
from digest.store.upsert import among

PAGE = 1000  # deliveries


@dataclass(frozen=True)
class Reclassified:
    classified: int  # opens and clicks decided again
    changed: int  # of them, those whose verdict or reason changed (the edition is recounted if any)


def reclassify_edition(session: Session, edition_id: int) -> Reclassified:
    """Classify the edition's opens and clicks again; if any verdict changed, write the changed
    ones and rebuild the edition's counts from its events."""
    settings = get_settings()
    classified, changed, after = 0, 0, 0
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
                       DeliveryEvent.url, DeliveryEvent.payload, DeliveryEvent.audience.label("was"),
                       DeliveryEvent.audience_reason.label("was_because"))
                .where(among(session, DeliveryEvent.delivery_id, ids),
                       DeliveryEvent.event.in_((*ENGAGEMENT, "delivered")))).mappings():
            if row["event"] == "delivered":
                timings.delivered(row["delivery_id"], row["occurred_at"])
            else:
                rows.append(dict(row))
        classify(rows, timings, settings)
        moved = [{"id": row["id"], "audience": row["audience"], "audience_reason": row["audience_reason"]}
                 for row in rows if (row["was"], row["was_because"]) != (row["audience"], row["audience_reason"])]
        if moved:
            session.execute(update(DeliveryEvent), moved)
        classified += len(rows)
        changed += len(moved)
        after = ids[-1]
    if changed:
        recount_edition(session, edition_id)
    return Reclassified(classified, changed)


def editions_with_engagement(session: Session) -> list[int]:
    return list(session.scalars(select(DeliveryEvent.edition_id).distinct().where(
        DeliveryEvent.edition_id.is_not(None), DeliveryEvent.event.in_(ENGAGEMENT)).order_by(DeliveryEvent.edition_id)))
