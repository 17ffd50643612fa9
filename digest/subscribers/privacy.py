"""What the service holds about one person, and erasing it on request.

Forgetting keeps exactly one thing: a suppression keyed by the address's HMAC, so that an
import cannot bring the address back. A new sign-up that the person confirms still can.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.ledger.states import reader_deliveries
from digest.ledger.writer import record_reader
from digest.store.models import (
    AlertCarry,
    AuditEntry,
    Delivery,
    DeliveryEvent,
    Suppression,
    SuppressionReason,
)
from digest.addresses import address_hash, normalize_email
from digest.subscribers.audit import audit, audit_trail
from digest.subscribers.follows import reader_follows
from digest.subscribers.lifecycle import find_subscriber
from digest.subscribers.ratelimit import forget_address
from digest.subscribers.suppressions import suppression_for


def _columns(row) -> dict:
    return {column.key: getattr(row, column.key) for column in row.__mapper__.column_attrs}


def describe_subscriber(session: Session, email: str) -> dict:
    """Everything held about the address: subscriber row, suppression, follows, articles owed by
    the alerts' daily cap, deliveries,
    delivery events and audit log. JSON-ready apart from datetimes and enums (str() them)."""
    address = normalize_email(email)
    subscriber = find_subscriber(session, address)
    suppression = suppression_for(session, address)
    deliveries, follows, carried = [], [], []
    if subscriber is not None:
        deliveries = reader_deliveries(session, subscriber.id)
        follows = [{"topic_id": f.topic_id, "kind": f.kind.value, "name": f.name, "pace": f.pace.value}
                   for f in reader_follows(session, subscriber.id)]
        carried = [_columns(carry) for carry in session.scalars(
            select(AlertCarry).where(AlertCarry.subscriber_id == subscriber.id).order_by(AlertCarry.article_id))]
    events = session.scalars(select(DeliveryEvent).where(DeliveryEvent.email == address)
                             .order_by(DeliveryEvent.id)).all()
    return {
        "email": address,
        "email_hash": address_hash(address),
        "subscriber": _columns(subscriber) if subscriber else None,
        "suppression": _columns(suppression) if suppression else None,
        "follows": follows,
        "alert_carries": carried,  # articles the daily cap held back, owed in their next alert
        "deliveries": deliveries,
        "delivery_events": [_columns(e) for e in events],
        "audit_log": [_columns(entry) for entry in audit_trail(session, address)],
    }


def forget_subscriber(session: Session, email: str, *, source: str = "cli",
                      now: dt.datetime | None = None) -> dict[str, int]:
    """Erase the person's data; returns what was removed. Idempotent."""
    address = normalize_email(email)
    hashed = address_hash(address)
    now = now or utcnow()
    subscriber = find_subscriber(session, address)
    removed = {"subscriber": 0, "deliveries": 0, "delivery_events": 0, "audit_entries_scrubbed": 0}
    if subscriber is not None:
        record_reader(session, subscriber.id)  # to be erased with the others
        delivery_ids = select(Delivery.id).where(Delivery.subscriber_id == subscriber.id)
        removed["delivery_events"] += session.execute(
            delete(DeliveryEvent).where(DeliveryEvent.delivery_id.in_(delivery_ids))).rowcount
        removed["deliveries"] = session.execute(
            delete(Delivery).where(Delivery.subscriber_id == subscriber.id)).rowcount
        session.execute(delete(AlertCarry).where(AlertCarry.subscriber_id == subscriber.id))  # no foreign key
        session.delete(subscriber)
        removed["subscriber"] = 1
    removed["delivery_events"] += session.execute(
        delete(DeliveryEvent).where(DeliveryEvent.email == address)).rowcount
    # The log keeps that things happened, under the hash; not from where or with what details.
    removed["audit_entries_scrubbed"] = session.execute(
        update(AuditEntry).where(AuditEntry.email_hash == hashed)
        .values(ip=None, details={}, subscriber_id=None)).rowcount
    suppression = suppression_for(session, address)
    if suppression is None:
        session.add(Suppression(email_hash=hashed, email=None, reason=SuppressionReason.FORGOTTEN,
                                source=source, created_at=now))
    else:
        suppression.email, suppression.detail = None, None
    session.flush()
    audit(session, "forget", email=address, source=source, now=now)
    forget_address(address)
    return removed
