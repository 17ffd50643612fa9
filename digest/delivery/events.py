"""SendGrid's signed Event Webhook: verify a request, keep it, and apply its events.

Each event names its delivery through the custom_args we sent (edition_id, delivery_id), which
SendGrid returns as top-level keys. Events are de-duplicated by sg_event_id, so a replayed or
retried request changes nothing twice. A delivery only moves forward (delivered is not undone by
a late `processed`); an open or click proves delivery even if `delivered` was never seen.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging

from cryptography.exceptions import InvalidSignature
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.delivery.send import finish_edition_if_complete
from digest.errors import NotFound
from digest.store.models import Delivery, DeliveryEvent, DeliveryStatus, WebhookBatch
from digest.store.upsert import insert_ignoring_duplicates
from digest.subscribers.feedback import record_provider_feedback

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

_RANK = {
    DeliveryStatus.PENDING: 0, DeliveryStatus.SENDING: 1, DeliveryStatus.UNKNOWN: 1,
    DeliveryStatus.FAILED: 1, DeliveryStatus.CANCELLED: 1, DeliveryStatus.ACCEPTED: 2,
    DeliveryStatus.DEFERRED: 3, DeliveryStatus.DELIVERED: 4, DeliveryStatus.BOUNCED: 5,
    DeliveryStatus.DROPPED: 5,
}
_STATUS_OF_EVENT = {
    "processed": DeliveryStatus.ACCEPTED,
    "deferred": DeliveryStatus.DEFERRED,
    "delivered": DeliveryStatus.DELIVERED,
    "open": DeliveryStatus.DELIVERED,
    "click": DeliveryStatus.DELIVERED,
    "bounce": DeliveryStatus.BOUNCED,
    "dropped": DeliveryStatus.DROPPED,
}


class WebhookRejected(Exception):
    """The request is not provably SendGrid's, or too old; nothing is kept."""


def verify_sendgrid_request(body: bytes, signature: str | None, timestamp: str | None,
                            public_key: str, max_age_seconds: int, now: dt.datetime | None = None) -> None:
    if not signature or not timestamp:
        raise WebhookRejected("missing signature or timestamp header")
    try:
        sent_at = int(timestamp)
        payload = body.decode("utf-8")
        base64.b64decode(signature, validate=True)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise WebhookRejected("malformed signature, timestamp or body") from None
    age = (now or utcnow()).timestamp() - sent_at
    if age > max_age_seconds or age < -max_age_seconds:
        raise WebhookRejected(f"timestamp is {age:.0f}s away from now (limit {max_age_seconds}s)")
    verifier = EventWebhook(public_key)
    try:
        valid = verifier.verify_signature(payload, signature, timestamp)
    except (InvalidSignature, ValueError):
        valid = False
    if not valid:
        raise WebhookRejected("signature does not match")


def store_webhook_batch(session: Session, body: bytes) -> WebhookBatch:
    """Keep a verified request for a worker; the body must be a JSON array of event objects."""
    try:
        events = json.loads(body)
    except ValueError:
        raise WebhookRejected("body is not JSON") from None
    if not isinstance(events, list):
        raise WebhookRejected("body is not a JSON array of events")
    batch = WebhookBatch(provider="sendgrid", body=body.decode("utf-8"), event_count=len(events))
    session.add(batch)
    session.flush()
    return batch


def process_webhook_batch(session: Session, batch_id: int) -> dict[str, int]:
    """Apply a kept request's events once; returns counts (new, duplicate, unmatched)."""
    batch = session.get(WebhookBatch, batch_id)
    if batch is None:
        raise NotFound(f"webhook batch {batch_id} does not exist")
    if batch.processed_at is not None:
        return {"new": 0, "duplicate": batch.event_count, "unmatched": 0}
    events = [e for e in json.loads(batch.body) if isinstance(e, dict) and e.get("event")]
    rows = [_event_row(event) for event in events]
    deliveries = _deliveries_of(session, rows)
    new_ids: set[str] = set()
    for start in range(0, len(rows), 500):
        inserted = session.execute(
            insert_ignoring_duplicates(session, DeliveryEvent.__table__).values(rows[start:start + 500])
            .returning(DeliveryEvent.provider_event_id)
        ).scalars()
        new_ids.update(inserted)
    fresh = [(event, row) for event, row in zip(events, rows) if row["provider_event_id"] in new_ids]
    for edition_id in _apply(session, fresh, deliveries):
        finish_edition_if_complete(session, edition_id, utcnow())
    batch.processed_at = utcnow()
    unmatched = sum(1 for _, row in fresh if row["delivery_id"] is None)
    return {"new": len(fresh), "duplicate": len(rows) - len(fresh), "unmatched": unmatched}


def _deliveries_of(session: Session, rows: list[dict]) -> dict[int, Delivery]:
    """The deliveries the events name; an id we do not know (another environment, a forgotten
    reader) is dropped from its row so the event is still kept."""
    ids = {row["delivery_id"] for row in rows if row["delivery_id"] is not None}
    found = {d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)))} if ids else {}
    for row in rows:
        if row["delivery_id"] not in found:
            row["delivery_id"] = None
    return found


def _event_row(event: dict) -> dict:
    occurred = event.get("timestamp")
    try:
        occurred_at = dt.datetime.fromtimestamp(int(occurred), dt.UTC)
    except (TypeError, ValueError, OverflowError):
        occurred_at = utcnow()
    delivery_id = event.get("delivery_id")
    try:
        delivery_id = int(delivery_id) if delivery_id is not None else None
    except (TypeError, ValueError):
        delivery_id = None
    # Events without an id cannot be de-duplicated; derive one from their content.
    event_id = str(event.get("sg_event_id") or f"{event.get('sg_message_id')}:{event.get('event')}:{occurred}")
    return dict(delivery_id=delivery_id, provider_event_id=event_id[:100], event=str(event["event"])[:40],
                email=(str(event.get("email") or "")[:320] or None), payload=event,
                occurred_at=occurred_at, received_at=utcnow())


def _apply(session: Session, fresh: list[tuple[dict, dict]], deliveries: dict[int, Delivery]) -> set[int]:
    touched: set[int] = set()
    for event, row in sorted(fresh, key=lambda pair: pair[1]["occurred_at"]):
        delivery = deliveries.get(row["delivery_id"])
        status = _STATUS_OF_EVENT.get(row["event"])
        if delivery is not None and status is not None and _RANK[status] > _RANK[delivery.status]:
            delivery.status = status
            delivery.event_at = row["occurred_at"]
            if status in (DeliveryStatus.BOUNCED, DeliveryStatus.DROPPED):
                delivery.error = str(event.get("reason") or event.get("type") or row["event"])[:1000]
            touched.add(delivery.edition_id)
        if row["email"]:
            record_provider_feedback(session, row["email"], row["event"], event)
    return touched
