"""Send claimed batches of an edition's readers and record every outcome.

The ledger has two levels. A send batch (up to SEND_BATCH_SIZE readers of one variant) is what a
worker claims, with a conditional UPDATE of its one row committed before the backend is called:
a task that runs twice sends nothing more, and a worker that dies mid-request leaves its batch
visibly `sending`. A planned batch handed over whole in one request is recorded by its row
alone (sent, with the provider's message id and the time): its members are accepted without a
row each. A delivery row (one per edition and reader) is written when something happens to its
reader: an event (record_members), a failure, a part of a split request, an unknown outcome; or
by reconciliation a while after the send (record_sent_batches). Until then the reader is a member
of a batch: waiting while it is pending, in flight while it is sending, accepted once it is sent.

A batch's readers not yet handed over are its members without a delivery row in the edition,
and the pending rows that name it (rows made pending again by a retry or a re-send).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from typing import NamedTuple

from sqlalchemy import and_, exists, func, null, select, text, true, union_all, update
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
from digest.store.members import member_ids, members_without_rows
from digest.store.upsert import among, insert_ignoring_duplicates
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, token_maker

log = logging.getLogger(__name__)

# Bulk statements off the hot path: no loaded objects to keep in step, so skip the ORM's pass
# over the identity map (it costs more than the UPDATE itself on a batch of 1000). The hot path's
# statements go through the session's connection (`session.connection().execute`): the same
# transaction, without the ORM's per-statement work, which cost a batch more than its SQL.
BULK = {"synchronize_session": False}
# An INSERT's rowcount is kept only when asked for.
KEEP_ROWCOUNT = {"preserve_rowcount": True}

class SendRateLimited(Throttled):
    def __init__(self, wait: float):
        super().__init__(f"sending rate limit reached; this batch's slot is in {wait:.1f}s", wait)


class Claim(NamedTuple):
    token: str
    variant: str
    attempt: int  # how many times the batch has been claimed, this time included
    planned: bool  # the batch names its readers (members); else its pending rows are its readers


def claim_batch(session: Session, edition_id: int, batch_id: int, now: dt.datetime) -> Claim | None:
    """Take the batch if it is still pending: one row, whatever the batch's size. Returns the
    claim (its token, the batch's variant and attempt, whether it was planned), or None when another worker (or
    an earlier run of this task) has it."""
    token = str(uuid.uuid4())
    claimed = session.connection().execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.edition_id == edition_id, SendBatch.state == BatchState.PENDING)
        .values(state=BatchState.SENDING, claim_token=token, claimed_at=now, attempts=SendBatch.attempts + 1)
        .returning(SendBatch.variant, SendBatch.attempts, SendBatch.members.is_not(None))
    ).first()
    return None if claimed is None else Claim(token, *claimed)


class Waiting(NamedTuple):
    """A reader of a batch not yet handed over."""
    delivery_id: int | None  # their pending row; None for a member with no row yet
    subscriber_id: int
    email: str
    name: str | None


def waiting_readers(session: Session, edition_id: int, batch_id: int, planned: bool) -> list[Waiting]:
    """The batch's readers not yet handed over, in one query by two indexes: the rows that name
    the batch (every row written for a member does), and its members' subscriber rows. Waiting:
    the pending rows, and the members with no row. (An anti-join of the members against the
    edition's rows let the planner hash all of the edition's rows, batch after batch.)"""
    rows = (select(Delivery.id, Delivery.subscriber_id, Delivery.email, Subscriber.name, Delivery.status)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id).where(Delivery.batch_id == batch_id))
    if planned:
        member, member_id = member_ids(session)
        rows = union_all(rows, select(null(), Subscriber.id, Subscriber.email, Subscriber.name, null())
                         .select_from(SendBatch).join(member, true()).join(Subscriber, Subscriber.id == member_id)
                         .where(SendBatch.id == batch_id))
    recorded, waiting, fresh = set(), [], []
    for delivery_id, subscriber_id, email, name, status in session.connection().execute(rows):
        if delivery_id is None:
            fresh.append(Waiting(None, subscriber_id, email, name))
            continue
        recorded.add(subscriber_id)
        if status == DeliveryStatus.PENDING:
            waiting.append(Waiting(delivery_id, subscriber_id, email, name))
    waiting += [reader for reader in fresh if reader.subscriber_id not in recorded]
    return sorted(waiting, key=lambda reader: reader.subscriber_id)


def waiting_count(session: Session, batch_id: int) -> int:
    """How many readers of the batch are not yet handed over, without reading them: its pending
    rows, and its members less the rows written for them (every row written for a member names
    the batch)."""
    size, planned = session.execute(select(SendBatch.size, SendBatch.members.is_not(None))
                                    .where(SendBatch.id == batch_id)).one()
    recorded = session.execute(select(func.count(), func.count().filter(Delivery.status == DeliveryStatus.PENDING))
                               .where(Delivery.batch_id == batch_id)).one()
    return (size - recorded[0] if planned else 0) + recorded[1]


def _wait_for_rate(session: Session, edition_id: int, batch_id: int) -> None:
    """Take this batch's slot in the shared schedule: sleep if it is near, else SendRateLimited.
    Only readers not yet handed over count, so a batch already sent takes no slot."""
    limiter = get_rate_limiter()
    if not limiter.enabled:
        return
    count = waiting_count(session, batch_id)
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
    batch = BatchRef(edition_id, batch_id, claim.variant)
    readers = waiting_readers(session, edition_id, batch_id, claim.planned)
    try:
        # Sent from the stored render, never re-rendered: a later feed update cannot change
        # what half of the readers receive.
        rendered = approved_render(session, edition, claim.variant)
    except Conflict:
        _release(session, batch_id, token)
        session.commit()
        raise
    sent, marked = 0, False
    if readers:
        outgoing = _outgoing_batch(edition, rendered, batch_id, readers)
        by_id = {reader.subscriber_id: reader for reader in readers}
        try:
            sent, marked = _hand_over(session, sender, outgoing, batch, by_id, claim, whole=True)
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
    if not marked:  # split, failed, or nothing left to send: its readers have rows of their own
        session.connection().execute(_mark_sent(batch_id, token, recorded_at=utcnow()))
    finish_edition_if_complete(session, edition_id, utcnow())
    return sent


def _mark_sent(batch_id: int, token: str, **values):
    """The batch is done, if this claim still holds it (reconciliation may have taken it for lost
    meanwhile, and written its readers as unknown)."""
    return (update(SendBatch).where(SendBatch.id == batch_id, SendBatch.claim_token == token,
                                    SendBatch.state == BatchState.SENDING)
            .values(state=BatchState.SENT, **values))


class BatchRef(NamedTuple):
    """What a batch's readers' rows carry of it."""
    edition_id: int
    batch_id: int
    variant: str


def _hand_over(session: Session, sender: Sender, outgoing: OutgoingBatch, batch: BatchRef,
               readers: dict[int, Waiting], claim: Claim, whole: bool) -> tuple[int, bool]:
    """Send one single-variant batch; a 413 is split in halves until the parts fit. Each part's
    outcome is committed as it comes: accepted readers are never released by a later part's
    retry. `whole`: `outgoing` is every reader of the claimed batch. Returns the readers handed
    over, and whether the batch row was marked sent."""
    part = [readers[recipient.reader_id] for recipient in outgoing.recipients]
    try:
        message_ids = sender.send(outgoing)
    except BatchTooLarge as exc:
        if len(outgoing.recipients) == 1:
            settle_readers(session, batch, part, DeliveryStatus.FAILED, error=str(exc))
            session.commit()
            return 0, False
        first, second = outgoing.split()
        sent_first, _ = _hand_over(session, sender, first, batch, readers, claim, whole=False)
        sent_second, _ = _hand_over(session, sender, second, batch, readers, claim, whole=False)
        return sent_first + sent_second, False
    except SendError as exc:
        if not exc.permanent or isinstance(exc, CredentialsRefused):
            raise
        settle_readers(session, batch, part, DeliveryStatus.FAILED, error=str(exc))
        session.commit()
        return 0, False
    now = utcnow()
    distinct = set(message_ids.values())
    marked = (whole and claim.planned and sender.message_id_per_request and len(distinct) == 1
              and len(message_ids) == len(part) and all(reader.delivery_id is None for reader in part))
    if marked:
        # Every reader in one request, none with a row: the batch row records them all. Its size
        # becomes theirs and its rows' (an earlier attempt's accepted part, failures): a member
        # erased since planning was not among them, and size less rows is what the row records.
        rows_already = select(func.count()).where(Delivery.batch_id == batch.batch_id).scalar_subquery()
        session.connection().execute(_mark_sent(batch.batch_id, claim.token, sent_at=now, message_id=distinct.pop(),
                                                size=len(part) + rows_already))
    else:
        settle_readers(session, batch, [readers[reader_id] for reader_id in message_ids], DeliveryStatus.ACCEPTED,
                       message_ids=message_ids, sent_at=now, error=None, attempts=claim.attempt)
    session.commit()
    record_deliveries_sent(len(message_ids))
    return len(message_ids), marked


def settle_readers(session: Session, batch: BatchRef, readers: list[Waiting], status: DeliveryStatus, *,
                   message_ids: dict[int, str] | None = None, **values) -> int:
    """Record what happened to readers of a batch not yet handed over: a pending row is updated
    (if still pending), a member without a row gets one. `message_ids` are by subscriber id.
    Returns the rows written.

    A member whose row was written meanwhile keeps it: a reconciliation that took the batch for
    lost (its request outlasted SEND_STUCK_AFTER_SECONDS) wrote them as unknown, and their
    events settle them."""
    message_ids = message_ids or {}
    pending = [reader for reader in readers if reader.delivery_id is not None]
    count = _record_new(session, batch, [reader for reader in readers if reader.delivery_id is None], status,
                        message_ids, values)
    if not pending:
        return count
    distinct = {message_ids.get(reader.subscriber_id) for reader in pending}
    if len(distinct) == 1:  # one message id for the request (SendGrid's), or none
        message = distinct.pop()
        count += session.connection().execute(
            update(Delivery).where(among(session, Delivery.id, [reader.delivery_id for reader in pending]),
                                   Delivery.status == DeliveryStatus.PENDING)
            .values(status=status, **values, **({"message_id": message} if message else {}))).rowcount
    else:  # a message id per reader (a backend's own): one row each
        session.execute(update(Delivery), [dict(id=reader.delivery_id, status=status,
                                                message_id=message_ids.get(reader.subscriber_id), **values)
                                           for reader in pending])
        count += len(pending)
    return count


# PostgreSQL: the new rows in one statement, whatever their number; the readers go as one JSON
# text ([subscriber id, address, message id] each), which the driver passes as it is (a list
# parameter is an array the driver writes element by element, several milliseconds a batch).
_INSERT_READERS = text("""
    INSERT INTO deliveries (edition_id, batch_id, variant, status, attempts, created_at, sent_at, error,
                            claim_token, claimed_at, subscriber_id, email, message_id)
    SELECT :edition_id, :batch_id, :variant, :status, :attempts, CAST(:created_at AS timestamptz),
           CAST(:sent_at AS timestamptz), CAST(:error AS text), CAST(:claim_token AS varchar),
           CAST(:claimed_at AS timestamptz), CAST(reader ->> 0 AS integer), reader ->> 1, reader ->> 2
    FROM json_array_elements(CAST(:readers AS json)) AS reader
    ON CONFLICT DO NOTHING""")
_ROW_VALUES = ("sent_at", "error", "claim_token", "claimed_at")


def _record_new(session: Session, batch: BatchRef, readers: list[Waiting], status: DeliveryStatus,
                message_ids: dict[int, str], values: dict) -> int:
    """Rows for members who had none, skipping any written meanwhile (a conflict on the
    edition and reader). Returns the rows written."""
    if not readers:
        return 0
    unknown = values.keys() - {*_ROW_VALUES, "attempts"}
    assert not unknown, f"a new delivery row has no {unknown}"
    fixed = dict(edition_id=batch.edition_id, batch_id=batch.batch_id, variant=batch.variant, status=status.value,
                 attempts=values.get("attempts", 0), created_at=utcnow(),
                 **{name: values.get(name) for name in _ROW_VALUES})
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        readers_json = json.dumps([[reader.subscriber_id, reader.email, message_ids.get(reader.subscriber_id)]
                                   for reader in readers])
        return connection.execute(_INSERT_READERS, dict(fixed, readers=readers_json)).rowcount
    fixed["status"] = status
    rows = [dict(fixed, subscriber_id=reader.subscriber_id, email=reader.email,
                 message_id=message_ids.get(reader.subscriber_id)) for reader in readers]
    return connection.execute(insert_ignoring_duplicates(session, Delivery.__table__), rows,
                              execution_options=KEEP_ROWCOUNT).rowcount


def _outgoing_batch(edition: Edition, rendered, batch_id: int, readers: list[Waiting]) -> OutgoingBatch:
    links = ReaderLinks(edition.id, batch_id)
    return edition_batch(edition, rendered, [links.recipient(reader.subscriber_id, reader.email, reader.name)
                                             for reader in readers])


class ReaderLinks:
    """What each reader of one edition carries of their own: unsubscribe and preference links,
    from which their placeholder values and headers are made (EditionReader). Made once per
    batch: the signers are keyed once, what readers share is made once, not per reader."""

    def __init__(self, edition_id: int, batch_id: int):
        settings = get_settings()
        # `?e=`: an unsubscribe or preference change through these links is credited to this edition.
        self.via = edition_query(edition_id)
        self.unsubscribe_token, self.preferences_token = token_maker(UNSUBSCRIBE), token_maker(PREFERENCES)
        self.unsubscribe_base, self.preferences_base = f"{settings.base_url}/u/", f"{settings.base_url}/p/"
        # A token is URL-safe text (hex, a dot, base64url), so the links are plain when these are.
        plain = all(is_plain(part) for part in (self.unsubscribe_base, self.preferences_base, self.via))
        self.alike = EditionReaders(edition_arg=str(edition_id), batch_arg=str(batch_id),
                                    mailto=f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe>",
                                    plain_links=plain)

    def recipient(self, subscriber_id: int, email: str, name: str | None) -> EditionReader:
        return EditionReader(subscriber_id, email, name,
                             f"{self.unsubscribe_base}{self.unsubscribe_token(subscriber_id)}{self.via}",
                             f"{self.preferences_base}{self.preferences_token(subscriber_id)}{self.via}",
                             self.alike)


def reader_recipient(edition_id: int, batch_id: int, subscriber_id: int, email: str,
                     name: str | None) -> EditionReader:
    """One reader's part of a message, as a send builds it: what the pre-send checklist builds its
    sample reader's message from."""
    return ReaderLinks(edition_id, batch_id).recipient(subscriber_id, email, name)


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


def give_up_batch(session: Session, edition_id: int, batch_id: int, error: str) -> int:
    """After the last retry: the batch's waiting readers fail visibly instead of waiting forever."""
    gave_up = session.execute(
        update(SendBatch).where(SendBatch.id == batch_id, SendBatch.edition_id == edition_id,
                                SendBatch.state == BatchState.PENDING).values(state=BatchState.FAILED)
        .returning(SendBatch.variant, SendBatch.members.is_not(None))
    ).first()
    failed = 0
    if gave_up is not None:
        variant, planned = gave_up
        failed = settle_readers(session, BatchRef(edition_id, batch_id, variant),
                                waiting_readers(session, edition_id, batch_id, planned),
                                DeliveryStatus.FAILED, error=error)
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
    """Readers by state: their rows, and the members of planned batches with no row yet (pending
    or `sending` with their batch, accepted once it is sent, cancelled with it). Pending rows of
    a batch in flight are counted as `sending`. A few statements over the edition's batch rows,
    whatever its size."""
    counts = {status.value: count for status, count in session.execute(
        select(Delivery.status, func.count()).where(Delivery.edition_id == edition_id).group_by(Delivery.status))}
    in_flight = session.scalar(
        select(func.count()).select_from(SendBatch)
        .join(Delivery, and_(Delivery.batch_id == SendBatch.id, Delivery.status == DeliveryStatus.PENDING))
        .where(SendBatch.edition_id == edition_id, SendBatch.state == BatchState.SENDING))
    _move(counts, DeliveryStatus.PENDING, DeliveryStatus.SENDING, in_flight)
    for (_, status), count in members_without_rows(session, [edition_id]).items():
        _move(counts, None, status, count)
    return counts


def _move(counts: dict[str, int], source: DeliveryStatus | None, target: DeliveryStatus, count: int) -> None:
    """Count `count` readers as `target` (taken from `source`), leaving out states with none."""
    if not count:
        return
    if source is not None:
        counts[source.value] -= count
        if not counts[source.value]:
            del counts[source.value]
    counts[target.value] = counts.get(target.value, 0) + count
