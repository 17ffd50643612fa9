"""The beat tick: draft the period that is due, and find approved editions whose time has come.

Safe to run every minute, twice at once, or after days of silence: the unique period row and
the conditional start of an edition make repeats harmless."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.editions.compose import compose_due_edition
from digest.store.models import Edition, EditionStatus


def due_edition_ids(session: Session, now: dt.datetime) -> list[int]:
    """Approved editions whose send time has come; with SendGrid, up to
    SEND_SCHEDULE_AHEAD_MINUTES early (the provider holds the messages until send_at)."""
    settings = get_settings()
    ahead = settings.SEND_SCHEDULE_AHEAD_MINUTES if settings.DELIVERY_BACKEND == "sendgrid" else 0
    query = select(Edition.id).where(Edition.status == EditionStatus.APPROVED,
                                     Edition.send_at <= now + dt.timedelta(minutes=ahead))
    return list(session.scalars(query.order_by(Edition.send_at)))


def tick(session: Session, now: dt.datetime) -> list[int]:
    """Compose the due draft if missing; return the ids of editions to start sending."""
    compose_due_edition(session, now)
    return due_edition_ids(session, now)
