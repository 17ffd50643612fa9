"""Send claimed batches of an edition's deliveries and record every outcome.

The deliveries table is the ledger: one row per (edition, subscriber), claimed with a
conditional UPDATE before the backend is called, so a task that runs twice sends nothing more.
"""

from __future__ import annotations

import datetime as dt
import uuid

from itertools import groupby

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.message import OutgoingBatch, Recipient, Sender, SendError
from digest.editions.approve import approved_render, get_edition
from digest.editions.render import DEFAULT_VARIANT
from digest.store.models import Delivery, DeliveryStatus, Edition, EditionStatus, Subscriber
from digest.subscribers.tokens import UNSUBSCRIBE, make_token


def claim_batch(session: Session, edition_id: int, delivery_ids: list[int], now: dt.datetime) -> str:
    """Mark the still-pending rows of the batch as ours; rows another worker took are skipped."""
    token = str(uuid.uuid4())
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.edition_id == edition_id,
               Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SENDING, claim_token=token, claimed_at=now,
                attempts=Delivery.attempts + 1)
    )
    return token


def send_batch(session: Session, edition_id: int, delivery_ids: list[int], sender: Sender,
               now: dt.datetime | None = None) -> int:
    """Claim, send and record one batch; returns how many rows this call sent.

    Commits the claim before calling the backend: if this process dies mid-request the rows stay
    visibly `sending`, never silently pending for a second send. A retryable SendError releases the
    rows not yet accepted and is raised again for the caller to retry."""
    now = now or utcnow()
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.SENDING:
        return 0
    # Sent from the stored renders, never re-rendered: a later feed update cannot change what
    # half of the readers receive. Loaded before claiming, so a refusal leaves rows pending.
    variants = session.scalars(select(Delivery.variant).distinct().where(Delivery.id.in_(delivery_ids))).all()
    renders = {key or DEFAULT_VARIANT.key: approved_render(session, edition, key or DEFAULT_VARIANT.key)
               for key in variants}
    token = claim_batch(session, edition_id, delivery_ids, now)
    session.commit()
    rows = session.execute(
        select(Delivery, Subscriber.name)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.claim_token == token, Delivery.status == DeliveryStatus.SENDING)
        .order_by(Delivery.variant, Delivery.id)
    ).all()
    sent = 0
    for key, group in groupby(rows, key=lambda row: row[0].variant or DEFAULT_VARIANT.key):
        group = list(group)
        try:
            message_ids = sender.send(_outgoing_batch(edition, renders[key], group))
        except SendError as exc:
            if not exc.permanent:
                _release(session, token)
                session.commit()
                raise
            _fail(session, [delivery.id for delivery, _ in group], str(exc))
            continue
        for delivery, _name in group:
            delivery.status = DeliveryStatus.ACCEPTED
            delivery.message_id = message_ids.get(delivery.id)
            delivery.sent_at = utcnow()
            delivery.error = None
        session.commit()  # accepted rows are never released by a later group's retry
        sent += len(group)
    finish_edition_if_complete(session, edition_id, utcnow())
    return sent


def _outgoing_batch(edition: Edition, rendered, rows) -> OutgoingBatch:
    settings = get_settings()
    recipients = []
    for delivery, name in rows:
        unsubscribe_url = f"{settings.base_url}/u/{make_token(UNSUBSCRIBE, delivery.subscriber_id)}"
        recipients.append(Recipient(
            delivery_id=delivery.id,
            email=delivery.email,
            name=name,
            values={"name": name or "reader", "unsubscribe_url": unsubscribe_url},
            headers={
                "List-Unsubscribe": f"<{unsubscribe_url}>, <mailto:{settings.unsubscribe_mailto}"
                                    f"?subject=unsubscribe>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            custom_args={"edition_id": str(edition.id), "delivery_id": str(delivery.id)},
        ))
    return OutgoingBatch(
        edition_id=edition.id,
        from_email=str(settings.FROM_EMAIL),
        from_name=settings.FROM_NAME,
        reply_to=str(settings.REPLY_TO_EMAIL) if settings.REPLY_TO_EMAIL else None,
        rendered=rendered,
        recipients=recipients,
        categories=["edition", f"edition-{edition.id}"],
    )


def _release(session: Session, token: str) -> None:
    session.execute(
        update(Delivery).where(Delivery.claim_token == token, Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.PENDING, claim_token=None, claimed_at=None)
    )


def _fail(session: Session, delivery_ids: list[int], error: str) -> None:
    session.execute(
        update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.FAILED, error=error)
    )


def finish_edition_if_complete(session: Session, edition_id: int, now: dt.datetime) -> bool:
    """Mark the edition sent once no delivery is pending or in flight."""
    unfinished = exists().where(
        Delivery.edition_id == edition_id,
        Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
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
