"""The audit log: every change to a subscriber or a suppression leaves one row, written in the
same transaction as the change, naming the address only by its hash."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.store.models import AuditEntry
from digest.addresses import address_hash

# The actions written; `show` and the tests rely on these names.
ACTIONS = ("add", "signup", "confirmation_sent", "confirm", "unsubscribe", "preferences",
           "suppress", "unsuppress", "soft_bounce", "forget", "import",
           # A publisher paused an inactive reader (the sunset view); the reader can lift it.
           "sunset_pause",
           # A reader's follows and pace, their pause with or without an end, and "digest only".
           "follow", "unfollow", "pause", "resume", "digest_only")


_WRITE = insert(AuditEntry.__table__)


def audit(session: Session, action: str, *, email: str | None, source: str,
          subscriber_id: int | None = None, ip: str | None = None,
          now: dt.datetime | None = None, **details) -> None:
    session.add(AuditEntry(**audit_row(action, email=email, source=source, subscriber_id=subscriber_id, ip=ip,
                                       now=now, **details)))


def audit_row(action: str, *, email: str | None, source: str, subscriber_id: int | None = None,
              ip: str | None = None, now: dt.datetime | None = None, **details) -> dict:
    """The values of one audit row, for write_audit_rows."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return dict(at=now or utcnow(), action=action, subscriber_id=subscriber_id,
                email_hash=address_hash(email) if email else None, source=source, ip=ip, details=details)


def write_audit_rows(session: Session, rows: list[dict]) -> None:
    """audit_row()s written now, in one statement and in their order, without the ORM's unit of
    work: for a hot path (a one-click unsubscribe) whose change is itself a statement, not an
    object to flush."""
    if rows:
        session.execute(_WRITE, rows)


def audit_trail(session: Session, email: str) -> list[AuditEntry]:
    return list(session.scalars(
        select(AuditEntry).where(AuditEntry.email_hash == address_hash(email)).order_by(AuditEntry.id)
    ))
