"""The members of planned send batches: read where they are stored, and the delivery rows of
members a sent batch's row alone recorded as accepted, written when an event names one of them
(record_members), before what reads one person's rows (record_reader), or by reconciliation a
while after the send (record_sent_batches)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, literal, select, true, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.store.models import BatchState, Delivery, DeliveryStatus, SendBatch, Subscriber
from digest.store.upsert import among, insert_ignoring_duplicates

# How long after a batch was sent reconciliation writes its members' rows: SendGrid reports
# `processed` for each message within minutes, and each first event writes its reader's row; the
# rest (no webhook, events lost) are written then.
RECORD_SENT_AFTER = dt.timedelta(minutes=10)

# Columns of an accepted member's row, in the order record_members' SELECT gives them.
_ROW = ("edition_id", "batch_id", "variant", "status", "attempts", "created_at", "sent_at", "message_id",
        "subscriber_id", "email")


def member_ids(session: Session):
    """A batch's members as rows of a lateral join on send_batches (unnested on PostgreSQL,
    json_each on SQLite), and the column holding each one's subscriber id: a thousand ids
    never travel to Python and back as a parameter."""
    if session.get_bind().dialect.name == "postgresql":
        member = func.unnest(SendBatch.members).table_valued("id").render_derived().lateral()
        return member, member.c.id
    member = func.json_each(SendBatch.members).table_valued("value")
    return member, member.c.value


def record_members(session: Session, batch_ids: list[int], subscriber_ids: list[int] | None = None) -> int:
    """Write the accepted rows of sent batches' members (those of `subscriber_ids` only, if
    given) who have none, as their batch's row recorded them: its message id, time and attempt,
    each member's address. A member with a row keeps it. One statement, whatever the number of
    batches. Returns the rows written."""
    member, member_id = member_ids(session)
    now = utcnow()
    accepted = select(SendBatch.edition_id, SendBatch.id, SendBatch.variant,
                      literal(DeliveryStatus.ACCEPTED, Delivery.__table__.c.status.type), SendBatch.attempts,
                      literal(now, Delivery.__table__.c.created_at.type), SendBatch.sent_at, SendBatch.message_id,
                      Subscriber.id, Subscriber.email) \
        .select_from(SendBatch).join(member, true()).join(Subscriber, Subscriber.id == member_id) \
        .where(among(session, SendBatch.id, batch_ids), SendBatch.state == BatchState.SENT,
               SendBatch.sent_at.is_not(None))
    if subscriber_ids is not None:
        accepted = accepted.where(among(session, Subscriber.id, subscriber_ids))
    statement = insert_ignoring_duplicates(session, Delivery.__table__).from_select(_ROW, accepted)
    return session.connection().execute(statement, execution_options={"preserve_rowcount": True}).rowcount


def record_sent_batches(session: Session, older_than: dt.datetime, limit: int | None = 50,
                        edition_id: int | None = None) -> int:
    """Write the rows of every member of batches sent before `older_than` that events have not
    written yet, and mark the batches recorded: the subscriber pages, reports and exports read
    rows. At most `limit` batches (beat comes back for the rest), all with None. Returns the rows written."""
    query = select(SendBatch.id).where(SendBatch.state == BatchState.SENT, SendBatch.recorded_at.is_(None),
                                       SendBatch.sent_at < older_than)
    if edition_id is not None:
        query = query.where(SendBatch.edition_id == edition_id)
    batch_ids = list(session.scalars(query.order_by(SendBatch.id).limit(limit)))
    if not batch_ids:
        return 0
    written = record_members(session, batch_ids)
    session.execute(update(SendBatch).where(among(session, SendBatch.id, batch_ids)).values(recorded_at=utcnow()))
    return written


def record_reader(session: Session, subscriber_id: int, edition_id: int | None = None) -> int:
    """Write the rows of one reader (of one edition, if given) that sent batches' rows alone
    recorded: before what reads a person's rows (their page, their data, their erasure, their
    action credited to an edition). Only batches not yet recorded are looked through, a few
    minutes' worth. Returns the rows written."""
    member, member_id = member_ids(session)
    query = select(SendBatch.id).select_from(SendBatch).join(member, true()).where(
        SendBatch.state == BatchState.SENT, SendBatch.recorded_at.is_(None), member_id == subscriber_id)
    if edition_id is not None:
        query = query.where(SendBatch.edition_id == edition_id)
    batch_ids = list(session.scalars(query))
    return record_members(session, batch_ids, [subscriber_id]) if batch_ids else 0


# The states in which a planned batch's members may have no row yet, and what each such member is.
_ROWLESS = {BatchState.PENDING: DeliveryStatus.PENDING, BatchState.SENDING: DeliveryStatus.SENDING,
            BatchState.SENT: DeliveryStatus.ACCEPTED, BatchState.CANCELLED: DeliveryStatus.CANCELLED}


def members_without_rows(session: Session, edition_ids: list[int]) -> dict[tuple[int, DeliveryStatus], int]:
    """Per edition, the members of planned batches that have no delivery row yet, by what their
    batch makes them: waiting, in flight, accepted (sent whole, not yet recorded) or cancelled.
    Each batch's size less the rows written for its members since; two statements over the
    editions' batch rows, whatever their number of readers."""
    unrecorded = (SendBatch.edition_id.in_(edition_ids), SendBatch.members.is_not(None),
                  SendBatch.recorded_at.is_(None), SendBatch.state.in_(_ROWLESS))
    key = (SendBatch.edition_id, SendBatch.state)
    sizes = session.execute(select(*key, func.sum(SendBatch.size)).where(*unrecorded).group_by(*key)).all()
    if not sizes:
        return {}
    rows = {(edition_id, state): count for edition_id, state, count in session.execute(
        select(*key, func.count(Delivery.id)).join(Delivery, Delivery.batch_id == SendBatch.id)
        .where(*unrecorded).group_by(*key))}
    return {(edition_id, _ROWLESS[state]): int(size) - rows.get((edition_id, state), 0)
            for edition_id, state, size in sizes}


def accepted_in_batches(session: Session, edition_ids: list[int]) -> dict[int, int]:
    """Per edition, the readers that sent batches' rows alone record as accepted."""
    return {edition_id: count for (edition_id, status), count in members_without_rows(session, edition_ids).items()
            if status == DeliveryStatus.ACCEPTED}
