"""SendGrid's signed Event Webhook: verify a request, keep it, and apply its events.

Each event names its reader through the custom_args we sent (edition_id, subscriber_id and the
send batch's batch_id; messages sent before readers were named so carry delivery_id), which
SendGrid returns as top-level keys. A reader whose batch row alone recorded them as accepted gets
their delivery row from it when their first event comes. An event can arrive before the worker
that handed its message over has recorded it (SendGrid answers the request, then the worker
commits): a request with an event about a reader of a batch still being sent is applied a little
later (EventsAhead), not dropped as unmatched. A request sent again (replayed or retried) is
recognised as it arrives and kept once; events are de-duplicated by sg_event_id, within a request
as across requests, so the same events in another request change nothing twice. A delivery only moves
forward (delivered is not undone by a late `processed`); an open or click proves delivery even if
`delivered` was never seen.

A kept batch is applied once: the worker claims it with a conditional UPDATE, so the task the
endpoint enqueued and beat's sweep of batches whose message was lost (`unprocessed_batch_ids`)
never both apply it. An event the service cannot read (wrong types, out-of-range numbers) is
skipped and counted; it never stops the rest of its batch.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import math
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.ledger.writer import record_members
from digest.delivery.send import finish_edition_if_complete
from digest.errors import NotFound
from digest.counters import record_provider_events
from digest.reports.audience import classify, timings_of
from digest.reports.counting import count_events
from digest.store.db import on_commit
from digest.store.models import BatchState, Delivery, DeliveryEvent, DeliveryStatus, SendBatch, WebhookBatch
from digest.store.upsert import among, insert_ignoring_duplicates
from digest.subscribers.feedback import record_deliveries, record_provider_feedback

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


class EventsAhead(Exception):
    """The request tells of readers whose batch is still being recorded: apply it again shortly
    (nothing of it was applied)."""


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


@dataclass(frozen=True)
class Kept:
    batch_id: int
    replayed: bool  # the same signed request was kept before, as this batch: nothing new is stored


def store_webhook_batch(session: Session, body: bytes, timestamp: str) -> Kept:
    """Keep a verified request for a worker; the body must be a JSON array of event objects.

    The request sent again (a replay, or SendGrid retrying a request whose answer it never got)
    is recognised by what was signed, its timestamp and body, not by the signature: ECDSA signs
    the same bytes many ways. Two copies arriving at once: the second waits on the first's
    unique index entry, then finds its batch."""
    try:
        events = _parse(body)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack.
        raise WebhookRejected("body is not JSON") from None
    if not isinstance(events, list):
        raise WebhookRejected("body is not a JSON array of events")
    signed = hashlib.sha256(timestamp.encode() + body).hexdigest()
    batch_id = session.scalar(
        insert_ignoring_duplicates(session, WebhookBatch.__table__)
        .values(provider="sendgrid", body=body.decode("utf-8"), event_count=len(events), request_hash=signed)
        .returning(WebhookBatch.id))
    if batch_id is not None:
        return Kept(batch_id, replayed=False)
    return Kept(session.scalar(select(WebhookBatch.id).where(WebhookBatch.request_hash == signed)), replayed=True)


def _parse(body: bytes | str) -> object:
    """JSON, with numbers too long to be ids or times read as infinity (Python refuses to read
    integers of over 4300 digits at all): the event holding one is then skipped, not the batch."""
    return json.loads(body, parse_int=lambda digits: int(digits) if len(digits) <= 40 else math.inf)


def unprocessed_batch_ids(session: Session, older_than: dt.datetime, limit: int = 200) -> list[int]:
    """Kept batches not applied by `older_than`: their queue message was lost (Redis restarted or
    down when they arrived). Oldest first."""
    return list(session.scalars(
        select(WebhookBatch.id).where(WebhookBatch.processed_at.is_(None), WebhookBatch.received_at < older_than)
        .order_by(WebhookBatch.id).limit(limit)))


def process_webhook_batch(session: Session, batch_id: int) -> dict[str, int]:
    """Apply a kept request's events once; returns counts (new, duplicate, unmatched, skipped)."""
    # The claim and the events commit together: a crash un-claims, a second caller finds it taken.
    claimed = session.execute(
        update(WebhookBatch).where(WebhookBatch.id == batch_id, WebhookBatch.processed_at.is_(None))
        .values(processed_at=utcnow())
    ).rowcount
    if not claimed:
        batch = session.get(WebhookBatch, batch_id)
        if batch is None:
            raise NotFound(f"webhook batch {batch_id} does not exist")
        return {"new": 0, "duplicate": batch.event_count, "unmatched": 0, "skipped": 0}
    body = session.scalar(select(WebhookBatch.body).where(WebhookBatch.id == batch_id))
    events, rows, skipped = _readable_events(_parse(body), batch_id)
    deliveries = _deliveries_of(session, rows, [_optional_id(event, "batch_id") for event in events])
    # Who made each open and click, kept on the event (one statement for the request, if any).
    classify(rows, timings_of(session, rows, {d.id: d.sent_at for d in deliveries.values()}), get_settings())
    new_ids: set[str] = set()
    for start in range(0, len(rows), 500):
        inserted = session.execute(
            insert_ignoring_duplicates(session, DeliveryEvent.__table__).values(rows[start:start + 500])
            .returning(DeliveryEvent.provider_event_id)
        ).scalars()
        new_ids.update(inserted)
    # The first copy of an id repeated within this request is the one applied.
    fresh, seen = [], set()
    for event, row in zip(events, rows):
        event_id = row["provider_event_id"]
        if event_id in new_ids and event_id not in seen:
            seen.add(event_id)
            fresh.append((event, row))
    count_events(session, [row for _, row in fresh])
    for edition_id in _apply(session, fresh, deliveries):
        finish_edition_if_complete(session, edition_id, utcnow())
    unmatched = sum(1 for _, row in fresh if row["delivery_id"] is None)
    on_commit(session, lambda: record_provider_events([row["event"] for _, row in fresh]))
    return {"new": len(fresh), "duplicate": len(rows) - len(fresh), "unmatched": unmatched, "skipped": skipped}


def _readable_events(events: list, batch_id: int) -> tuple[list[dict], list[dict], int]:
    """The events with their rows; what cannot be read is logged, counted and left out."""
    kept, rows, skipped = [], [], 0
    for position, event in enumerate(events):
        try:
            row = _event_row(event)
        except UnreadableEvent as exc:
            skipped += 1
            log.warning("webhook batch %s: event %s skipped: %s", batch_id, position, exc)
            continue
        kept.append(event)
        rows.append(row)
    return kept, rows, skipped


def _deliveries_of(session: Session, rows: list[dict], batch_ids: list[int | None]) -> dict[int, Delivery]:
    """The deliveries the events name (by edition and reader, or by delivery id); one we do not
    know (another environment, a forgotten reader) is dropped from its row so the event is still
    kept. Raises EventsAhead if a reader not yet recorded is in a batch being sent."""
    ids = {row["delivery_id"] for row in rows if row["delivery_id"] is not None}
    found = {d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(ids)))} if ids else {}
    readers: dict[int, set[int]] = {}
    batches: dict[int, set[tuple[int, int]]] = {}  # the batch each reader's event names: its readers
    for row, batch_id in zip(rows, batch_ids):
        if row["delivery_id"] is None and _ours(row["edition_id"]) and _ours(row["subscriber_id"]):
            readers.setdefault(row["edition_id"], set()).add(row["subscriber_id"])
            if batch_id is not None:
                batches.setdefault(batch_id, set()).add((row["edition_id"], row["subscriber_id"]))
    by_reader = _deliveries_by_reader(session, readers)
    unrecorded = {(e, s) for e, subscriber_ids in readers.items() for s in subscriber_ids} - by_reader.keys()
    if unrecorded and _rows_from_batches(session, {b: named & unrecorded for b, named in batches.items()}):
        by_reader = _deliveries_by_reader(session, readers)
    found.update({delivery.id: delivery for delivery in by_reader.values()})
    for row in rows:
        if row["delivery_id"] is not None:
            delivery = found.get(row["delivery_id"])
        else:
            delivery = by_reader.get((row["edition_id"], row["subscriber_id"]))
        if delivery is None:
            row["delivery_id"] = row["edition_id"] = row["subscriber_id"] = None
        else:
            # The delivery's own edition and reader, never the event's word for them.
            row["delivery_id"] = delivery.id
            row["edition_id"], row["subscriber_id"] = delivery.edition_id, delivery.subscriber_id
    return found


def _ours(reader_id: int | None) -> bool:
    """Edition and subscriber ids are 32-bit: a larger number names nothing of ours (and would
    not fit the columns it is compared with)."""
    return reader_id is not None and reader_id < 2**31


def _deliveries_by_reader(session: Session, readers: dict[int, set[int]]) -> dict[tuple[int, int], Delivery]:
    found = {}
    for edition_id, subscriber_ids in readers.items():
        for delivery in session.scalars(select(Delivery).where(
                Delivery.edition_id == edition_id, among(session, Delivery.subscriber_id, list(subscriber_ids)))):
            found[edition_id, delivery.subscriber_id] = delivery
    return found


def _rows_from_batches(session: Session, named: dict[int, set[tuple[int, int]]]) -> bool:
    """Readers without a row, by the batch their event names: a sent batch writes the rows its
    row alone recorded (of its own members only: the event's word is checked against the batch);
    a batch still in flight raises EventsAhead. Returns whether any row was written."""
    named = {batch_id: readers for batch_id, readers in named.items() if readers}
    if not named:
        return False
    sent, readers = [], set()
    for batch_id, edition_id, state in session.execute(select(SendBatch.id, SendBatch.edition_id, SendBatch.state)
                                                       .where(SendBatch.id.in_(named))):
        theirs = [subscriber_id for edition, subscriber_id in named[batch_id] if edition == edition_id]
        if state == BatchState.SENDING and theirs:
            raise EventsAhead(f"events about readers of batch {batch_id} arrived before it was recorded")
        if state == BatchState.SENT and theirs:
            sent.append(batch_id)
            readers.update(theirs)
    # One statement for every batch named. A reader named with one batch who is also a member of
    # another of them (another edition's) gets that row too: it records what the batch row does.
    return bool(sent) and record_members(session, sent, sorted(readers)) > 0


class UnreadableEvent(ValueError):
    """One event of a batch the service cannot apply; the rest of the batch goes on."""


# Ids are stored in 64-bit columns; anything outside is not an id we sent.
_MAX_ID = 2**63 - 1


def _optional_id(event: dict, key: str) -> int | None:
    value = event.get(key)
    if value is None:
        return None
    # custom_args come back as strings; a JSON number is accepted if it is a whole one.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise UnreadableEvent(f"{key} {str(value)[:40]!r} is not a whole number")
    if not 0 < number <= _MAX_ID:
        raise UnreadableEvent(f"{key} {str(value)[:40]} is out of range")
    return number


def _optional_text(event: dict, key: str) -> str | None:
    value = event.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise UnreadableEvent(f"{key} is a {type(value).__name__}, not text")


def _event_row(event: object) -> dict:
    if not isinstance(event, dict):
        raise UnreadableEvent(f"a {type(event).__name__}, not an event object")
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise UnreadableEvent("no event name")
    # What the databases refuse (NUL, lone surrogates, a 1e400 that became infinity) would fail
    # the whole batch's INSERT, so such an event is left out here.
    try:
        text = json.dumps(event, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise UnreadableEvent(f"cannot be stored: {str(exc)[:80]}") from None
    if "\\u0000" in text:  # json.dumps writes a NUL as this escape
        raise UnreadableEvent("contains a NUL character")
    occurred = event.get("timestamp")
    try:
        occurred_at = dt.datetime.fromtimestamp(int(occurred), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        occurred_at = utcnow()  # the time we heard of it is close enough
    delivery_id = _optional_id(event, "delivery_id")
    # The event's word for its edition and reader, until their delivery row is found.
    edition_id, subscriber_id = _optional_id(event, "edition_id"), _optional_id(event, "subscriber_id")
    _optional_id(event, "batch_id")  # read again by _deliveries_of: an unreadable one is skipped here
    email = _optional_text(event, "email")
    # Events without an id cannot be de-duplicated; derive one from their content.
    event_id = _optional_text(event, "sg_event_id") or (
        f"{_optional_text(event, 'sg_message_id')}:{name}:{str(occurred)[:40]}")
    url = _optional_text(event, "url") if name == "click" else None
    # A bounce's class (SendGrid's bounce_classification) groups reasons far better than the
    # receiving server's text, which differs per address.
    reason = _optional_text(event, "bounce_classification") or _optional_text(event, "reason") or (
        _optional_text(event, "response") if name == "deferred" else None)
    return dict(delivery_id=delivery_id, provider_event_id=event_id[:100], event=name[:40],
                email=(email or "")[:320] or None, payload=event,
                occurred_at=occurred_at, received_at=utcnow(),
                edition_id=edition_id, subscriber_id=subscriber_id, url=(url or "")[:2000] or None,
                kind=(_optional_text(event, "type") or "")[:40] or None, reason=(reason or "")[:500] or None)


def _apply(session: Session, fresh: list[tuple[dict, dict]], deliveries: dict[int, Delivery]) -> set[int]:
    touched: set[int] = set()
    # The commonest event, applied to the subscribers in one statement: before any other event
    # about an address (a bounce after a delivery still counts), and at the end.
    delivered_to: list[str] = []
    for event, row in sorted(fresh, key=lambda pair: pair[1]["occurred_at"]):
        delivery = deliveries.get(row["delivery_id"])
        status = _STATUS_OF_EVENT.get(row["event"])
        if delivery is not None and status is not None and _RANK[status] > _RANK[delivery.status]:
            delivery.status = status
            delivery.event_at = row["occurred_at"]
            if status in (DeliveryStatus.BOUNCED, DeliveryStatus.DROPPED):
                delivery.error = str(event.get("reason") or event.get("type") or row["event"])[:1000]
            touched.add(delivery.edition_id)
        if row["email"] and row["event"] == "delivered":
            delivered_to.append(row["email"])
        elif row["email"]:
            record_deliveries(session, delivered_to)
            delivered_to = []
            record_provider_feedback(session, row["email"], row["event"], event)
    record_deliveries(session, delivered_to)
    return touched
