"""The alerts, newest first, as the CLI (and later the dashboard) lists them: held ones with the
time their hold ends, the others with where their send stands."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.ledger.states import counts_by_edition
from digest.store.models import Edition, EditionKind


def list_alerts(session: Session, limit: int = 50) -> list[dict]:
    alerts = session.scalars(select(Edition).where(Edition.kind == EditionKind.ALERT)
                             .order_by(Edition.id.desc()).limit(limit)).all()
    readers = counts_by_edition(session, [alert.id for alert in alerts])
    return [{"id": alert.id, "status": alert.status.value, "hold_until": alert.hold_until,
             "articles": len(alert.items), "subject": alert.subject, "started_at": alert.started_at,
             "readers": sum(readers[alert.id].values()), "note": alert.note}
            for alert in alerts]
