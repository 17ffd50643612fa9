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
from typing import NamedTuple

from sqlalchemy import null, select, true, union_all, update
from sqlalchemy.orm import Session

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
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.edition_id == edition_id, SendBatch.state == BatchState.PENDING)
        .values(state=BatchState.SENDING, claim_token=token, claimed_at=now, attempts=SendBatch.attempts + 1)
        .returning(SendBatch.variant, SendBatch.attempts, SendBatch.members.is_not(None))
    ).first()
    return None if claimed is None else Claim(token, *claimed)


def waiting_readers(session: Session, edition_id: int, batch_id: int, planned: bool) -> list[Waiting]:
    """The batch's readers not yet handed over, in one query by two indexes: the rows that name
    the batch (every row written for a member does), and its members' subscriber rows. Waiting:
    the pending rows, and the members with no row, each marked `left` if they no longer receive
    editions (they are asked again here: they may have left since planning). (An anti-join of the members against the
    edition's rows let the planner hash all of the edition's rows, batch after batch.)"""
    left = ~eligible_readers()
    rows = (select(Delivery.id, Delivery.subscriber_id, Delivery.email, Subscriber.name, Delivery.status, left)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id).where(Delivery.batch_id == batch_id))
    if planned:
        member, member_id = member_ids(session)
        rows = union_all(rows, select(null(), Subscriber.id, Subscriber.email, Subscriber.name, null(), left)
                         .select_from(SendBatch).join(member, true()).join(Subscriber, Subscriber.id == member_id)
                         .where(SendBatch.id == batch_id))
    recorded, waiting, fresh = set(), [], []
    for delivery_id, subscriber_id, email, name, status, gone in session.connection().execute(rows):
        if delivery_id is None:
            fresh.append(Waiting(None, subscriber_id, email, name, bool(gone)))
            continue
        recorded.add(subscriber_id)
        if status == DeliveryStatus.PENDING:
            waiting.append(Waiting(delivery_id, subscriber_id, email, name, bool(gone)))
    waiting += [reader for reader in fresh if reader.subscriber_id not in recorded]
    return sorted(waiting, key=lambda reader: reader.subscriber_id)


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
