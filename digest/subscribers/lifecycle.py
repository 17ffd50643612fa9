"""Subscribers: add, list and unsubscribe; only confirmed subscribers receive editions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.errors import Conflict, InputError
from digest.store.models import Subscriber, SubscriberStatus
from digest.subscribers.addresses import normalize_email


def add_subscriber(session: Session, email: str, *, name: str | None = None,
                   confirmed: bool = False, source: str = "cli") -> Subscriber:
    address = normalize_email(email)
    if name is not None and len(name) > 200:
        raise InputError(f"name for {address} is longer than 200 characters")
    if session.scalar(select(Subscriber.id).where(Subscriber.email == address)) is not None:
        raise Conflict(f"subscriber {address} already exists")
    now = utcnow()
    subscriber = Subscriber(
        email=address,
        name=(name or "").strip() or None,
        status=SubscriberStatus.CONFIRMED if confirmed else SubscriberStatus.PENDING,
        confirmed_at=now if confirmed else None,
        source=source,
        sections=[],
        created_at=now,
    )
    session.add(subscriber)
    session.flush()
    return subscriber


def list_subscribers(session: Session, limit: int | None = None) -> list[Subscriber]:
    return list(session.scalars(select(Subscriber).order_by(Subscriber.id).limit(limit)))


def unsubscribe(session: Session, subscriber_id: int, now: dt.datetime | None = None) -> Subscriber | None:
    """Idempotent: unsubscribing twice leaves the first time recorded."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return None
    if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        subscriber.unsubscribed_at = now or utcnow()
    return subscriber
