"""Operators' actions on a running service: pause, resume and cancel an edition's send, retry or
discard its failed deliveries, purge a queue. Each leaves an audit row (action `ops:<name>`, who
did it in details) in the same transaction as the change; the callers enqueue what is returned."""

from __future__ import annotations

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.delivery import control
from digest.delivery.plan import pending_batches
from digest.delivery.send import finish_edition_if_complete
from digest.editions.approve import get_edition
from digest.errors import Conflict
from digest.ops.queues import purge_queue
from digest.store.models import AuditEntry, Delivery, DeliveryStatus, EditionStatus


def audit_action(session: Session, action: str, *, by: str, source: str, **details) -> None:
    session.add(AuditEntry(at=utcnow(), action=f"ops:{action}", source=source, details={"by": by, **details}))


def recent_actions(session: Session, limit: int = 20) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("ops:"))
                                .order_by(AuditEntry.id.desc()).limit(limit)))


def pause_send(session: Session, edition_id: int, *, by: str, source: str) -> None:
    control.pause_edition(session, edition_id)
    audit_action(session, "pause", by=by, source=source, edition_id=edition_id)


def resume_send(session: Session, edition_id: int, *, by: str, source: str) -> list[list[int]]:
    batches = control.resume_edition(session, edition_id)
    audit_action(session, "resume", by=by, source=source, edition_id=edition_id,
                 deliveries=sum(map(len, batches)))
    return batches


def cancel_send(session: Session, edition_id: int, sender, *, by: str, source: str) -> int:
    _, cancelled = control.cancel_edition(session, edition_id, sender)
    audit_action(session, "cancel", by=by, source=source, edition_id=edition_id, deliveries=cancelled)
    return cancelled


def _failed_rows(session: Session, edition_id: int):
    edition = get_edition(session, edition_id)
    if edition.status == EditionStatus.CANCELLED:
        raise Conflict(f"edition {edition_id} is cancelled; its failed deliveries stay as they are")
    return edition, update(Delivery).where(Delivery.edition_id == edition_id,
                                           Delivery.status == DeliveryStatus.FAILED)


def retry_failed(session: Session, edition_id: int, *, by: str, source: str) -> list[list[int]]:
    """Failed rows were never accepted by the provider, so sending them again sends nothing twice.
    Returns the batches to enqueue (none while the edition is paused: resuming sends them)."""
    edition, failed = _failed_rows(session, edition_id)
    count = session.execute(failed.values(status=DeliveryStatus.PENDING, claim_token=None,
                                          claimed_at=None)).rowcount
    if not count:
        raise Conflict(f"edition {edition_id} has no failed deliveries to retry")
    if edition.status == EditionStatus.SENT:
        edition.status, edition.sent_at, edition.updated_at = EditionStatus.SENDING, None, utcnow()
    audit_action(session, "retry_failed", by=by, source=source, edition_id=edition_id, deliveries=count)
    session.flush()
    return pending_batches(session, edition_id) if edition.status == EditionStatus.SENDING else []


def discard_failed(session: Session, edition_id: int, *, by: str, source: str) -> int:
    """Give failed rows up for good: they become cancelled, their error kept behind a note."""
    _, failed = _failed_rows(session, edition_id)
    count = session.execute(failed.values(
        status=DeliveryStatus.CANCELLED,
        error=literal("discarded by an operator: ") + func.coalesce(Delivery.error, ""))).rowcount
    if not count:
        raise Conflict(f"edition {edition_id} has no failed deliveries to discard")
    finish_edition_if_complete(session, edition_id, utcnow())
    audit_action(session, "discard_failed", by=by, source=source, edition_id=edition_id, deliveries=count)
    return count


def purge(session: Session, client, queue: str, *, by: str, source: str) -> int:
    """Drop a queue's waiting messages. Send batches dropped here are re-issued by reconciliation
    (their rows stay pending); other tasks come back on beat's next tick."""
    count = purge_queue(client, queue)
    audit_action(session, "purge", by=by, source=source, queue=queue, messages=count)
    return count
