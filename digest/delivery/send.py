"""Send a claimed batch of an edition's readers and record its outcome.

The steps: wait for the batch's slot in the shared rate limit, claim the batch (claim.py), read
its readers not yet handed over, build the outgoing message from the stored render
(outgoing.py), hand it over (a 413 is split in halves until the parts fit), and record what
happened in the ledger (digest.ledger.writer): a batch handed over whole in one request is
recorded by its row alone; readers of a split or failed request get rows of their own. Then the
edition is finished if nothing is left to send."""

from __future__ import annotations

import datetime as dt
import logging
import time
from contextlib import suppress
from functools import lru_cache

from sqlalchemy import Integer, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow, wall_seconds
from digest.counters import record_deliveries_sent
from digest.delivery.claim import Claim, claim_batch, mark_sent, release_batch, waiting_readers
from digest.delivery.for_you import run_against_nothing as for_you_against_nothing
from digest.delivery.message import BatchTooLarge, CredentialsRefused, OutgoingBatch, Sender, SendError, Throttled
from digest.delivery.outgoing import outgoing_batch
from digest.delivery.ratelimit import batch_key, get_rate_limiter
from digest.editions.approve import approved_render
from digest.editions.lookup import EditionRow, edition_row
from digest.errors import Conflict, NotFound
from digest.ledger.states import waiting_in_batch
from digest.ledger.writer import BatchRef, Waiting, settle_readers
from digest.store.db import unit_of_work
from digest.store.models import (BatchState, Delivery, DeliveryStatus, Edition, EditionKind, EditionStatus,
                                 PlanSlice, SendBatch)

log = logging.getLogger(__name__)


class SendRateLimited(Throttled):
    def __init__(self, wait: float):
        super().__init__(f"sending rate limit reached; this batch's slot is in {wait:.1f}s", wait)


def _wait_for_rate(session: Session, edition_id: int, batch_id: int) -> None:
    """Take this batch's slot in the shared schedule: sleep if it is near, else SendRateLimited.
    Only readers not yet handed over count, so a batch already sent takes no slot."""
    limiter = get_rate_limiter()
    if not limiter.enabled:
        return
    count = waiting_in_batch(session, batch_id)
    permit = limiter.acquire(batch_key(edition_id, batch_id), count)
    if not permit.granted:
        raise SendRateLimited(permit.wait_seconds)
    if permit.wait_seconds:
        time.sleep(wall_seconds(permit.wait_seconds))


def send_batch(session: Session, edition_id: int, batch_id: int, sender: Sender,
               now: dt.datetime | None = None) -> int:
    """Claim, send and record one batch; returns how many readers this call handed over.

    A retryable SendError releases the batch (its readers not yet accepted wait for the retry)
    and is raised for the caller to retry; credentials refused pause the edition; other
    permanent errors fail the readers."""
    now = now or utcnow()
    edition = edition_row(session, edition_id)
    if edition.status != EditionStatus.SENDING:
        return 0
    _wait_for_rate(session, edition_id, batch_id)
    claim = claim_batch(session, edition_id, batch_id, now)
    if claim is None:
        return 0
    session.commit()
    token = claim.token
    batch = BatchRef(edition_id, batch_id, claim.variant)
    readers = _without_those_who_left(session, batch, waiting_readers(session, edition_id, batch_id, claim.planned))
    try:
        # Sent from the stored render, never re-rendered: a later feed update cannot change
        # what half of the readers receive.
        rendered = approved_render(session, edition, claim.variant)
    except Conflict:
        release_batch(session, batch_id, token)
        session.commit()
        raise
    sent, marked = 0, False
    if readers:
        outgoing = outgoing_batch(session, edition, rendered, claim.variant, batch_id, readers)
        by_id = {reader.subscriber_id: reader for reader in readers}
        try:
            sent, marked = _hand_over(session, sender, outgoing, batch, by_id, claim, whole=True)
        except CredentialsRefused as exc:
            release_batch(session, batch_id, token)
            pause_for_credentials(session, edition_id, str(exc))
            session.commit()
            return sent
        except SendError as exc:
            release_batch(session, batch_id, token)
            session.commit()
            if isinstance(exc, Throttled) and not isinstance(exc, SendRateLimited):
                get_rate_limiter().hold_until(utcnow().timestamp() + exc.wait)
            raise
    if not marked:  # split, failed, or nothing left to send: its readers have rows of their own
        session.connection().execute(mark_sent(batch_id, token, recorded_at=utcnow()))
    finish_edition_if_complete(session, edition_id, utcnow())
    return sent


def prepare_statements() -> None:
    """Run each statement of a batch's path once, against ids that match nothing (0), in a
    transaction rolled back. SQLAlchemy compiles a statement the first time a process runs it
    and keeps it in the engine's cache, which a worker's pool children inherit (the engine
    outlives the fork: store/db.py's forget_inherited_connections). Run by a worker before it
    forks (workers/app.py), no child's first batch compiles anything: each paid about 25 ms of
    CPU for it, all the delivery processes at once, right when an edition's first batch was due."""
    with unit_of_work(hold_connection=True) as session:
        _run_against_nothing(session)
        session.rollback()


def _run_against_nothing(session: Session) -> None:
    now = utcnow()
    nothing = EditionRow(id=0, kind=EditionKind.DIGEST, status=EditionStatus.SENDING, approved_hash="",
                         send_at=now, provider_batch_id=None)
    with suppress(NotFound):
        edition_row(session, 0)
    claim_batch(session, 0, 0, now)
    for planned in (True, False):
        waiting_readers(session, 0, 0, planned)
    with suppress(Conflict):
        approved_render(session, nothing)
    for_you_against_nothing(session, nothing)
    session.connection().execute(_sent_whole_statement(), {
        "batch": 0, "token": "", "handed_at": now, "message": "", "handed_over": 0})
    session.connection().execute(mark_sent(0, "", recorded_at=now))
    finish_edition_if_complete(session, 0, now)


# Why a reader planned for an edition was not sent it (their row's error).
LEFT_SINCE_PLANNING = "no longer receives editions: unsubscribed, suppressed or paused after the edition was planned"


def _without_those_who_left(session: Session, batch: BatchRef, readers: list[Waiting]) -> list[Waiting]:
    """The readers still to send; those who left since planning are cancelled, visibly (written
    with the batch's outcome, or with its release)."""
    left = [reader for reader in readers if reader.left]
    if left:
        settle_readers(session, batch, left, DeliveryStatus.CANCELLED, error=LEFT_SINCE_PLANNING)
    return [reader for reader in readers if not reader.left] if left else readers


def _hand_over(session: Session, sender: Sender, outgoing: OutgoingBatch, batch: BatchRef,
               readers: dict[int, Waiting], claim: Claim, whole: bool) -> tuple[int, bool]:
    """Send one single-variant batch; a 413 is split in halves until the parts fit. Each part's
    outcome is committed as it comes: accepted readers are never released by a later part's
    retry. `whole`: `outgoing` is every reader of the claimed batch. Returns the readers handed
    over, and whether the batch row was marked sent."""
    part = [readers[recipient.reader_id] for recipient in outgoing.recipients]
    try:
        message_ids = sender.send(outgoing)
    except BatchTooLarge as exc:
        if len(outgoing.recipients) == 1:
            settle_readers(session, batch, part, DeliveryStatus.FAILED, error=str(exc))
            session.commit()
            return 0, False
        first, second = outgoing.split()
        sent_first, _ = _hand_over(session, sender, first, batch, readers, claim, whole=False)
        sent_second, _ = _hand_over(session, sender, second, batch, readers, claim, whole=False)
        return sent_first + sent_second, False
    except SendError as exc:
        if not exc.permanent or isinstance(exc, CredentialsRefused):
            raise
        settle_readers(session, batch, part, DeliveryStatus.FAILED, error=str(exc))
        session.commit()
        return 0, False
    now = utcnow()
    distinct = set(message_ids.values())
    marked = (whole and claim.planned and sender.message_id_per_request and len(distinct) == 1
              and len(message_ids) == len(part) and all(reader.delivery_id is None for reader in part))
    if marked:
        # Every reader in one request, none with a row: the batch row records them all. Its size
        # becomes theirs and its rows' (an earlier attempt's accepted part, failures): a member
        # erased since planning was not among them, and size less rows is what the row records.
        session.connection().execute(_sent_whole_statement(), {
            "batch": batch.batch_id, "token": claim.token, "handed_at": now, "message": distinct.pop(),
            "handed_over": len(part)})
    else:
        settle_readers(session, batch, [readers[reader_id] for reader_id in message_ids], DeliveryStatus.ACCEPTED,
                       message_ids=message_ids, sent_at=now, error=None, attempts=claim.attempt)
    session.commit()
    record_deliveries_sent(len(message_ids))
    return len(message_ids), marked


@lru_cache(maxsize=1)
def _sent_whole_statement():
    """mark_sent for a batch handed over whole, made once: the batch, the claim's token, the
    time, the message id and the readers handed over are its parameters."""
    batch_id = bindparam("batch")
    rows_already = select(func.count()).where(Delivery.batch_id == batch_id).scalar_subquery()
    return (update(SendBatch).where(SendBatch.id == batch_id, SendBatch.claim_token == bindparam("token"),
                                    SendBatch.state == BatchState.SENDING)
            .values(state=BatchState.SENT, sent_at=bindparam("handed_at", type_=SendBatch.sent_at.type),
                    message_id=bindparam("message", type_=SendBatch.message_id.type),
                    size=bindparam("handed_over", type_=Integer) + rows_already))


def give_up_batch(session: Session, edition_id: int, batch_id: int, error: str) -> int:
    """After the last retry: the batch's waiting readers fail visibly instead of waiting forever."""
    gave_up = session.execute(
        update(SendBatch).where(SendBatch.id == batch_id, SendBatch.edition_id == edition_id,
                                SendBatch.state == BatchState.PENDING).values(state=BatchState.FAILED)
        .returning(SendBatch.variant, SendBatch.members.is_not(None))
    ).first()
    failed = 0
    if gave_up is not None:
        variant, planned = gave_up
        failed = settle_readers(session, BatchRef(edition_id, batch_id, variant),
                                waiting_readers(session, edition_id, batch_id, planned),
                                DeliveryStatus.FAILED, error=error)
    finish_edition_if_complete(session, edition_id, utcnow())
    return failed


def pause_for_credentials(session: Session, edition_id: int, error: str) -> None:
    log.critical("edition %s paused: %s", edition_id, error)
    session.execute(
        update(Edition).where(Edition.id == edition_id, Edition.status == EditionStatus.SENDING)
        .values(status=EditionStatus.PAUSED, note=f"paused: {error}; fix the API key, then resume",
                updated_at=utcnow())
    )


def finish_edition_if_complete(session: Session, edition_id: int, now: dt.datetime) -> bool:
    """Mark the edition sent once every slice is planned and no delivery is pending, in flight
    or unknown."""
    # Asked first: while a batch is waiting or in flight (every check but the last few of a
    # send), a look at the edition's few batch rows settles it, whatever its number of readers.
    return bool(session.connection().execute(_finish_statement(), {"edition": edition_id, "finished": now}).rowcount)


@lru_cache(maxsize=1)
def _finish_statement():
    """finish_edition_if_complete's UPDATE, made once (it runs after every batch; building it
    cost more of the worker's time than PostgreSQL's answer)."""
    edition_id = bindparam("edition")
    live = exists().where(SendBatch.edition_id == edition_id, SendBatch.state.in_(BatchState.live()))
    unfinished = exists().where(
        Delivery.edition_id == edition_id, Delivery.status.in_(DeliveryStatus.unfinished()),
    )
    unplanned = exists().where(PlanSlice.edition_id == edition_id, PlanSlice.planned_at.is_(None))
    finished = bindparam("finished", type_=Edition.sent_at.type)
    return (update(Edition)
            .where(and_(Edition.id == edition_id, Edition.status == EditionStatus.SENDING, ~live, ~unfinished,
                        ~unplanned))
            .values(status=EditionStatus.SENT, sent_at=finished, updated_at=finished))
