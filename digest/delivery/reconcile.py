"""Beat's reconciliation: keeps every delivery in a state someone can see. Stuck claims become
`unknown`; the readers that sent batches' rows alone recorded get rows of their own; unknown rows
the provider's webhook stayed silent about are re-sent once by themselves; sends and plans whose
queue messages were lost are found again; sends with nothing left are finished.

`reconcile` changes rows and says what to enqueue; the caller (workers/tasks.py) enqueues it once
the transaction commits: nothing in digest/ talks to the queue."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.claim import waiting_readers
from digest.delivery.control import Done, record_action
from digest.delivery.plan import batches_to_send
from digest.delivery.send import finish_edition_if_complete
from digest.ledger.writer import RECORD_SENT_AFTER, BatchRef, record_sent_batches, settle_readers
from digest.store.models import (BatchState, Delivery, DeliveryEvent, DeliveryStatus, Edition, EditionStatus,
                                 PlanSlice, SendBatch)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    """What one pass changed (`summary`, what beat's task returns) and what to enqueue once it
    commits: send batches and planning slices, by edition."""
    batches: dict[int, list[int]]
    slices: dict[int, list[int]]
    summary: dict


def reconcile(session: Session, now: dt.datetime | None = None) -> Reconciled:
    """One pass of beat's reconciliation (every SEND_RECONCILE_INTERVAL_SECONDS)."""
    now = now or utcnow()
    stuck = mark_stuck_unknown(session, now)
    recorded = record_sent_batches(session, now - RECORD_SENT_AFTER)
    resent = resend_silent_unknown(session, now)
    batches = {edition_id: done.batches for edition_id, done in resent.items()}
    stalled = stalled_batches(session, now)
    for edition_id, waiting in stalled.items():
        if edition_id not in resent:  # its batches are listed already
            log.warning("edition %s stalled; re-issuing %s batches", edition_id, len(waiting))
            batches[edition_id] = waiting
    slices = stalled_slices(session, now)
    for edition_id, numbers in slices.items():
        log.warning("edition %s stalled; re-issuing the planning of %s slices", edition_id, len(numbers))
    finished = finish_complete_editions(session, now)
    summary = {"unknown": stuck, "recorded": recorded,
               "resent": {str(k): v.deliveries for k, v in resent.items()},
               "reissued": {str(k): len(v) for k, v in stalled.items()},
               "replanned": {str(k): len(v) for k, v in slices.items()}, "finished": finished}
    return Reconciled(batches, slices, summary)


def mark_stuck_unknown(session: Session, now: dt.datetime | None = None) -> int:
    """Batches claimed longer ago than SEND_STUCK_AFTER_SECONDS with no outcome become unknown,
    and so do their readers not yet recorded: their worker died between claiming and recording.
    Webhook events may still settle them. Returns the readers."""
    now = now or utcnow()
    limit = now - dt.timedelta(seconds=get_settings().SEND_STUCK_AFTER_SECONDS)
    stuck = session.execute(
        update(SendBatch).where(SendBatch.state == BatchState.SENDING, SendBatch.claimed_at < limit)
        .values(state=BatchState.UNKNOWN)
        .returning(SendBatch.edition_id, SendBatch.id, SendBatch.variant, SendBatch.members.is_not(None),
                   SendBatch.claim_token, SendBatch.claimed_at, SendBatch.attempts)
    ).all()
    count = 0
    for edition_id, batch_id, variant, planned, token, claimed_at, attempts in stuck:
        count += settle_readers(session, BatchRef(edition_id, batch_id, variant),
                                waiting_readers(session, edition_id, batch_id, planned), DeliveryStatus.UNKNOWN,
                                claim_token=token, claimed_at=claimed_at, attempts=attempts)
    if count:
        log.warning("%s deliveries stuck in sending became unknown", count)
    return count


def stalled_batches(session: Session, now: dt.datetime | None = None) -> dict[int, list[int]]:
    """Editions sending with pending batches but no claim for SEND_STALL_AFTER_SECONDS: their
    queue messages were lost (a Redis restart without persistence). Returns batches to enqueue
    again; a batch that was only slow is harmless to enqueue twice (claims are conditional)."""
    return {edition_id: batches_to_send(session, edition_id) for edition_id in _stalled_editions(session, now)}


def stalled_slices(session: Session, now: dt.datetime | None = None) -> dict[int, list[int]]:
    """The unplanned slices of sending editions none of whose slices was planned for
    SEND_STALL_AFTER_SECONDS: their planning messages were lost (a Redis restart, a worker killed
    with its message). Judged by planning alone: slices are planned in lanes, and one lane's lost
    message must not wait until the other lane's batches stop being claimed. Returns the slices
    to enqueue again; planning a slice twice plans it once (the slice is claimed)."""
    now = now or utcnow()
    limit = now - dt.timedelta(seconds=get_settings().SEND_STALL_AFTER_SECONDS)
    unplanned = exists().where(PlanSlice.edition_id == Edition.id, PlanSlice.planned_at.is_(None))
    recently_planned = exists().where(PlanSlice.edition_id == Edition.id, PlanSlice.planned_at >= limit)
    stalled = session.scalars(select(Edition.id).where(
        Edition.status == EditionStatus.SENDING, Edition.started_at < limit, unplanned, ~recently_planned)).all()
    return {edition_id: list(session.scalars(select(PlanSlice.number).where(
        PlanSlice.edition_id == edition_id, PlanSlice.planned_at.is_(None)).order_by(PlanSlice.number)))
        for edition_id in stalled}


def finish_complete_editions(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Sending editions with nothing left to send become sent. Each batch and slice checks this
    as it commits, but the last two to commit at the same moment can each still see the other
    unfinished; this sweep settles that."""
    now = now or utcnow()
    sending = session.scalars(select(Edition.id).where(Edition.status == EditionStatus.SENDING)).all()
    return [edition_id for edition_id in sending if finish_edition_if_complete(session, edition_id, now)]


def _stalled_editions(session: Session, now: dt.datetime | None) -> list[int]:
    now = now or utcnow()
    limit = now - dt.timedelta(seconds=get_settings().SEND_STALL_AFTER_SECONDS)
    recent_claim = exists().where(SendBatch.edition_id == Edition.id, SendBatch.claimed_at >= limit)
    waiting = or_(
        exists().where(Delivery.edition_id == Edition.id, Delivery.status == DeliveryStatus.PENDING),
        exists().where(SendBatch.edition_id == Edition.id, SendBatch.state == BatchState.PENDING),
        exists().where(PlanSlice.edition_id == Edition.id, PlanSlice.planned_at.is_(None)))
    return list(session.scalars(
        select(Edition.id).where(Edition.status == EditionStatus.SENDING, Edition.started_at < limit,
                                 waiting, ~recent_claim)))


def resend_silent_unknown(session: Session, now: dt.datetime | None = None) -> dict[int, Done]:
    """With the event webhook on, SendGrid reports `processed` for every message it accepted
    within minutes. So once an edition's events are arriving, an unknown row with no event of its
    own after SEND_UNKNOWN_RESEND_AFTER_MINUTES never reached SendGrid: it is re-sent, once
    (resent_at), and the audit log says so. Without a webhook nothing is evidence; the rows wait
    for an operator."""
    settings = get_settings()
    if not settings.SENDGRID_WEBHOOK_PUBLIC_KEY:
        return {}
    now = now or utcnow()
    limit = now - dt.timedelta(minutes=settings.SEND_UNKNOWN_RESEND_AFTER_MINUTES)
    own_event = exists().where(DeliveryEvent.delivery_id == Delivery.id)
    edition_heard = (select(DeliveryEvent.id).join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
                     .where(Delivery.edition_id == Edition.id).limit(1).exists())
    silent = (Delivery.status == DeliveryStatus.UNKNOWN, Delivery.resent_at.is_(None),
              Delivery.claimed_at <= limit, ~own_event)
    edition_ids = session.scalars(
        select(Edition.id).where(Edition.status == EditionStatus.SENDING, edition_heard,
                                 exists().where(Delivery.edition_id == Edition.id, *silent))
    ).all()
    done = {}
    for edition_id in edition_ids:
        count = session.execute(
            update(Delivery).where(Delivery.edition_id == edition_id, *silent)
            .values(status=DeliveryStatus.PENDING, claim_token=None, resent_at=now),
            execution_options={"synchronize_session": False},
        ).rowcount
        record_action(session, "resend_unknown", by="reconciliation", source="beat", edition_id=edition_id,
                      deliveries=count, automatic=True)
        log.warning("edition %s: %s unknown deliveries with no provider event re-sent", edition_id, count)
        session.flush()
        done[edition_id] = Done("resend-unknown", count, batches_to_send(session, edition_id))
    return done
