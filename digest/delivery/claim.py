"""Claiming a send batch, and reading the readers a claim hands over.

A worker claims a batch (up to SEND_BATCH_SIZE readers of one variant) with a conditional UPDATE
of its one row, committed before the provider is called: a task that runs twice sends nothing
more, and a worker that dies mid-request leaves its batch visibly `sending` (reconciliation
takes it for lost after SEND_STUCK_AFTER_SECONDS). A claim ends with the batch marked sent, or
released for the next attempt.

A batch's readers not yet handed over are its members without a delivery row in the edition,
and the pending rows that name it (rows made pending again by a retry or a re-send). The hot
path's statements go through the session's connection (`session.connection().execute`): the
same transaction, without the ORM's per-statement work, which cost a batch more than its SQL."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import lru_cache, partial
from operator import itemgetter
from typing import NamedTuple

from sqlalchemy import String, bindparam, null, select, true, type_coerce, union_all, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.ledger.members import member_ids
from digest.ledger.writer import Waiting
from digest.store.models import BatchState, Delivery, DeliveryStatus, SendBatch, Subscriber
from digest.subscribers.lifecycle import eligible_readers

# Off the hot path: no loaded objects to keep in step, so skip the ORM's pass over the identity
# map (it costs more than the UPDATE itself on a batch of 1000).
BULK = {"synchronize_session": False}


class Claim(NamedTuple):
    token: str
    variant: str
    attempt: int  # how many times the batch has been claimed, this time included
    planned: bool  # the batch names its readers (members); else its pending rows are its readers


def claim_batch(session: Session, edition_id: int, batch_id: int, now: dt.datetime) -> Claim | None:
    """Take the batch if it is still pending: one row, whatever the batch's size. Returns the
    claim (its token, the batch's variant and attempt, whether it was planned), or None when another worker (or
    an earlier run of this task) has it."""
    token = str(uuid.uuid4())
    claimed = session.connection().execute(
        _claim_statement(), {"batch": batch_id, "edition": edition_id, "token": token, "claimed": now}).first()
    return None if claimed is None else Claim(token, *claimed)


@lru_cache(maxsize=1)
def _claim_statement():
    """claim_batch's UPDATE, made once (per batch, building it cost as much as running it)."""
    return (update(SendBatch)
            .where(SendBatch.id == bindparam("batch"), SendBatch.edition_id == bindparam("edition"),
                   SendBatch.state == BatchState.PENDING)
            .values(state=BatchState.SENDING, claim_token=bindparam("token", type_=SendBatch.claim_token.type),
                    claimed_at=bindparam("claimed", type_=SendBatch.claimed_at.type),
                    attempts=SendBatch.attempts + 1)
            .returning(SendBatch.variant, SendBatch.attempts, SendBatch.members.is_not(None)))


def waiting_readers(session: Session, edition_id: int, batch_id: int, planned: bool) -> list[Waiting]:
    """The batch's readers not yet handed over, in one query by two indexes: the rows that name
    the batch (every row written for a member does), and its members' subscriber rows. Waiting:
    the pending rows, and the members with no row, each marked `left` if they no longer receive
    editions (they are asked again here: they may have left since planning). (An anti-join of the members against the
    edition's rows let the planner hash all of the edition's rows, batch after batch.)"""
    dialect = session.get_bind().dialect.name
    rows = session.connection().execute(_waiting_statement(dialect, planned),
                                        {"batch_id": batch_id, "now": utcnow()}).all()
    # Each row is a Waiting's fields, then its delivery's status. Most batches have no rows of
    # their own yet: every row is then a member to send, made into a Waiting in C (a call of
    # Waiting's Python constructor per reader cost a batch 0.4 ms).
    recorded = {row[1] for row in rows if row[0] is not None}
    if recorded:
        rows = [row for row in rows if (row[0] is None and row[1] not in recorded) or row[5] == DeliveryStatus.PENDING]
    return sorted(map(_waiting, map(_FIELDS, rows)), key=itemgetter(1))


_FIELDS = itemgetter(slice(0, 5))  # a row's Waiting fields, as a tuple
_waiting = partial(tuple.__new__, Waiting)


@lru_cache(maxsize=4)
def _waiting_statement(dialect: str, planned: bool):
    """waiting_readers' statement, made once (building it cost a batch about 1 ms of Python):
    the batch and the time eligibility is asked at are its parameters."""
    left = ~eligible_readers(bindparam("now"))
    batch_id = bindparam("batch_id")
    # The status as its stored text (a StrEnum's value, equal to it): no conversion per row.
    status = type_coerce(Delivery.status, String)
    rows = (select(Delivery.id, Delivery.subscriber_id, Delivery.email, Subscriber.name, left, status)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id).where(Delivery.batch_id == batch_id))
    if not planned:
        return rows
    member, member_id = member_ids(dialect)
    return union_all(rows, select(null(), Subscriber.id, Subscriber.email, Subscriber.name, left, null())
                     .select_from(SendBatch).join(member, true()).join(Subscriber, Subscriber.id == member_id)
                     .where(SendBatch.id == batch_id))


def mark_sent(batch_id: int, token: str, **values):
    """The batch is done, if this claim still holds it (reconciliation may have taken it for lost
    meanwhile, and written its readers as unknown)."""
    return (update(SendBatch).where(SendBatch.id == batch_id, SendBatch.claim_token == token,
                                    SendBatch.state == BatchState.SENDING)
            .values(state=BatchState.SENT, **values))


def release_batch(session: Session, batch_id: int, token: str) -> None:
    """Give the batch back: its readers not yet accepted go with its next claim."""
    session.execute(
        update(SendBatch).where(SendBatch.id == batch_id, SendBatch.claim_token == token)
        .values(state=BatchState.PENDING, claim_token=None, claimed_at=None), execution_options=BULK)
