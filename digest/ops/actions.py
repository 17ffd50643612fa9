"""Operators' actions on the service itself (purging a queue) and the list of recent actions
for the ops page. Actions on an edition's send live in digest.delivery.control, the one command
layer every surface calls; both write the same kind of audit row (`ops:<name>`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.delivery.control import record_action
from digest.ops.queues import purge_queue
from digest.store.models import AuditEntry


def recent_actions(session: Session, limit: int = 20) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("ops:"))
                                .order_by(AuditEntry.id.desc()).limit(limit)))


def purge(session: Session, client, queue: str, *, by: str, source: str) -> int:
    """Drop a queue's waiting messages. Send batches dropped here are re-issued by reconciliation
    (their rows stay pending); other tasks come back on beat's next tick."""
    count = purge_queue(client, queue)
    record_action(session, "purge", by=by, source=source, queue=queue, messages=count)
    return count
