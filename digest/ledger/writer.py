"""Where delivery rows are written, and nowhere else (tests/test_ledger_boundary.py).

A reader of a planned batch has no row of their own until something happens to them; then one
of two statements writes it:
- settle_readers: what a worker or a command did to readers not yet handed over (accepted in a
  split or a per-reader request, failed, unknown, given up): a pending row is updated, a member
  without a row gets one.
- record_members: members of a batch sent whole, as its row recorded them (accepted, its message
  id and time): when an event names one of them (events), when one person's rows are needed by
  an action (record_reader: their erasure, an unsubscribe credited to an edition), or by
  reconciliation a while after the send (record_sent_batches).
A member whose row exists keeps it: both statements skip a conflict on (edition, reader).
docs/architecture.md has the table of every trigger."""

from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple

from sqlalchemy import literal, select, text, true, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.ledger.members import member_ids
from digest.store.models import BatchState, Delivery, DeliveryStatus, SendBatch, Subscriber
from digest.store.upsert import among, insert_ignoring_duplicates

# An INSERT's rowcount is kept only when asked for.
KEEP_ROWCOUNT = {"preserve_rowcount": True}


class BatchRef(NamedTuple):
    """What a batch's readers' rows carry of it."""
    edition_id: int
    batch_id: int
    variant: str


class Waiting(NamedTuple):
    """A reader of a batch not yet handed over."""
    delivery_id: int | None  # their pending row; None for a member with no row yet
    subscriber_id: int
    email: str
    name: str | None
    left: bool = False  # no longer receives editions (unsubscribed, suppressed, paused) since planning


def settle_readers(session: Session, batch: BatchRef, readers: list[Waiting], status: DeliveryStatus, *,
                   message_ids: dict[int, str] | None = None, **values) -> int:
    """Record what happened to readers of a batch not yet handed over: a pending row is updated
    (if still pending), a member without a row gets one. `message_ids` are by subscriber id.
    Returns the rows written.

    A member whose row was written meanwhile keeps it: a reconciliation that took the batch for
    lost (its request outlasted SEND_STUCK_AFTER_SECONDS) wrote them as unknown, and their
    events settle them."""
    message_ids = message_ids or {}
    pending = [reader for reader in readers if reader.delivery_id is not None]
    count = _record_new(session, batch, [reader for reader in readers if reader.delivery_id is None], status,
                        message_ids, values)
    if not pending:
        return count
    distinct = {message_ids.get(reader.subscriber_id) for reader in pending}
    if len(distinct) == 1:  # one message id for the request (SendGrid's), or none
        message = distinct.pop()
        count += session.connection().execute(
            update(Delivery).where(among(session, Delivery.id, [reader.delivery_id for reader in pending]),
                                   Delivery.status == DeliveryStatus.PENDING)
            .values(status=status, **values, **({"message_id": message} if message else {}))).rowcount
    else:  # a message id per reader (a backend's own): one row each
        session.execute(update(Delivery), [dict(id=reader.delivery_id, status=status,
                                                message_id=message_ids.get(reader.subscriber_id), **values)
                                           for reader in pending])
        count += len(pending)
    return count


# PostgreSQL: the new rows in one statement, whatever their number; the readers go as one JSON
# text ([subscriber id, address, message id] each), which the driver passes as it is (a list
# parameter is an array the driver writes element by element, several milliseconds a batch).
_INSERT_READERS = text("""
    INSERT INTO deliveries (edition_id, batch_id, variant, status, attempts, created_at, sent_at, error,
                            claim_token, claimed_at, subscriber_id, email, message_id)
    SELECT :edition_id, :batch_id, :variant, :status, :attempts, CAST(:created_at AS timestamptz),
           CAST(:sent_at AS timestamptz), CAST(:error AS text), CAST(:claim_token AS varchar),
           CAST(:claimed_at AS timestamptz), CAST(reader ->> 0 AS integer), reader ->> 1, reader ->> 2
    FROM json_array_elements(CAST(:readers AS json)) AS reader
    ON CONFLICT DO NOTHING""")
_ROW_VALUES = ("sent_at", "error", "claim_token", "claimed_at")


def _record_new(session: Session, batch: BatchRef, readers: list[Waiting], status: DeliveryStatus,
                message_ids: dict[int, str], values: dict) -> int:
    """Rows for members who had none, skipping any written meanwhile (a conflict on the
    edition and reader). Returns the rows written."""
    if not readers:
        return 0
    unknown = values.keys() - {*_ROW_VALUES, "attempts"}
    assert not unknown, f"a new delivery row has no {unknown}"
    fixed = dict(edition_id=batch.edition_id, batch_id=batch.batch_id, variant=batch.variant, status=status.value,
                 attempts=values.get("attempts", 0), created_at=utcnow(),
                 **{name: values.get(name) for name in _ROW_VALUES})
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        readers_json = json.dumps([[reader.subscriber_id, reader.email, message_ids.get(reader.subscriber_id)]
                                   for reader in readers])
        return connection.execute(_INSERT_READERS, dict(fixed, readers=readers_json)).rowcount
    fixed["status"] = status
    rows = [dict(fixed, subscriber_id=reader.subscriber_id, email=reader.email,
                 message_id=message_ids.get(reader.subscriber_id)) for reader in readers]
    return connection.execute(insert_ignoring_duplicates(session, Delivery.__table__), rows,
                              execution_options=KEEP_ROWCOUNT).rowcount


# How long after a batch was sent reconciliation writes its members' rows: SendGrid reports
# `processed` for each message within minutes, and each first event writes its reader's row; the
# rest (no webhook, events lost) are written then.
RECORD_SENT_AFTER = dt.timedelta(minutes=10)

# Columns of an accepted member's row, in the order record_members' SELECT gives them.
_ROW = ("edition_id", "batch_id", "variant", "status", "attempts", "created_at", "sent_at", "message_id",
        "subscriber_id", "email")


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
    return session.connection().execute(statement, execution_options=KEEP_ROWCOUNT).rowcount


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
