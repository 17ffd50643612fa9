"""Where a reader's state in an edition is read, and nowhere else (tests/test_ledger_boundary.py).

A reader's state is their delivery row's status, or, for a member of a planned batch that has
no row for them yet, what their batch's state makes them:

    batch pending   -> pending      batch sent       -> accepted (its row records them)
    batch sending   -> sending      batch cancelled  -> cancelled

(failed and unknown batches write a row for each of their members, so a member of one always
has a row). A pending row of a batch in flight is `sending`. Every count, progress figure,
report, trend and person's page reads these functions: a query that forgot the members without
rows would undercount every send for the minutes before reconciliation writes their rows.
Reading never writes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, func, or_, select, true
from sqlalchemy.orm import Session

from digest.ledger.members import member_ids
from digest.store.models import BatchState, Delivery, DeliveryStatus, SendBatch, Subscriber

# The states in which a planned batch's members may have no row yet, and what each such member is.
ROWLESS = {BatchState.PENDING: DeliveryStatus.PENDING, BatchState.SENDING: DeliveryStatus.SENDING,
           BatchState.SENT: DeliveryStatus.ACCEPTED, BatchState.CANCELLED: DeliveryStatus.CANCELLED}


def reader_counts(session: Session, edition_id: int) -> dict[str, int]:
    """The edition's readers by state (states with none left out)."""
    return counts_by_edition(session, [edition_id])[edition_id]


def counts_by_edition(session: Session, edition_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per edition, its readers by state: their rows, pending rows of batches in flight as
    `sending`, and the members of planned batches with no row yet as their batch makes them.
    A few grouped statements, whatever the editions' sizes."""
    counts: dict[int, dict[str, int]] = {edition_id: {} for edition_id in edition_ids}
    if not edition_ids:
        return counts
    for edition_id, status, count in session.execute(
            select(Delivery.edition_id, Delivery.status, func.count())
            .where(Delivery.edition_id.in_(edition_ids)).group_by(Delivery.edition_id, Delivery.status)):
        counts[edition_id][status.value] = count
    in_flight = session.execute(
        select(SendBatch.edition_id, func.count()).select_from(SendBatch)
        .join(Delivery, and_(Delivery.batch_id == SendBatch.id, Delivery.status == DeliveryStatus.PENDING))
        .where(SendBatch.edition_id.in_(edition_ids), SendBatch.state == BatchState.SENDING)
        .group_by(SendBatch.edition_id))
    for edition_id, count in in_flight:
        _move(counts[edition_id], DeliveryStatus.PENDING, DeliveryStatus.SENDING, count)
    for (edition_id, status), count in _members_without_rows(session, edition_ids).items():
        _move(counts[edition_id], None, status, count)
    return counts


def _move(counts: dict[str, int], source: DeliveryStatus | None, target: DeliveryStatus, count: int) -> None:
    """Count `count` readers as `target` (taken from `source`), leaving out states with none."""
    if not count:
        return
    if source is not None:
        counts[source.value] -= count
        if not counts[source.value]:
            del counts[source.value]
    counts[target.value] = counts.get(target.value, 0) + count


def _members_without_rows(session: Session, edition_ids: list[int]) -> dict[tuple[int, DeliveryStatus], int]:
    """Per edition, the members of planned batches that have no delivery row yet, by what their
    batch makes them. Each batch's size less the rows written for its members since; two
    statements over the editions' batch rows, whatever their number of readers."""
    unrecorded = (SendBatch.edition_id.in_(edition_ids), SendBatch.members.is_not(None),
                  SendBatch.recorded_at.is_(None), SendBatch.state.in_(ROWLESS))
    key = (SendBatch.edition_id, SendBatch.state)
    sizes = session.execute(select(*key, func.sum(SendBatch.size)).where(*unrecorded).group_by(*key)).all()
    if not sizes:
        return {}
    rows = {(edition_id, state): count for edition_id, state, count in session.execute(
        select(*key, func.count(Delivery.id)).join(Delivery, Delivery.batch_id == SendBatch.id)
        .where(*unrecorded).group_by(*key))}
    return {(edition_id, ROWLESS[state]): int(size) - rows.get((edition_id, state), 0)
            for edition_id, state, size in sizes}


def handed_over_between(session: Session, edition_id: int, since: dt.datetime | None) -> int:
    """Readers of the edition handed over (at `since` or later, if given): rows with a send
    time, and the members of batches sent whole that have no row yet (their size less the rows
    written for them since)."""
    rows = select(func.count()).where(Delivery.edition_id == edition_id, Delivery.sent_at.is_not(None))
    in_batches = select(SendBatch.size - select(func.count()).where(Delivery.batch_id == SendBatch.id)
                        .scalar_subquery()).where(SendBatch.edition_id == edition_id, SendBatch.sent_at.is_not(None))
    if since is not None:
        rows = rows.where(Delivery.sent_at >= since)
        in_batches = in_batches.where(SendBatch.sent_at >= since)
    return session.scalar(rows) + int(session.scalar(select(func.sum(in_batches.subquery().c[0]))) or 0)


def waiting_in_batch(session: Session, batch_id: int) -> int:
    """How many readers of the batch are not yet handed over, without reading them: its pending
    rows, and its members less the rows written for them (every row written for a member names
    the batch)."""
    size, planned = session.execute(select(SendBatch.size, SendBatch.members.is_not(None))
                                    .where(SendBatch.id == batch_id)).one()
    recorded = session.execute(select(func.count(), func.count().filter(Delivery.status == DeliveryStatus.PENDING))
                               .where(Delivery.batch_id == batch_id)).one()
    return (size - recorded[0] if planned else 0) + recorded[1]


def delivered_in_each(edition_ids: list[int]):
    """The readers with a delivered message of each of these editions, as a subquery of
    subscriber ids (delivered is always a row: the provider's event wrote it)."""
    return (select(Delivery.subscriber_id)
            .where(Delivery.edition_id.in_(edition_ids), Delivery.status == DeliveryStatus.DELIVERED)
            .group_by(Delivery.subscriber_id).having(func.count() == len(edition_ids)))


# A reader's delivery in one edition, as the person's page and their data export show it: the
# columns of a delivery row.
COLUMNS = tuple(column.key for column in Delivery.__table__.columns)


def reader_deliveries(session: Session, subscriber_id: int) -> list[dict]:
    """Every edition sent (or being sent) to one reader, oldest first: their rows, and their
    memberships of planned batches that have no row for them yet (id None, the state and what
    the batch's row records). One look through the batches not yet recorded."""
    found = [{key: getattr(row, key) for key in COLUMNS} for row in session.scalars(
        select(Delivery).where(Delivery.subscriber_id == subscriber_id).order_by(Delivery.id))]
    member, member_id = member_ids(session)
    has_row = exists().where(Delivery.edition_id == SendBatch.edition_id, Delivery.subscriber_id == subscriber_id)
    memberships = session.execute(
        select(SendBatch.id, SendBatch.edition_id, SendBatch.variant, SendBatch.state, SendBatch.attempts,
               SendBatch.message_id, SendBatch.sent_at, SendBatch.created_at)
        .select_from(SendBatch).join(member, true())
        .where(member_id == subscriber_id, SendBatch.members.is_not(None), SendBatch.recorded_at.is_(None),
               SendBatch.state.in_(ROWLESS), ~has_row)
        .order_by(SendBatch.edition_id)).all()
    email = session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id)) if memberships else None
    for batch_id, edition_id, variant, state, attempts, message_id, sent_at, created_at in memberships:
        found.append(dict.fromkeys(COLUMNS) | dict(
            edition_id=edition_id, batch_id=batch_id, subscriber_id=subscriber_id, email=email, variant=variant,
            status=ROWLESS[state], attempts=attempts, message_id=message_id, sent_at=sent_at, created_at=created_at))
    return sorted(found, key=lambda delivery: delivery["edition_id"])



def editions_received(session: Session, edition_ids: list[int], first_id: int, last_id: int):
    """For the readers with ids in [first_id, last_id]: of these editions, how many each has
    received or is receiving (a row not cancelled, or a membership of a batch not cancelled), as
    a subquery of (subscriber_id, received), one row for each reader who received any. What an
    alert's daily cap counts, inside the audience's own statement: none of it travels to Python."""
    rows = select(Delivery.edition_id, Delivery.subscriber_id).where(
        Delivery.edition_id.in_(edition_ids), Delivery.subscriber_id.between(first_id, last_id),
        Delivery.status != DeliveryStatus.CANCELLED)
    member, member_id = member_ids(session)
    # Only the batches whose members may fall in the range are unnested: asked once per slice of
    # a million readers, unnesting every batch of the day's alerts each time grew with the list.
    may_hold = or_(SendBatch.first_member_id.is_(None),
                   and_(SendBatch.first_member_id <= last_id, SendBatch.last_member_id >= first_id))
    memberships = (select(SendBatch.edition_id, member_id.label("subscriber_id"))
                   .select_from(SendBatch).join(member, true())
                   .where(SendBatch.edition_id.in_(edition_ids), SendBatch.members.is_not(None), may_hold,
                          SendBatch.state != BatchState.CANCELLED, member_id.between(first_id, last_id)))
    both = rows.union(memberships).subquery()  # UNION: a member with a row counts once
    return (select(both.c.subscriber_id, func.count().label("received"))
            .group_by(both.c.subscriber_id).subquery("received"))


# A reader received an alert when it was handed over and not refused since: these row statuses,
# or membership of a batch handed over whole with no row for them yet.
RECEIVED = (DeliveryStatus.ACCEPTED, DeliveryStatus.DELIVERED, DeliveryStatus.DEFERRED)


def alerts_received(session: Session, edition_ids: list[int], first_id: int,
                    last_id: int) -> list[tuple[int, int, str | None]]:
    """For the readers with ids in [first_id, last_id]: each of these editions (alerts) they
    received, as (subscriber id, edition id, the variant they got: its key names its articles).
    Two statements in one, whatever the list."""
    if not edition_ids:
        return []
    rows = select(Delivery.subscriber_id, Delivery.edition_id, Delivery.variant).where(
        Delivery.edition_id.in_(edition_ids), Delivery.subscriber_id.between(first_id, last_id),
        Delivery.status.in_(RECEIVED))
    member, member_id = member_ids(session)
    has_row = exists().where(Delivery.edition_id == SendBatch.edition_id, Delivery.subscriber_id == member_id)
    memberships = (select(member_id.label("subscriber_id"), SendBatch.edition_id, SendBatch.variant)
                   .select_from(SendBatch).join(member, true())
                   .where(SendBatch.edition_id.in_(edition_ids), SendBatch.members.is_not(None),
                          SendBatch.state == BatchState.SENT, SendBatch.recorded_at.is_(None),
                          member_id.between(first_id, last_id), ~has_row))
    return [tuple(row) for row in session.execute(rows.union_all(memberships)).all()]
