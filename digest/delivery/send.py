"""Start an approved edition, plan its deliveries, and send them in claimed batches.

The deliveries table is the ledger: one row per (edition, subscriber), claimed with a
conditional UPDATE before the backend is called, so a task that runs twice sends nothing more.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import and_, exists, func, literal, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.message import OutgoingBatch, Recipient, Sender, SendError
from digest.editions.approve import approved_render, get_edition, void_approval
from digest.editions.render import render_edition
from digest.errors import Conflict
from digest.store.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token


def due_edition_ids(session: Session, now: dt.datetime) -> list[int]:
    query = select(Edition.id).where(Edition.status == EditionStatus.APPROVED, Edition.send_at <= now)
    return list(session.scalars(query.order_by(Edition.send_at)))


def release_edition(session: Session, edition_id: int, now: dt.datetime | None = None) -> Edition:
    """An editor's "send now": an approved edition becomes due at once."""
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.APPROVED:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; approve it before sending")
    edition.send_at = min(edition.send_at, now or utcnow())
    return edition


def start_edition(session: Session, edition_id: int, now: dt.datetime | None = None) -> list[list[int]]:
    """Move a due approved edition to sending and plan its deliveries.

    Returns the batches of delivery ids to send (enqueue them after commit). Returns [] when the
    edition was not approved (already started by another tick, or voided)."""
    now = now or utcnow()
    claimed = session.execute(
        update(Edition)
        .where(Edition.id == edition_id, Edition.status == EditionStatus.APPROVED)
        .values(status=EditionStatus.SENDING, started_at=now, updated_at=now)
    ).rowcount
    if not claimed:
        return []
    edition = get_edition(session, edition_id)
    session.refresh(edition)
    if render_edition(edition).content_hash != edition.approved_hash:
        # An article was corrected by its feed, or a template changed, since approval: an
        # editor looks again rather than readers receiving something nobody approved.
        void_approval(edition, "the content changed after approval; approve it again")
        return []
    plan_deliveries(session, edition_id, now)
    batches = pending_batches(session, edition_id)
    if not batches:
        finish_edition_if_complete(session, edition_id, now)
    return batches


def plan_deliveries(session: Session, edition_id: int, now: dt.datetime) -> int:
    """One pending row per eligible subscriber, in one INSERT ... SELECT (no Python loop).

    Eligible: confirmed, not paused, and the address not on the suppression list."""
    already = exists().where(Delivery.edition_id == edition_id, Delivery.subscriber_id == Subscriber.id)
    suppressed = exists().where(Suppression.email == Subscriber.email)
    eligible = select(
        literal(edition_id), Subscriber.id, Subscriber.email, literal(DeliveryStatus.PENDING.value),
        literal(0), literal(now, type_=Delivery.created_at.type),
    ).where(Subscriber.status == SubscriberStatus.CONFIRMED, Subscriber.paused.is_(False),
            ~suppressed, ~already)
    insert = Delivery.__table__.insert().from_select(
        ["edition_id", "subscriber_id", "email", "status", "attempts", "created_at"], eligible
    )
    return session.execute(insert).rowcount


def pending_batches(session: Session, edition_id: int) -> list[list[int]]:
    size = get_settings().SEND_BATCH_SIZE
    ids = list(session.scalars(
        select(Delivery.id)
        .where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.PENDING)
        .order_by(Delivery.id)
    ))
    return [ids[start:start + size] for start in range(0, len(ids), size)]


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
    claim and is raised again for the caller to retry."""
    now = now or utcnow()
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.SENDING:
        return 0
    # Sent from the stored render, never re-rendered: a later feed update cannot change what
    # half of the readers receive.
    rendered = approved_render(session, edition)
    token = claim_batch(session, edition_id, delivery_ids, now)
    session.commit()
    rows = session.execute(
        select(Delivery, Subscriber.name)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.claim_token == token, Delivery.status == DeliveryStatus.SENDING)
        .order_by(Delivery.id)
    ).all()
    if not rows:
        return 0
    batch = _outgoing_batch(edition, rendered, rows)
    try:
        message_ids = sender.send(batch)
    except SendError as exc:
        if exc.permanent:
            _fail(session, token, str(exc))
        else:
            _release(session, token)
            session.commit()
            raise
        finish_edition_if_complete(session, edition_id, utcnow())
        return 0
    for delivery, _name in rows:
        delivery.status = DeliveryStatus.ACCEPTED
        delivery.message_id = message_ids.get(delivery.id)
        delivery.sent_at = utcnow()
        delivery.error = None
    session.flush()
    finish_edition_if_complete(session, edition_id, utcnow())
    return len(rows)


def _outgoing_batch(edition: Edition, rendered, rows) -> OutgoingBatch:
    settings = get_settings()
    recipients = []
    for delivery, name in rows:
        unsubscribe_url = f"{settings.base_url}/u/{make_token(UNSUBSCRIBE, delivery.subscriber_id)}"
        preferences_url = f"{settings.base_url}/p/{make_token(PREFERENCES, delivery.subscriber_id)}"
        recipients.append(Recipient(
            delivery_id=delivery.id,
            email=delivery.email,
            name=name,
            values={"name": name or "reader", "unsubscribe_url": unsubscribe_url,
                    "preferences_url": preferences_url},
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


def _fail(session: Session, token: str, error: str) -> None:
    session.execute(
        update(Delivery).where(Delivery.claim_token == token, Delivery.status == DeliveryStatus.SENDING)
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
