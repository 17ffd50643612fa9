"""Suppressions: addresses never to send to, with reason and time. They come from the delivery
webhook (bounces, spam reports, blocks), from unsubscribes and from operators; only a new,
confirmed opt-in lifts one (see lifecycle.confirm_subscription).

`record_bounce` and `record_delivered` are what the delivery webhook calls for each event.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.store.models import Subscriber, Suppression, SuppressionReason
from digest.store.upsert import insert_ignoring_duplicates, made_once
from digest.addresses import address_hash, normalize_email
from digest.subscribers.audit import audit, audit_row

BounceKind = Literal["hard", "soft", "block"]
_IMMEDIATE = {"hard": SuppressionReason.HARD_BOUNCE, "block": SuppressionReason.BLOCK}


def suppression_for(session: Session, address: str) -> Suppression | None:
    """The suppression of a normalised address, found by its hash (so also once forgotten)."""
    return session.scalar(select(Suppression).where(Suppression.email_hash == address_hash(address)))


def suppress(session: Session, email: str, reason: SuppressionReason, *, source: str,
             detail: str | None = None, ip: str | None = None, now: dt.datetime | None = None) -> Suppression:
    """Put the address on the suppression list; an address already there keeps its first reason
    (the audit log records every later one)."""
    address = normalize_email(email)
    now = now or utcnow()
    _list(session, address, reason, source, detail, now)
    entry = suppression_for(session, address)
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
    audit(session, "suppress", email=address, source=source, subscriber_id=subscriber_id, ip=ip,
          now=now, reason=reason.value, detail=detail, listed_as=entry.reason.value)
    return entry


@made_once
def _listing(session: Session):
    table = Suppression.__table__
    return insert_ignoring_duplicates(session, table).returning(table.c.id)


def _list(session: Session, address: str, reason: SuppressionReason, source: str, detail: str | None,
          now: dt.datetime) -> bool:
    """The address's entry, unless one (also a forgotten one, by its hash) is there; whether this
    made it. ON CONFLICT DO NOTHING: two events for one address may arrive at once, and the
    second insert waits for the first's row and finds it."""
    return session.execute(_listing(session), dict(
        email_hash=address_hash(address), email=address, reason=reason, source=source, detail=detail,
        created_at=now)).first() is not None


def suppress_unlisted(session: Session, address: str, reason: SuppressionReason, *, source: str,
                      subscriber_id: int, ip: str | None = None, now: dt.datetime | None = None) -> dict | None:
    """Put a subscriber's (normalised) address on the list unless it is there already, also as
    forgotten (by its hash), in one statement made once; returns its audit row (as suppress()
    writes it) for the caller to write with its own, or None when the address was listed.
    Two callers at once list it once: the second one's insert waits for the first's and finds it."""
    now = now or utcnow()
    if not _list(session, address, reason, source, None, now):
        return None
    return audit_row("suppress", email=address, source=source, subscriber_id=subscriber_id, ip=ip, now=now,
                     reason=reason.value, detail=None, listed_as=reason.value)


def lift_suppression(session: Session, address: str, *, source: str, ip: str | None = None,
                     subscriber_id: int | None = None, now: dt.datetime | None = None) -> bool:
    """Remove the address's suppression; only a confirmed opt-in may call this."""
    lifted = session.execute(delete(Suppression).where(Suppression.email_hash == address_hash(address))).rowcount
    if lifted:
        audit(session, "unsuppress", email=address, source=source, subscriber_id=subscriber_id,
              ip=ip, now=now, why="confirmed a new sign-up")
    return bool(lifted)


def record_bounce(session: Session, email: str, kind: BounceKind, *, detail: str | None = None,
                  now: dt.datetime | None = None) -> Suppression | None:
    """A bounce reported for an address. Hard bounces and blocks suppress at once; soft bounces
    are counted and suppress after SOFT_BOUNCE_LIMIT in a row. Returns the suppression, if any."""
    if kind in _IMMEDIATE:
        return suppress(session, email, _IMMEDIATE[kind], source="webhook", detail=detail, now=now)
    if kind != "soft":
        raise ValueError(f"bounce kind {kind!r} is not hard, soft or block")
    address = normalize_email(email)
    # Counted in SQL: concurrent events must not lose an increment.
    session.execute(update(Subscriber).where(Subscriber.email == address)
                    .values(soft_bounces=Subscriber.soft_bounces + 1))
    row = session.execute(select(Subscriber.id, Subscriber.soft_bounces).where(Subscriber.email == address)).first()
    if row is None:
        return None
    audit(session, "soft_bounce", email=address, source="webhook", subscriber_id=row.id, now=now,
          count=row.soft_bounces, detail=detail)
    limit = get_settings().SOFT_BOUNCE_LIMIT
    if row.soft_bounces >= limit:
        return suppress(session, address, SuppressionReason.SOFT_BOUNCES, source="webhook",
                        detail=f"{row.soft_bounces} soft bounces in a row", now=now)
    return None


def record_delivered(session: Session, email: str) -> None:
    """A message reached the address: its run of soft bounces is over."""
    record_delivered_to(session, [normalize_email(email)])


def record_delivered_to(session: Session, addresses: list[str]) -> None:
    """Messages reached these (normalized) addresses: one statement for a webhook's worth."""
    if addresses:
        session.execute(update(Subscriber).where(Subscriber.email.in_(addresses), Subscriber.soft_bounces > 0)
                        .values(soft_bounces=0), execution_options={"synchronize_session": False})
