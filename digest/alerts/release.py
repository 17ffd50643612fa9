"""The end of an alert's hold: the articles the daily cap held readers back from on an earlier
day are carried into it (alerts/compose.py:carry_into), it is checked (the checklist's fast
checks), pinned as an approval is, and made due, so that the beat tick starts it through the
editions' one start path (digest.delivery.plan.open_edition, then its slices, batches, claims
and ledger). A blocking problem holds it for an editor instead of sending it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.alerts.compose import carry_into
from digest.checklist.build import edition_checklist
from digest.editions.approve import pin_approval
from digest.store.models import AuditEntry, Edition, EditionKind, EditionStatus

# Who approved an alert released by the beat tick (an editor's approval names the editor).
RELEASED_BY = "alert hold"


def release_held_alerts(session: Session, now: dt.datetime) -> list[int]:
    """Approve the alerts whose hold has ended; returns their ids (now due: the tick starts them).

    The checklist's fast checks run here (content, size, subject, compliance of the message as
    sent); the links and the spam score take tens of seconds, which a beat tick must not wait:
    they ran during the hold (the poll queues them), and their findings, if in for this content,
    are part of the approval's warnings (they never block)."""
    held = session.scalars(
        select(Edition).where(Edition.kind == EditionKind.ALERT, Edition.status == EditionStatus.DRAFT,
                              Edition.hold_until <= now)
        .order_by(Edition.id).with_for_update(skip_locked=True)).all()
    released = []
    for alert in held:
        carry_into(session, alert, now)  # checked and approved with the alert's own articles
        checklist = edition_checklist(alert, wait=False)
        if checklist.blocking:
            # Out of the beat's way until an editor approves it (or cancels it).
            alert.hold_until = None
            alert.note = "held for an editor: " + "; ".join(check.describe() for check in checklist.blocking)
            alert.updated_at = now
            continue
        pin_approval(session, alert, RELEASED_BY, now)
        alert.send_at = now
        alert.updated_at = now
        session.add(AuditEntry(at=now, action="edition:approve", source="alerts", details={
            "by": RELEASED_BY, "edition_id": alert.id, "content_hash": alert.approved_hash,
            "warnings": [check.describe() for check in checklist.warnings]}))
        released.append(alert.id)
    return released
