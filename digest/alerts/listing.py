"""The alerts, newest first, as the CLI lists them: held ones with the time their hold ends, the
others with where their send stands; and the held ones as the dashboard lists them."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.ledger.states import counts_by_edition
from digest.store.models import Edition, EditionKind, EditionStatus


def list_alerts(session: Session, limit: int = 50) -> list[dict]:
    alerts = session.scalars(select(Edition).where(Edition.kind == EditionKind.ALERT)
                             .order_by(Edition.id.desc()).limit(limit)).all()
    readers = counts_by_edition(session, [alert.id for alert in alerts])
    return [{"id": alert.id, "status": alert.status.value, "hold_until": alert.hold_until,
             "articles": len(alert.items), "subject": alert.subject, "started_at": alert.started_at,
             "readers": sum(readers[alert.id].values()), "note": alert.note}
            for alert in alerts]


@dataclass(frozen=True)
class HeldAlert:
    alert: Edition
    # Whole minutes until the hold ends (at least 0); None: held for an editor, with no end.
    minutes_left: int | None


def held_alerts(session: Session, now: dt.datetime) -> list[HeldAlert]:
    """The alerts not yet sent out (drafts), the next to go first; held for an editor last."""
    alerts = session.scalars(select(Edition).where(Edition.kind == EditionKind.ALERT,
                                                   Edition.status == EditionStatus.DRAFT)
                             .order_by(Edition.hold_until.is_(None), Edition.hold_until, Edition.id)).all()
    return [HeldAlert(alert, minutes_left(alert, now)) for alert in alerts]


def minutes_left(alert: Edition, now: dt.datetime) -> int | None:
    """Whole minutes until the alert's hold ends (0 once due); None when it has no end (held for
    an editor)."""
    if alert.hold_until is None:
        return None
    return max(0, math.ceil((alert.hold_until - now).total_seconds() / 60))
