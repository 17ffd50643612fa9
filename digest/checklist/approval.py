"""Approving an edition through its checklist: the one way every surface (edition page, CLI,
demo) approves. Blocking problems refuse it; warnings must have been seen and confirmed (the
person passes the checklist's fingerprint they read); the audit row names who approved, from
where, and the warnings they confirmed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from digest.checklist.build import edition_checklist
from digest.checklist.model import Checklist
from digest.clock import utcnow
from digest.editions.approve import approve_edition
from digest.editions.lookup import get_edition
from digest.errors import Conflict
from digest.store.models import AuditEntry, Edition, EditionStatus


class ApprovalBlocked(Conflict):
    """The checklist has blocking problems: the edition cannot be approved as it is."""


class ChecksPending(Conflict):
    """Links or the spam score are still being checked: what they find is not known yet."""


class WarningsUnconfirmed(Conflict):
    """The checklist has warnings the person has not confirmed (or that changed since they read them)."""


def approve_checked(session: Session, edition_id: int, by: str, *, source: str, confirmed: str | None = None,
                    now: dt.datetime | None = None, wait: bool = True) -> tuple[Edition, Checklist]:
    """Approve the draft if its checklist allows it. `confirmed` is the fingerprint of the
    checklist whose warnings the person read and accepted (Checklist.fingerprint). `wait`: run
    the slow checks not yet kept (the CLI) rather than refuse while a worker runs them (the page)."""
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.DRAFT:  # before the slow checks: they would change nothing
        raise Conflict(f"edition {edition_id} is {edition.status.value}; only a draft can be approved")
    checklist = edition_checklist(edition, wait=wait)
    if checklist.pending:
        titles = " and ".join(check.title.lower() for check in checklist.pending)
        raise ChecksPending(f"edition {edition_id} cannot be approved yet: its {titles} are still being checked; "
                            "approve once the checklist shows them")
    if checklist.blocking:
        problems = "; ".join(check.describe() for check in checklist.blocking)
        raise ApprovalBlocked(f"edition {edition_id} cannot be approved: {problems}")
    if checklist.warnings and confirmed != checklist.fingerprint:
        titles = ", ".join(check.title for check in checklist.warnings)
        them = "them" if len(checklist.warnings) != 1 else "it"
        how = (f"the warnings changed since they were shown; read {them} again and confirm" if confirmed
               else f"confirm that you have read {them} to approve anyway")
        raise WarningsUnconfirmed(f"edition {edition_id} has {len(checklist.warnings)} "
                                  f"warning{'s' if len(checklist.warnings) != 1 else ''} ({titles}): {how}")
    approve_edition(session, edition_id, by, now)
    session.add(AuditEntry(at=now or utcnow(), action="edition:approve", source=source, details={
        "by": edition.approved_by, "edition_id": edition_id, "content_hash": checklist.content_hash,
        "warnings_confirmed": [check.describe() for check in checklist.warnings]}))
    return edition, checklist
