"""Re-classify an edition's kept opens and clicks under today's rules (after a change of
SCANNER_* settings, or for events kept before classification), and move its counts to match.

The edition's deliveries are read a thousand at a time in reader order (a keyset over the
deliveries' unique index), each with all its opens, clicks and `delivered` events, so a burst is
judged whole. Per page, a constant number of statements whatever its events: the page's
deliveries, their events, one UPDATE of every verdict that changed (the rows as one JSON
parameter, `store.upsert.rows_table`), and where a maker changed, one DELETE and one INSERT of
the reader marks that moved (`counting.VerdictMoves`); the counters are written once at the end.
So a change costs in proportion to the verdicts it changes, and nothing is written when all
stand (bench/classify_events.py).

Events counted before classification (migration 0018) were counted only as "unknown" opens and
clicks, not under a maker's links, URLs and hours; an edition where any of those changes is
recounted whole from its events instead (`counting.recount_edition`), once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, BigInteger, Boolean, String, case, cast, column, func, literal_column, select, true, update
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.reports.audience import ENGAGEMENT, Timings, classify
from digest.reports.counting import VerdictMoves, recount_edition
from digest.store.models import Delivery, DeliveryEvent
from digest.store.upsert import among, rows_table

PAGE = 1000  # deliveries
# The reason migration 0018 gave the events it found: they were counted without a maker.
COUNTED_BEFORE_CLASSIFICATION = "kept before classification"
EVENT_COLUMNS = (DeliveryEvent.id, DeliveryEvent.delivery_id, DeliveryEvent.event,
                 DeliveryEvent.occurred_at, DeliveryEvent.url, DeliveryEvent.audience.label("was"),
                 DeliveryEvent.audience_reason.label("was_because"))


# What the rules read of a payload: its user agent if it is text, and its machine flag if it is
# a boolean. On PostgreSQL the database takes the two out of each payload, parsing it once
# (json_to_record), so no whole event SendGrid sent is parsed in Python (that was most of the time
# re-classifying took); SQLite's JSON_EXTRACT turns `true` into 1, so there the whole payload is
# read. Returns the columns and what to join for them (None: nothing).
def _payload_columns(session: Session) -> tuple[tuple, object]:
    if session.get_bind().dialect.name != "postgresql":
        return (DeliveryEvent.payload,), None
    fields = (func.json_to_record(DeliveryEvent.payload)
              .table_valued(column("useragent", JSON), column("sg_machine_open", JSON))
              .render_derived(with_types=True).lateral())

    def value(field, kind: str, as_type):
        return case((func.json_typeof(field) == kind, cast(field.op("#>>")(literal_column("'{}'")), as_type)))

    return (value(fields.c.useragent, "string", String).label("useragent"),
            value(fields.c.sg_machine_open, "boolean", Boolean).label("sg_machine_open")), fields


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
    payload, fields = _payload_columns(session)
    events = select(*EVENT_COLUMNS, *payload).where(DeliveryEvent.edition_id == edition_id,
                                                    DeliveryEvent.event.in_(ENGAGEMENT))
    if fields is not None:
        events = events.select_from(DeliveryEvent).join(fields, true())
    first_delivered = (select(func.min(DeliveryEvent.occurred_at))
                       .where(DeliveryEvent.delivery_id == Delivery.id, DeliveryEvent.event == "delivered")
                       .scalar_subquery().label("delivered_at"))
    classified, changed, moved, recount, after = 0, 0, 0, False, 0
    while True:
        # By reader: the order of the index on (edition_id, subscriber_id), so each page starts
        # where the last one ended, however many other editions' deliveries there are. Each with
        # its first `delivered` event, found through the events' index on delivery_id.
        deliveries = session.execute(
            select(Delivery.id, Delivery.subscriber_id, Delivery.sent_at, first_delivered)
            .where(Delivery.edition_id == edition_id, Delivery.subscriber_id > after)
            .order_by(Delivery.subscriber_id).limit(PAGE)).all()
        if not deliveries:
            break
        after = deliveries[-1].subscriber_id
        timings = Timings(handed_over_at={d.id: d.sent_at for d in deliveries if d.sent_at is not None},
                          delivered_at={d.id: d.delivered_at for d in deliveries if d.delivered_at is not None})
        result = session.connection().execute(
            events.where(among(session, DeliveryEvent.delivery_id, [d.id for d in deliveries])))
        names = list(result.keys())  # once, not per row as a mapping would
        rows = [dict(zip(names, row)) for row in result]
        for row in rows:
            if "payload" not in row:  # PostgreSQL's two fields, as the rules read them from a payload
                row["payload"] = {"useragent": row.pop("useragent"), "sg_machine_open": row.pop("sg_machine_open")}
        classify(rows, timings, settings)
        changes = [row for row in rows if (row["was"], row["was_because"]) != (row["audience"], row["audience_reason"])]
        if changes:
            verdicts = rows_table(session, [{"id": row["id"], "audience": row["audience"],
                                             "audience_reason": row["audience_reason"]} for row in changes],
                                  {"id": BigInteger(), "audience": String(), "audience_reason": String()})
            table = DeliveryEvent.__table__
            session.execute(update(table).where(table.c.id == verdicts.c.id)
                            .values(audience=verdicts.c.audience, audience_reason=verdicts.c.audience_reason))
        makers = {row["delivery_id"] for row in changes if (row["was"] or "unknown") != row["audience"]}
        counted = [row for row in rows if row["delivery_id"] in makers]
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
