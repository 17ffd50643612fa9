"""Re-classify an edition's kept opens and clicks under today's rules (after a change of
SCANNER_* settings, or for events kept before classification), and move its counts to match.

The edition's deliveries are read a thousand at a time in id order (a keyset over deliveries),
each with all its opens, clicks and `delivered` events, so a burst is judged whole. Per page, a
constant number of statements whatever its events: the page's deliveries, their events, one
UPDATE of every verdict that changed (the rows as one JSON parameter, `store.upsert.rows_table`),
and where a maker changed, one DELETE and one INSERT of the reader marks that moved
(`counting.VerdictMoves`); the counters are written once at the end. So a change costs in
proportion to the verdicts it changes, and none when all stand (bench/classify_events.py).

Events counted before classification (migration 0018) were counted only as "unknown" opens and
clicks, not under a maker's links, URLs and hours; an edition where any of those changes is
recounted whole from its events instead (`counting.recount_edition`), once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, String, select, update
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.reports.audience import ENGAGEMENT, Timings, classify
from digest.reports.counting import VerdictMoves, recount_edition
from digest.store.models import Delivery, DeliveryEvent
from digest.store.upsert import among, rows_table

PAGE = 1000  # deliveries
# The reason migration 0018 gave the events it found: they were counted without a maker.
COUNTED_BEFORE_CLASSIFICATION = "kept before classification"


@dataclass(frozen=True)
class Reclassified:
    classified: int  # opens and clicks decided again
    changed: int  # of them, those whose verdict or reason changed
    moved: int = 0  # of them, those whose maker changed (their counts moved)
    recounted: bool = False  # whether the edition was recounted whole (events from before 0018)


def reclassify_edition(session: Session, edition_id: int) -> Reclassified:
    """Classify the edition's opens and clicks again; write the verdicts that changed, and move
    the counts of those whose maker changed."""
    settings = get_settings()
    moves = VerdictMoves(session, edition_id)
    classified, changed, moved, recount, after = 0, 0, 0, False, 0
    while True:
        deliveries = session.execute(
            select(Delivery.id, Delivery.sent_at).where(Delivery.edition_id == edition_id, Delivery.id > after)
            .order_by(Delivery.id).limit(PAGE)).all()
        if not deliveries:
            break
        after = deliveries[-1].id
        timings = Timings(handed_over_at={d.id: d.sent_at for d in deliveries if d.sent_at is not None})
        rows = []
        for row in session.execute(
                select(DeliveryEvent.id, DeliveryEvent.delivery_id, DeliveryEvent.edition_id, DeliveryEvent.event,
                       DeliveryEvent.occurred_at, DeliveryEvent.url, DeliveryEvent.payload,
                       DeliveryEvent.audience.label("was"), DeliveryEvent.audience_reason.label("was_because"))
                .where(among(session, DeliveryEvent.delivery_id, [d.id for d in deliveries]),
                       DeliveryEvent.event.in_((*ENGAGEMENT, "delivered")))).mappings():
            if row["event"] == "delivered":
                timings.delivered(row["delivery_id"], row["occurred_at"])
            else:
                rows.append(dict(row))
        classify(rows, timings, settings)
        changes = [row for row in rows if (row["was"], row["was_because"]) != (row["audience"], row["audience_reason"])]
        if changes:
            verdicts = rows_table(session, [{"id": row["id"], "audience": row["audience"],
                                             "audience_reason": row["audience_reason"]} for row in changes],
                                  {"id": BigInteger(), "audience": String(), "audience_reason": String()})
            events = DeliveryEvent.__table__
            session.execute(update(events).where(events.c.id == verdicts.c.id)
                            .values(audience=verdicts.c.audience, audience_reason=verdicts.c.audience_reason))
        makers = {row["delivery_id"] for row in changes if (row["was"] or "unknown") != row["audience"]}
        counted = [row for row in rows if row["delivery_id"] in makers and row["edition_id"] == edition_id]
        recount = recount or any(row["was_because"] == COUNTED_BEFORE_CLASSIFICATION for row in counted)
        if counted and not recount:
            moves.move(counted)
        classified += len(rows)
        changed += len(changes)
        moved += sum(1 for row in changes if (row["was"] or "unknown") != row["audience"])
    if recount:
        recount_edition(session, edition_id)
    elif moved:
        moves.finish()
    return Reclassified(classified, changed, moved, recount)


def editions_with_engagement(session: Session) -> list[int]:
    return list(session.scalars(select(DeliveryEvent.edition_id).distinct().where(
        DeliveryEvent.edition_id.is_not(None), DeliveryEvent.event.in_(ENGAGEMENT)).order_by(DeliveryEvent.edition_id)))
