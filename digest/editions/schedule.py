"""The beat tick: draft the period that is due, and find approved editions whose time has come.

Safe to run every minute, twice at once, or after days of silence: the unique period row and
the conditional start of an edition make repeats harmless."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.editions.cadence import Cadence
from digest.editions.approve import void_approval
from digest.editions.compose import compose_due_edition
from digest.editions.lookup import get_edition
from digest.errors import Conflict, InputError
from digest.store.models import Edition, EditionStatus


def due_edition_ids(session: Session, now: dt.datetime, ahead: dt.timedelta = dt.timedelta(0)) -> list[int]:
    """Approved editions whose send time has come, or comes within `ahead` (a backend with
    scheduled sends holds the messages until send_at: digest.delivery.plan.send_ahead)."""
    query = select(Edition.id).where(Edition.status == EditionStatus.APPROVED, Edition.send_at <= now + ahead)
    return list(session.scalars(query.order_by(Edition.send_at)))


def tick(session: Session, now: dt.datetime, ahead: dt.timedelta = dt.timedelta(0)) -> list[int]:
    """Compose the due draft if missing; return the ids of editions to start sending."""
    compose_due_edition(session, now)
    return due_edition_ids(session, now, ahead)


# Editors choose when an approved edition goes out. An approved edition IS scheduled: the tick
# starts it at its send_at. So scheduling sets send_at (the period's time or another time), and
# unscheduling takes the approval back: the edition returns to draft and nothing goes out until a
# publisher approves it again.
SCHEDULABLE = (EditionStatus.DRAFT, EditionStatus.APPROVED)


def period_send_at(edition: Edition) -> dt.datetime:
    """The send time of the edition's period: EDITION_SEND_TIME on its date, local time."""
    return Cadence.from_settings(get_settings()).send_at(edition.period)


def parse_local_time(value: str) -> dt.datetime:
    """'2026-12-09T09:00' (an HTML datetime-local) in PUBLICATION_TZ, as UTC."""
    try:
        local = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"send time {value!r} is not a date and time like 2026-12-09T09:00") from None
    if local.tzinfo is not None:
        raise InputError(f"send time {value!r} must be a local time in {get_settings().PUBLICATION_TZ}, without offset")
    return local.replace(tzinfo=get_settings().tz).astimezone(dt.UTC)


def schedule_edition(session: Session, edition_id: int, send_at: dt.datetime,
                     now: dt.datetime | None = None) -> Edition:
    """Set when the edition goes out (once approved); the time must be ahead."""
    now = now or utcnow()
    edition = get_edition(session, edition_id)
    if edition.status not in SCHEDULABLE:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; its send time can no longer change")
    if send_at <= now:
        local = send_at.astimezone(get_settings().tz)
        raise InputError(f"send time {local:%Y-%m-%d %H:%M} {get_settings().PUBLICATION_TZ} has passed; "
                         "choose a time ahead")
    edition.send_at = send_at
    edition.updated_at = now
    return edition


def unschedule_edition(session: Session, edition_id: int, by: str) -> Edition:
    """Take an approved edition off the schedule: back to draft, to be approved again."""
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.APPROVED:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; only an approved edition is scheduled")
    void_approval(edition, f"unscheduled by {by}; approve it again to send")
    edition.updated_at = utcnow()
    return edition
