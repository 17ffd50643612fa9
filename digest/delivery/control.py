"""The one command layer over a send: pause, resume, cancel, retry or discard failed rows,
re-send or settle unknown ones. The edition page, the ops page, the CLI, the JSON API and beat
all call these functions; each takes who did it and from where, writes the audit row in the
same transaction as the change, and returns what the caller enqueues after commit. Beat's
reconciliation is in delivery/reconcile.py."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import redis
from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.message import Sender
from digest.delivery.plan import batches_to_send
from digest.delivery.ratelimit import get_rate_limiter
from digest.delivery.send import finish_edition_if_complete
from digest.ledger.states import reader_counts
from digest.ledger.writer import record_sent_batches
from digest.editions.lookup import get_edition
from digest.errors import Conflict, InputError
from digest.store.models import (AuditEntry, BatchState, Delivery, DeliveryStatus, Edition, EditionKind, EditionStatus,
                                 SendBatch)

log = logging.getLogger(__name__)

# The actions an operator names (ops page, API); each maps to a function below.
ACTIONS = ("pause", "resume", "cancel", "retry-failed", "discard-failed", "resend-unknown")


@dataclass(frozen=True)
class Done:
    """What a command changed: rows touched, and batches to enqueue once the transaction commits."""
    action: str
    deliveries: int = 0
    batches: list[int] = field(default_factory=list)  # send batch ids


def record_action(session: Session, action: str, *, by: str, source: str, **details) -> None:
    session.add(AuditEntry(at=utcnow(), action=f"ops:{action}", source=source, details={"by": by, **details}))


def run_action(session: Session, edition_id: int, action: str, *, by: str, source: str,
               sender: Sender | None = None, **options) -> Done:
    """An action named by a surface (ops page form, API path); `options` go to its command
    (resend-unknown's older_than_minutes)."""
    commands = {"pause": pause_send, "resume": resume_send, "retry-failed": retry_failed,
                "discard-failed": discard_failed, "resend-unknown": resend_unknown}
    if action == "cancel":
        return cancel_send(session, edition_id, sender, by=by, source=source)
    if action not in commands:
        raise InputError(f"action {action!r} must be one of: {', '.join(ACTIONS)}")
    return commands[action](session, edition_id, by=by, source=source, **options)


def _forget_slots(edition_id: int) -> None:
    """A stopped edition's waiting batches give their rate-limit slots back (best effort: Redis
    down must not stop an operator from pausing; the slots then simply expire)."""
    try:
        get_rate_limiter().forget_reservations(edition_id)
    except (redis.RedisError, OSError) as exc:
        log.warning("edition %s: rate-limit slots not released: %s", edition_id, exc)


def pause_send(session: Session, edition_id: int, *, by: str, source: str) -> Done:
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.SENDING:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; only a sending edition can be paused")
    edition.status = EditionStatus.PAUSED
    edition.note = f"paused by {by}"
    edition.updated_at = utcnow()
    record_action(session, "pause", by=by, source=source, edition_id=edition_id)
    _forget_slots(edition_id)
    return Done("pause")


def resume_send(session: Session, edition_id: int, *, by: str, source: str) -> Done:
    """Back to sending, with the still-pending rows as batches. Accepted rows are never pending
    again, so nothing is sent twice."""
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.PAUSED:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; only a paused edition can be resumed")
    edition.status = EditionStatus.SENDING
    edition.note = None
    edition.updated_at = utcnow()
    session.flush()
    batches = batches_to_send(session, edition_id)
    if not batches:
        finish_edition_if_complete(session, edition_id, utcnow())
    count = reader_counts(session, edition_id).get(DeliveryStatus.PENDING.value, 0)
    record_action(session, "resume", by=by, source=source, edition_id=edition_id, deliveries=count)
    return Done("resume", count, batches)


def cancel_send(session: Session, edition_id: int, sender: Sender | None = None, *, by: str, source: str) -> Done:
    """Stop an edition for good: rows not yet handed over are cancelled, and a send scheduled
    ahead at the provider (send_at with a batch id) is cancelled there."""
    edition = get_edition(session, edition_id)
    scheduled_at_provider = bool(edition.provider_batch_id) and edition.send_at > utcnow()
    stoppable = (EditionStatus.APPROVED, EditionStatus.SENDING, EditionStatus.PAUSED)
    if edition.kind == EditionKind.ALERT:  # a held alert is a draft: cancelling it means it never goes out
        stoppable += (EditionStatus.DRAFT,)
    if edition.status not in stoppable and not (edition.status == EditionStatus.SENT and scheduled_at_provider):
        raise Conflict(f"edition {edition_id} is {edition.status.value}; it cannot be cancelled")
    stopped = [DeliveryStatus.PENDING]
    if scheduled_at_provider and sender is not None and sender.cancellable_batches:
        # Handed over but held until send_at: the provider drops the whole batch id. Readers whose
        # batch row alone recorded them get their rows first, to be cancelled with the others.
        sender.cancel_scheduled(edition.provider_batch_id)
        record_sent_batches(session, utcnow() + dt.timedelta(days=1), limit=None, edition_id=edition_id)
        stopped.append(DeliveryStatus.ACCEPTED)
    edition.status = EditionStatus.CANCELLED
    edition.note = f"cancelled by {by}"
    edition.updated_at = utcnow()
    # The edition row first: a slice being planned holds it shared, so this waits for the slice
    # to commit and the statements below see its rows; later slices see the edition cancelled.
    session.flush()
    in_flight = select(SendBatch.id).where(SendBatch.edition_id == edition_id, SendBatch.state == BatchState.SENDING)
    # Readers of a batch in flight are being handed over right now: the worker records them.
    cancelled = session.execute(
        update(Delivery).where(Delivery.edition_id == edition_id, Delivery.status.in_(stopped),
                               or_(Delivery.batch_id.is_(None), Delivery.batch_id.not_in(in_flight)))
        .values(status=DeliveryStatus.CANCELLED), execution_options={"synchronize_session": False}
    ).rowcount
    # Members of a planned batch have no row until something happens to them: their batch says
    # they were cancelled (reader_counts counts them so).
    waiting_members = reader_counts(session, edition_id).get(DeliveryStatus.PENDING.value, 0)
    session.execute(update(SendBatch).where(SendBatch.edition_id == edition_id, SendBatch.state == BatchState.PENDING)
                    .values(state=BatchState.CANCELLED))
    cancelled += waiting_members
    record_action(session, "cancel", by=by, source=source, edition_id=edition_id, deliveries=cancelled)
    _forget_slots(edition_id)
    return Done("cancel", cancelled)


def _failed_rows(session: Session, edition_id: int):
    edition = get_edition(session, edition_id)
    if edition.status == EditionStatus.CANCELLED:
        raise Conflict(f"edition {edition_id} is cancelled; its failed deliveries stay as they are")
    return edition, update(Delivery).where(Delivery.edition_id == edition_id,
                                           Delivery.status == DeliveryStatus.FAILED)


def _sending_again(edition: Edition) -> None:
    if edition.status == EditionStatus.SENT:
        edition.status, edition.sent_at, edition.updated_at = EditionStatus.SENDING, None, utcnow()


def retry_failed(session: Session, edition_id: int, *, by: str, source: str) -> Done:
    """Failed rows were never accepted by the provider, so sending them again sends nothing twice.
    No batches while the edition is paused: resuming sends them."""
    edition, failed = _failed_rows(session, edition_id)
    count = session.execute(failed.values(status=DeliveryStatus.PENDING, claim_token=None,
                                          claimed_at=None)).rowcount
    if not count:
        raise Conflict(f"edition {edition_id} has no failed deliveries to retry")
    _sending_again(edition)
    record_action(session, "retry_failed", by=by, source=source, edition_id=edition_id, deliveries=count)
    session.flush()
    return Done("retry-failed", count,
                batches_to_send(session, edition_id) if edition.status == EditionStatus.SENDING else [])


def discard_failed(session: Session, edition_id: int, *, by: str, source: str) -> Done:
    """Give failed rows up for good: they become cancelled, their error kept behind a note."""
    _, failed = _failed_rows(session, edition_id)
    count = session.execute(failed.values(
        status=DeliveryStatus.CANCELLED,
        error=literal("discarded by an operator: ") + func.coalesce(Delivery.error, ""))).rowcount
    if not count:
        raise Conflict(f"edition {edition_id} has no failed deliveries to discard")
    finish_edition_if_complete(session, edition_id, utcnow())
    record_action(session, "discard_failed", by=by, source=source, edition_id=edition_id, deliveries=count)
    return Done("discard-failed", count)


def resend_unknown(session: Session, edition_id: int, *, by: str, source: str,
                   older_than_minutes: int | None = None) -> Done:
    """Put unknown rows claimed longer ago than the given time back to pending.

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
    if count:
        _sending_again(edition)
    record_action(session, "resend_unknown", by=by, source=source, edition_id=edition_id, deliveries=count)
    session.flush()
    return Done("resend-unknown", count,
                batches_to_send(session, edition_id) if edition.status == EditionStatus.SENDING else [])


def settle_unknown(session: Session, edition_id: int, outcome: str, *, by: str, source: str) -> Done:
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
    record_action(session, f"settle_unknown_{outcome}", by=by, source=source, edition_id=edition_id,
                  deliveries=count)
    return Done(f"settle-unknown-{outcome}", count)
