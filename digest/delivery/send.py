"""Send claimed batches of an edition's deliveries and record every outcome.

The ledger has two levels. A send batch (up to SEND_BATCH_SIZE readers of one variant) is what a
worker claims, with a conditional UPDATE of its one row committed before the backend is called:
a task that runs twice sends nothing more, and a worker that dies mid-request leaves its batch
visibly `sending`. The delivery rows (one per edition and reader) stay pending while their batch
is in flight and are written when they are handed over, failed, or told about by an event.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import NamedTuple

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow, wall_seconds
from digest.config import get_settings
from digest.delivery.message import (BatchTooLarge, CredentialsRefused, EditionReader, EditionReaders, OutgoingBatch,
                                     Sender, SendError, Throttled, is_plain)
from digest.delivery.ratelimit import batch_key, get_rate_limiter
from digest.editions.approve import approved_render
from digest.editions.lookup import get_edition
from digest.errors import Conflict
from digest.counters import record_deliveries_sent
from digest.reports.attribution import edition_query
from digest.store.models import (BatchState, Delivery, DeliveryStatus, Edition, EditionStatus, PlanSlice, SendBatch,
                                 Subscriber)
from digest.store.upsert import among
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, token_maker

log = logging.getLogger(__name__)

# Bulk statements off the hot path: no loaded objects to keep in step, so skip the ORM's pass
# over the identity map (it costs more than the UPDATE itself on a batch of 1000). The hot path's
# statements go through the session's connection (`session.connection().execute`): the same
# transaction, without the ORM's per-statement work, which cost a batch more than its SQL.
BULK = {"synchronize_session": False}

class SendRateLimited(Throttled):
    def __init__(self, wait: float):
        super().__init__(f"sending rate limit reached; this batch's slot is in {wait:.1f}s", wait)


class Claim(NamedTuple):
    token: str
    variant: str
    attempt: int  # how many times the batch has been claimed, this time included


def claim_batch(session: Session, edition_id: int, batch_id: int, now: dt.datetime) -> Claim | None:
    """Take the batch if it is still pending: one row, whatever the batch's size. Returns the
    claim (its token, the batch's variant and attempt), or None when another worker (or an
    earlier run of this task) has it."""
    token = str(uuid.uuid4())
    claimed = session.connection().execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.edition_id == edition_id, SendBatch.state == BatchState.PENDING)
        .values(state=BatchState.SENDING, claim_token=token, claimed_at=now, attempts=SendBatch.attempts + 1)
        .returning(SendBatch.variant, SendBatch.attempts)
    ).first()
    return None if claimed is None else Claim(token, *claimed)


def _waiting(batch_id: int):
    """The batch's readers not yet handed over (its rows still pending), by the batch index."""
    return and_(Delivery.batch_id == batch_id, Delivery.status == DeliveryStatus.PENDING)


def _wait_for_rate(session: Session, edition_id: int, batch_id: int) -> None:
    """Take this batch's slot in the shared schedule: sleep if it is near, else SendRateLimited.
    Only rows still pending count, so a batch already sent takes no slot."""
    limiter = get_rate_limiter()
    if not limiter.enabled:
        return
    count = session.scalar(select(func.count()).where(_waiting(batch_id)))
    permit = limiter.acquire(batch_key(edition_id, batch_id), count)
    if not permit.granted:
        raise SendRateLimited(permit.wait_seconds)
    if permit.wait_seconds:
        time.sleep(wall_seconds(permit.wait_seconds))


def send_batch(session: Session, edition_id: int, batch_id: int, sender: Sender,
               now: dt.datetime | None = None) -> int:
    """Claim, send and record one batch; returns how many readers this call handed over.

    A retryable SendError releases the batch (its readers not yet accepted wait for the retry)
    and is raised for the caller to retry; credentials refused pause the edition; other
    permanent errors fail the readers."""
    now = now or utcnow()
    edition = get_edition(session, edition_id, items=False)
    if edition.status != EditionStatus.SENDING:
        return 0
    _wait_for_rate(session, edition_id, batch_id)
    claim = claim_batch(session, edition_id, batch_id, now)
    if claim is None:
        return 0
    session.commit()
    token = claim.token
    rows = session.connection().execute(
        select(Delivery.id, Delivery.subscriber_id, Delivery.email, Subscriber.name)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(_waiting(batch_id)).order_by(Delivery.id)
    ).all()
    try:
        # Sent from the stored render, never re-rendered: a later feed update cannot change
        # what half of the readers receive.
        rendered = approved_render(session, edition, claim.variant)
    except Conflict:
        _release(session, batch_id, token)
        session.commit()
        raise
    sent, marked = 0, False
    if rows:
        outgoing = _outgoing_batch(edition, rendered, rows)
        try:
            sent, marked = _hand_over(session, sender, outgoing, claim.attempt, (batch_id, token))
        except CredentialsRefused as exc:
            _release(session, batch_id, token)
            pause_for_credentials(session, edition_id, str(exc))
            session.commit()
            return sent
        except SendError as exc:
            _release(session, batch_id, token)
            session.commit()
            if isinstance(exc, Throttled) and not isinstance(exc, SendRateLimited):
                get_rate_limiter().hold_until(utcnow().timestamp() + exc.wait)
            raise
    if not marked:  # split in parts, failed for good, or nothing left to send
        session.connection().execute(_mark_sent(batch_id, token))
    finish_edition_if_complete(session, edition_id, utcnow())
    return sent


def _mark_sent(batch_id: int, token: str):
    """The batch is done, if this claim still holds it."""
    return (update(SendBatch).where(SendBatch.id == batch_id, SendBatch.claim_token == token)
            .values(state=BatchState.SENT))


def _hand_over(session: Session, sender: Sender, batch: OutgoingBatch, attempt: int,
               whole: tuple[int, str] | None) -> tuple[int, bool]:
    """Send one single-variant batch; a 413 is split in halves until the parts fit. `whole` is
    the send batch (id, claim token) when `batch` is all of it: accepted in one request, its row
    is marked sent by the accepting statement. Returns the readers handed over and whether the
    batch row was marked."""
    try:
        message_ids = sender.send(batch)
    except BatchTooLarge as exc:
        if len(batch.recipients) == 1:
            _fail(session, [r.delivery_id for r in batch.recipients], str(exc))
            session.commit()
            return 0, False
        first, second = batch.split()
        sent_first, _ = _hand_over(session, sender, first, attempt, None)
        sent_second, _ = _hand_over(session, sender, second, attempt, None)
        return sent_first + sent_second, False
    except SendError as exc:
        if not exc.permanent or isinstance(exc, CredentialsRefused):
            raise
        _fail(session, [r.delivery_id for r in batch.recipients], str(exc))
        session.commit()
        return 0, False
    marked = _accept(session, message_ids, attempt, whole)
    session.commit()  # accepted rows are never released by a later part's retry
    record_deliveries_sent(len(message_ids))
    return len(message_ids), marked


def _accept(session: Session, message_ids: dict[int, str], attempt: int, whole: tuple[int, str] | None) -> bool:
    """The readers handed over, named by id (one array parameter): exactly those in the request,
    even if a retry made another row of the batch pending meanwhile. Each row keeps the attempt
    of its batch that handed it over.

    With `whole` on PostgreSQL the batch row is marked sent by the same statement (a
    data-modifying WITH that the UPDATE does not depend on: the readers handed over are accepted
    whether the batch still holds its claim or not). Returns whether the batch row was marked."""
    now = utcnow()
    distinct = set(message_ids.values())
    accepted = dict(status=DeliveryStatus.ACCEPTED, sent_at=now, error=None, attempts=attempt)
    if len(distinct) != 1:  # a message id per reader (a backend's own): one row each
        session.execute(update(Delivery), [dict(id=i, message_id=m, **accepted) for i, m in message_ids.items()])
        return False
    statement = (update(Delivery).where(among(session, Delivery.id, list(message_ids)),
                                        Delivery.status == DeliveryStatus.PENDING)
                 .values(message_id=distinct.pop(), **accepted))
    together = whole is not None and session.get_bind().dialect.name == "postgresql"
    if together:
        statement = statement.add_cte(_mark_sent(*whole).returning(SendBatch.id).cte("marked_sent"))
    session.connection().execute(statement)
    return together


def _outgoing_batch(edition: Edition, rendered, rows) -> OutgoingBatch:
    links = ReaderLinks(edition.id)
    return edition_batch(edition, rendered, [links.recipient(row.id, row.subscriber_id, row.email, row.name)
                                             for row in rows])


class ReaderLinks:
    """What each reader of one edition carries of their own: unsubscribe and preference links,
    from which their placeholder values and headers are made (EditionReader). Made once per
    batch: the signers are keyed once, what readers share is made once, not per reader."""

    def __init__(self, edition_id: int):
        settings = get_settings()
        # `?e=`: an unsubscribe or preference change through these links is credited to this edition.
        self.via = edition_query(edition_id)
        self.unsubscribe_token, self.preferences_token = token_maker(UNSUBSCRIBE), token_maker(PREFERENCES)
        self.unsubscribe_base, self.preferences_base = f"{settings.base_url}/u/", f"{settings.base_url}/p/"
        # A token is URL-safe text (hex, a dot, base64url), so the links are plain when these are.
        plain = all(is_plain(part) for part in (self.unsubscribe_base, self.preferences_base, self.via))
        self.alike = EditionReaders(edition_arg=str(edition_id),
                                    mailto=f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe>",
                                    plain_links=plain)

    def recipient(self, delivery_id: int, subscriber_id: int, email: str, name: str | None) -> EditionReader:
        return EditionReader(delivery_id, email, name,
                             f"{self.unsubscribe_base}{self.unsubscribe_token(subscriber_id)}{self.via}",
                             f"{self.preferences_base}{self.preferences_token(subscriber_id)}{self.via}",
                             self.alike)


def reader_recipient(edition_id: int, delivery_id: int, subscriber_id: int, email: str,
                     name: str | None) -> EditionReader:
    """One reader's part of a message, as a send builds it: what the pre-send checklist builds its
    sample reader's message from."""
    return ReaderLinks(edition_id).recipient(delivery_id, subscriber_id, email, name)


def edition_batch(edition: Edition, rendered, recipients: list[EditionReader]) -> OutgoingBatch:
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


def _release(session: Session, batch_id: int, token: str) -> None:
    """Give the batch back: its readers not yet accepted go with its next claim."""
    session.execute(
        update(SendBatch).where(SendBatch.id == batch_id, SendBatch.claim_token == token)
        .values(state=BatchState.PENDING, claim_token=None, claimed_at=None), execution_options=BULK)


def _fail(session: Session, delivery_ids: list[int], error: str) -> None:
    session.execute(
        update(Delivery).where(among(session, Delivery.id, delivery_ids), Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.FAILED, error=error), execution_options=BULK
    )


def give_up_batch(session: Session, edition_id: int, batch_id: int, error: str) -> int:
    """After the last retry: the batch's waiting readers fail visibly instead of waiting forever."""
    gave_up = session.execute(
        update(SendBatch).where(SendBatch.id == batch_id, SendBatch.edition_id == edition_id,
                                SendBatch.state == BatchState.PENDING).values(state=BatchState.FAILED)
    ).rowcount
    failed = 0
    if gave_up:
        failed = session.execute(update(Delivery).where(_waiting(batch_id))
                                 .values(status=DeliveryStatus.FAILED, error=error), execution_options=BULK).rowcount
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
    """Mark the edition sent once every slice is planned and no delivery is pending, in flight
    or unknown."""
    # Asked first: while a batch is waiting or in flight (every check but the last few of a
    # send), a look at the edition's few batch rows settles it, whatever its number of readers.
    live = exists().where(SendBatch.edition_id == edition_id, SendBatch.state.in_(BatchState.live()))
    unfinished = exists().where(
        Delivery.edition_id == edition_id, Delivery.status.in_(DeliveryStatus.unfinished()),
    )
    unplanned = exists().where(PlanSlice.edition_id == edition_id, PlanSlice.planned_at.is_(None))
    return bool(session.connection().execute(
        update(Edition)
        .where(and_(Edition.id == edition_id, Edition.status == EditionStatus.SENDING, ~live, ~unfinished,
                    ~unplanned))
        .values(status=EditionStatus.SENT, sent_at=now, updated_at=now)
    ).rowcount)


def delivery_counts(session: Session, edition_id: int) -> dict[str, int]:
    """Rows by state; the pending rows of a batch in flight are counted as `sending`."""
    counts = {status.value: count for status, count in session.execute(
        select(Delivery.status, func.count()).where(Delivery.edition_id == edition_id).group_by(Delivery.status))}
    in_flight = session.scalar(
        select(func.count()).select_from(SendBatch)
        .join(Delivery, and_(Delivery.batch_id == SendBatch.id, Delivery.status == DeliveryStatus.PENDING))
        .where(SendBatch.edition_id == edition_id, SendBatch.state == BatchState.SENDING))
    if in_flight:
        counts[DeliveryStatus.PENDING.value] -= in_flight
        counts[DeliveryStatus.SENDING.value] = counts.get(DeliveryStatus.SENDING.value, 0) + in_flight
        if not counts[DeliveryStatus.PENDING.value]:
            del counts[DeliveryStatus.PENDING.value]
    return counts
