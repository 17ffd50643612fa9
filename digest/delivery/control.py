"""Operators' hold on a send (pause, resume, cancel) and the reconciliation that keeps every
delivery in a state someone can see: stuck claims become `unknown`, lost queue messages are
re-issued, and unknown rows are re-sent or settled only when an operator says so."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.plan import pending_batches
from digest.delivery.send import finish_edition_if_complete
from digest.editions.approve import get_edition
from digest.errors import Conflict, InputError
from digest.store.models import Delivery, DeliveryStatus, Edition, EditionStatus

log = logging.getLogger(__name__)


def pause_edition(session: Session, edition_id: int) -> Edition:
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.SENDING:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; only a sending edition can be paused")
    edition.status = EditionStatus.PAUSED
    edition.note = "paused by an operator"
    edition.updated_at = utcnow()
    return edition


def resume_edition(session: Session, edition_id: int) -> list[list[int]]:
    """Back to sending; returns the batches of still-pending rows to enqueue (after commit).
    Accepted rows are never pending again, so nothing is sent twice."""
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.PAUSED:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; only a paused edition can be resumed")
    edition.status = EditionStatus.SENDING
    edition.note = None
    edition.updated_at = utcnow()
    session.flush()
    batches = pending_batches(session, edition_id)
    if not batches:
        finish_edition_if_complete(session, edition_id, utcnow())
    return batches


def cancel_edition(session: Session, edition_id: int, sender=None) -> tuple[Edition, int]:
    """Stop an edition for good: rows not yet handed over are cancelled, and a send scheduled
    ahead at the provider (send_at with a batch id) is cancelled there. Returns (edition, rows
    cancelled here)."""
    edition = get_edition(session, edition_id)
    scheduled_at_provider = bool(edition.provider_batch_id) and edition.send_at > utcnow()
    stoppable = (EditionStatus.APPROVED, EditionStatus.SENDING, EditionStatus.PAUSED)
    if edition.status not in stoppable and not (edition.status == EditionStatus.SENT and scheduled_at_provider):
        raise Conflict(f"edition {edition_id} is {edition.status.value}; it cannot be cancelled")
    stopped = [DeliveryStatus.PENDING]
    if scheduled_at_provider and hasattr(sender, "cancel_scheduled"):
        # Handed over but held until send_at: the provider drops the whole batch id.
        sender.cancel_scheduled(edition.provider_batch_id)
        stopped.append(DeliveryStatus.ACCEPTED)
    cancelled = session.execute(
        update(Delivery).where(Delivery.edition_id == edition_id, Delivery.status.in_(stopped))
        .values(status=DeliveryStatus.CANCELLED)
    ).rowcount
    edition.status = EditionStatus.CANCELLED
    edition.note = "cancelled by an operator"
    edition.updated_at = utcnow()
    return edition, cancelled


def mark_stuck_unknown(session: Session, now: dt.datetime | None = None) -> int:
    """Rows claimed longer ago than SEND_STUCK_AFTER_SECONDS with no outcome become unknown:
    their worker died between claiming and recording. Webhook events may still settle them."""
    now = now or utcnow()
    limit = now - dt.timedelta(seconds=get_settings().SEND_STUCK_AFTER_SECONDS)
    count = session.execute(
        update(Delivery).where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < limit)
        .values(status=DeliveryStatus.UNKNOWN)
    ).rowcount
    if count:
        log.warning("%s deliveries stuck in sending became unknown", count)
    return count


def stalled_batches(session: Session, now: dt.datetime | None = None) -> dict[int, list[list[int]]]:
    """Editions sending with pending rows but no claim for SEND_STALL_AFTER_SECONDS: their queue
    messages were lost (a Redis restart without persistence). Returns batches to enqueue again;
    a batch that was only slow is harmless to enqueue twice (claims are conditional)."""
    now = now or utcnow()
    limit = now - dt.timedelta(seconds=get_settings().SEND_STALL_AFTER_SECONDS)
    recent_claim = exists().where(Delivery.edition_id == Edition.id, Delivery.claimed_at >= limit)
    has_pending = exists().where(Delivery.edition_id == Edition.id, Delivery.status == DeliveryStatus.PENDING)
    edition_ids = session.scalars(
        select(Edition.id).where(Edition.status == EditionStatus.SENDING, Edition.started_at < limit,
                                 has_pending, ~recent_claim)
    ).all()
    return {edition_id: pending_batches(session, edition_id) for edition_id in edition_ids}


def resend_unknown(session: Session, edition_id: int, older_than_minutes: int | None = None) -> list[list[int]]:
    """Put unknown rows claimed longer ago than the given time back to pending; returns batches.

    Only for rows no webhook event settled: the provider never reported them, so they most
    likely never left. The wait (SEND_UNKNOWN_RESEND_AFTER_MINUTES) is what guards against
    sending twice; it is the operator's call to shorten it."""
    edition = get_edition(session, edition_id)
    minutes = get_settings().SEND_UNKNOWN_RESEND_AFTER_MINUTES if older_than_minutes is None else older_than_minutes
    if minutes < 0:
        raise InputError(f"--older-than {minutes} must not be negative")
    limit = utcnow() - dt.timedelta(minutes=minutes)
    count = session.execute(
        update(Delivery).where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.UNKNOWN,
                               Delivery.claimed_at <= limit)
        .values(status=DeliveryStatus.PENDING, claim_token=None)
    ).rowcount
    if count and edition.status == EditionStatus.SENT:
        edition.status = EditionStatus.SENDING
    session.flush()
    return pending_batches(session, edition_id) if edition.status == EditionStatus.SENDING else []


def settle_unknown(session: Session, edition_id: int, outcome: str) -> int:
    """An operator's verdict on unknown rows: 'accepted' (they went out) or 'failed'."""
    status = {"accepted": DeliveryStatus.ACCEPTED, "failed": DeliveryStatus.FAILED}.get(outcome)
    if status is None:
        raise InputError(f"outcome {outcome!r} must be accepted or failed")
    get_edition(session, edition_id)
    count = session.execute(
        update(Delivery).where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.UNKNOWN)
        .values(status=status, error="settled by an operator" if status == DeliveryStatus.FAILED else None)
    ).rowcount
    finish_edition_if_complete(session, edition_id, utcnow())
    return count
