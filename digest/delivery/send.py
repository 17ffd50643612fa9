"""Send claimed batches of an edition's deliveries and record every outcome.

The deliveries table is the ledger: one row per (edition, subscriber), claimed with a
conditional UPDATE and committed before the backend is called, so a task that runs twice sends
nothing more, and a worker that dies mid-request leaves its rows visibly `sending`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from itertools import groupby

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow, wall_seconds
from digest.config import get_settings
from digest.delivery.message import (BatchTooLarge, CredentialsRefused, OutgoingBatch, Recipient, Sender, SendError,
                                     Throttled)
from digest.delivery.ratelimit import batch_key, get_rate_limiter
from digest.editions.approve import approved_render
from digest.editions.lookup import get_edition
from digest.editions.placeholders import NAMELESS_READER
from digest.editions.render import DEFAULT_VARIANT
from digest.errors import Conflict
from digest.counters import record_deliveries_sent
from digest.reports.attribution import edition_query
from digest.store.models import Delivery, DeliveryStatus, Edition, EditionStatus, Subscriber
from digest.store.upsert import among
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token

log = logging.getLogger(__name__)

# Bulk statements on the hot path: no loaded objects to keep in step, so skip the ORM's pass
# over the identity map (it costs more than the UPDATE itself on a batch of 1000).
BULK = {"synchronize_session": False}

class SendRateLimited(Throttled):
    def __init__(self, wait: float):
        super().__init__(f"sending rate limit reached; this batch's slot is in {wait:.1f}s", wait)


def claim_batch(session: Session, edition_id: int, delivery_ids: list[int], now: dt.datetime) -> str:
    """Mark the still-pending rows of the batch as ours; rows another worker took are skipped.

    Only the primary key leads: a condition on (edition, status) tempts the planner into
    scanning every pending row of the edition for each batch."""
    token = str(uuid.uuid4())
    session.execute(
        update(Delivery)
        .where(among(session, Delivery.id, delivery_ids), Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SENDING, claim_token=token, claimed_at=now,
                attempts=Delivery.attempts + 1),
        execution_options=BULK,
    )
    return token


def _wait_for_rate(session: Session, edition_id: int, delivery_ids: list[int]) -> None:
    """Take this batch's slot in the shared schedule: sleep if it is near, else SendRateLimited.
    Only rows still pending count, so a batch already sent takes no slot."""
    limiter = get_rate_limiter()
    if not limiter.enabled:
        return
    count = session.scalar(select(func.count()).where(among(session, Delivery.id, delivery_ids),
                                                      Delivery.status == DeliveryStatus.PENDING))
    permit = limiter.acquire(batch_key(edition_id, delivery_ids), count)
    if not permit.granted:
        raise SendRateLimited(permit.wait_seconds)
    if permit.wait_seconds:
        time.sleep(wall_seconds(permit.wait_seconds))


def send_batch(session: Session, edition_id: int, delivery_ids: list[int], sender: Sender,
               now: dt.datetime | None = None) -> int:
    """Claim, send and record one batch; returns how many rows this call handed over.

    A retryable SendError releases the rows not yet accepted and is raised for the caller to
    retry; credentials refused pause the edition; other permanent errors fail the rows."""
    now = now or utcnow()
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.SENDING:
        return 0
    _wait_for_rate(session, edition_id, delivery_ids)
    token = claim_batch(session, edition_id, delivery_ids, now)
    session.commit()
    rows = session.execute(
        select(Delivery.id, Delivery.subscriber_id, Delivery.email, Delivery.variant, Subscriber.name)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(among(session, Delivery.id, delivery_ids), Delivery.claim_token == token,
               Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.SENDING)
        .order_by(Delivery.variant, Delivery.id)
    ).all()
    try:
        # Sent from the stored renders, never re-rendered: a later feed update cannot change
        # what half of the readers receive.
        renders = {key: approved_render(session, edition, key)
                   for key in {row.variant or DEFAULT_VARIANT.key for row in rows}}
    except Conflict:
        _release(session, token, delivery_ids)
        session.commit()
        raise
    sent = 0
    for key, group in groupby(rows, key=lambda row: row.variant or DEFAULT_VARIANT.key):
        batch = _outgoing_batch(edition, renders[key], list(group))
        try:
            sent += _hand_over(session, sender, batch)
        except CredentialsRefused as exc:
            _release(session, token, delivery_ids)
            pause_for_credentials(session, edition_id, str(exc))
            session.commit()
            return sent
        except SendError as exc:
            _release(session, token, delivery_ids)
            session.commit()
            if isinstance(exc, Throttled) and not isinstance(exc, SendRateLimited):
                get_rate_limiter().hold_until(utcnow().timestamp() + exc.wait)
            raise
    finish_edition_if_complete(session, edition_id, utcnow())
    return sent


def _hand_over(session: Session, sender: Sender, batch: OutgoingBatch) -> int:
    """Send one single-variant batch; a 413 is split in halves until the parts fit."""
    try:
        message_ids = sender.send(batch)
    except BatchTooLarge as exc:
        if len(batch.recipients) == 1:
            _fail(session, [r.delivery_id for r in batch.recipients], str(exc))
            session.commit()
            return 0
        first, second = batch.split()
        return _hand_over(session, sender, first) + _hand_over(session, sender, second)
    except SendError as exc:
        if not exc.permanent or isinstance(exc, CredentialsRefused):
            raise
        _fail(session, [r.delivery_id for r in batch.recipients], str(exc))
        session.commit()
        return 0
    _accept(session, message_ids)
    session.commit()  # accepted rows are never released by a later part's retry
    record_deliveries_sent(len(message_ids))
    return len(message_ids)


def _accept(session: Session, message_ids: dict[int, str]) -> None:
    now = utcnow()
    distinct = set(message_ids.values())
    accepted = dict(status=DeliveryStatus.ACCEPTED, sent_at=now, error=None)
    if len(distinct) == 1:  # one provider request: one message id for all, one statement
        session.execute(update(Delivery).where(among(session, Delivery.id, list(message_ids)),
                                               Delivery.status == DeliveryStatus.SENDING)
                        .values(message_id=distinct.pop(), **accepted), execution_options=BULK)
    else:
        session.execute(update(Delivery), [dict(id=i, message_id=m, **accepted) for i, m in message_ids.items()])


def _outgoing_batch(edition: Edition, rendered, rows) -> OutgoingBatch:
    return edition_batch(edition, rendered, [reader_recipient(edition.id, row.id, row.subscriber_id, row.email,
                                                              row.name) for row in rows])


def reader_recipient(edition_id: int, delivery_id: int, subscriber_id: int, email: str,
                     name: str | None) -> Recipient:
    """One reader of an edition: the values of their placeholders and their own headers. Also
    what the pre-send checklist builds its sample reader's message from."""
    settings = get_settings()
    # `?e=`: an unsubscribe or preference change through these links is credited to this edition.
    via = edition_query(edition_id)
    unsubscribe_url = f"{settings.base_url}/u/{make_token(UNSUBSCRIBE, subscriber_id)}{via}"
    preferences_url = f"{settings.base_url}/p/{make_token(PREFERENCES, subscriber_id)}{via}"
    return Recipient(
        delivery_id=delivery_id,
        email=email,
        name=name,
        values={"name": name or NAMELESS_READER, "unsubscribe_url": unsubscribe_url,
                "preferences_url": preferences_url},
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>, <mailto:{settings.unsubscribe_mailto}"
                                f"?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        custom_args={"edition_id": str(edition_id), "delivery_id": str(delivery_id)},
    )


def edition_batch(edition: Edition, rendered, recipients: list[Recipient]) -> OutgoingBatch:
    settings = get_settings()
    send_at = int(edition.send_at.timestamp()) if edition.send_at > utcnow() else None
    return OutgoingBatch(
        edition_id=edition.id,
        from_email=str(settings.FROM_EMAIL),
        from_name=settings.FROM_NAME,
        reply_to=str(settings.REPLY_TO_EMAIL) if settings.REPLY_TO_EMAIL else None,
        rendered=rendered,
        recipients=recipients,
        categories=["edition", f"edition-{edition.id}"],
        send_at=send_at,
        provider_batch_id=edition.provider_batch_id,
    )


def _release(session: Session, token: str, delivery_ids: list[int]) -> None:
    session.execute(
        update(Delivery).where(among(session, Delivery.id, delivery_ids), Delivery.claim_token == token,
                               Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.PENDING, claim_token=None, claimed_at=None), execution_options=BULK
    )


def _fail(session: Session, delivery_ids: list[int], error: str) -> None:
    session.execute(
        update(Delivery).where(among(session, Delivery.id, delivery_ids), Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.FAILED, error=error), execution_options=BULK
    )


def give_up_batch(session: Session, edition_id: int, delivery_ids: list[int], error: str) -> int:
    """After the last retry: the batch's pending rows fail visibly instead of waiting forever."""
    failed = session.execute(
        update(Delivery).where(among(session, Delivery.id, delivery_ids), Delivery.edition_id == edition_id,
                               Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.FAILED, error=error)
    ).rowcount
    finish_edition_if_complete(session, edition_id, utcnow())
    return failed


def pause_for_credentials(session: Session, edition_id: int, error: str) -> None:
    log.critical("edition %s paused: %s", edition_id, error)
    session.execute(
        update(Edition).where(Edition.id == edition_id, Edition.status == EditionStatus.SENDING)
        .values(status=EditionStatus.PAUSED, note=f"paused: {error}; fix the API key, then resume",
                updated_at=utcnow())
    )


def finish_edition_if_complete(session: Session, edition_id: int, now: dt.datetime) -> bool:
    """Mark the edition sent once no delivery is pending, in flight or unknown."""
    unfinished = exists().where(
        Delivery.edition_id == edition_id, Delivery.status.in_(DeliveryStatus.unfinished()),
    )
    return bool(session.execute(
        update(Edition)
        .where(and_(Edition.id == edition_id, Edition.status == EditionStatus.SENDING, ~unfinished))
        .values(status=EditionStatus.SENT, sent_at=now, updated_at=now)
    ).rowcount)


def delivery_counts(session: Session, edition_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.status, func.count()).where(Delivery.edition_id == edition_id).group_by(Delivery.status)
    )
    return {status.value: count for status, count in rows}
