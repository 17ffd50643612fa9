"""Start a due approved edition and plan it: verify it is what was approved, cut the subscriber
list into slices of ids, and plan each slice (its own task in the workers, in parallel): its
eligible readers cut into send batches of one variant, each batch a row naming its readers. No
delivery row is written at planning: a reader's row is written when something happens to them
(digest.delivery.send). The batches of a slice are sent as soon as the slice commits, while later
slices are still being planned; no transaction grows with the list."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from itertools import groupby

from sqlalchemy import String, Text, and_, cast, func, insert, select, type_coerce, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.message import Sender
from digest.delivery.send import finish_edition_if_complete
from digest.editions.approve import void_approval
from digest.editions.lookup import get_edition
from digest.delivery.alert_audience import alert_readers
from digest.delivery.alert_carry import clear_carried, owed_in_slice
from digest.delivery.digest_audience import alerted_articles
from digest.editions.render import DEFAULT_VARIANT, Variant, edition_sections, render_edition, variant_for
from digest.errors import Conflict
from digest.store.models import (
    BatchState,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionKind,
    EditionRender,
    EditionStatus,
    PlanSlice,
    SendBatch,
    Subscriber,
    SubscriberFormat,
)
from digest.store.upsert import among, insert_ignoring_duplicates
from digest.subscribers.lifecycle import eligible_readers

def send_ahead(sender: Sender) -> dt.timedelta:
    """How early the beat tick may start an approved edition: SEND_SCHEDULE_AHEAD_MINUTES with a
    backend that holds scheduled sends until send_at, otherwise not at all."""
    minutes = get_settings().SEND_SCHEDULE_AHEAD_MINUTES if sender.scheduled_sends else 0
    return dt.timedelta(minutes=minutes)


def release_edition(session: Session, edition_id: int, now: dt.datetime | None = None) -> Edition:
    """An editor's "send now": an approved edition becomes due at once."""
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.APPROVED:
        raise Conflict(f"edition {edition_id} is {edition.status.value}; approve it before sending")
    edition.send_at = min(edition.send_at, now or utcnow())
    return edition


def open_edition(session: Session, edition_id: int, now: dt.datetime | None = None,
                 sender: Sender | None = None) -> list[int]:
    """Move a due approved edition to sending and cut its plan into slices.

    Returns the numbers of the slices to plan (enqueue them after commit); [] when the edition
    was not approved (already started by another tick, or voided). An edition started ahead of
    its send time by a backend with cancellable batches gets a provider batch id, so the
    scheduled send can still be cancelled."""
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
    if edition.send_at > now and sender is not None and sender.cancellable_batches:
        edition.provider_batch_id = sender.create_batch_id()
    return cut_slices(session, edition_id)


def cut_slices(session: Session, edition_id: int) -> list[int]:
    """Slices of SEND_PLAN_SLICE_SIZE subscriber ids, from the first subscriber to the last
    (a primary-key lookup each end, whatever the size of the list), on one grid for every
    edition: ids 1 to SEND_PLAN_SLICE_SIZE, and so on. A slice of an alert is then one block of
    readers, whose turn it takes against the other alerts' (alert_audience.py)."""
    first, last = session.execute(select(func.min(Subscriber.id), func.max(Subscriber.id))).one()
    if first is None:
        session.flush()
        finish_edition_if_complete(session, edition_id, utcnow())
        return []
    size = get_settings().SEND_PLAN_SLICE_SIZE
    slices = [dict(edition_id=edition_id, number=number, first_subscriber_id=start,
                   last_subscriber_id=min(start + size - 1, last))
              for number, start in enumerate(range(first - (first - 1) % size, last + 1, size))]
    session.execute(insert(PlanSlice), slices)
    return [s["number"] for s in slices]


def start_edition(session: Session, edition_id: int, now: dt.datetime | None = None,
                  sender: Sender | None = None) -> list[int]:
    """Open the edition and plan every slice in this transaction; returns the batch ids to send.
    For callers in one process (the demo, tests) with short lists: the workers plan each slice
    in its own task (open_edition, then plan_slice)."""
    batches: list[int] = []
    for number in open_edition(session, edition_id, now, sender):
        batches += plan_slice(session, edition_id, number, now)
    return batches


def plan_slice(session: Session, edition_id: int, number: int, now: dt.datetime | None = None) -> list[int]:
    """Plan one slice: the eligible readers in its id range, cut into batches of at most
    SEND_BATCH_SIZE readers of one variant. Returns the batch ids to send now ([] if the slice
    was planned already, or the edition is no longer sending).

    A fixed number of statements whatever the slice holds: the readers are read in one query
    and the batches written in one. A slice is claimed with a conditional UPDATE in the same
    transaction as its batches, so a task that runs twice plans nothing twice."""
    now = now or utcnow()
    # Shared lock on the edition: a cancel (which updates the edition row first) waits for this
    # slice to commit, then cancels its rows too; slices planned after it see it cancelled.
    status = session.scalar(select(Edition.status).where(Edition.id == edition_id).with_for_update(read=True))
    bounds = session.execute(
        update(PlanSlice).where(PlanSlice.edition_id == edition_id, PlanSlice.number == number,
                                PlanSlice.planned_at.is_(None))
        .values(planned_at=now).returning(PlanSlice.first_subscriber_id, PlanSlice.last_subscriber_id)
    ).first()
    if bounds is None or status not in (EditionStatus.SENDING, EditionStatus.PAUSED):
        return []
    edition = get_edition(session, edition_id, article_texts=False)
    readers_by_variant = _alert_readers if edition.kind == EditionKind.ALERT else _digest_readers
    by_variant = readers_by_variant(session, edition, bounds, now)
    size = get_settings().SEND_BATCH_SIZE
    cuts = [(key, group[start:start + size]) for key, group in sorted(by_variant.items())
            for start in range(0, len(group), size)]
    if not cuts:
        finish_edition_if_complete(session, edition_id, now)
        return []
    batch_ids = list(session.scalars(
        insert(SendBatch).returning(SendBatch.id, sort_by_parameter_order=True),
        [dict(edition_id=edition_id, variant=key, size=len(members), members=members, first_member_id=min(members),
              last_member_id=max(members), state=BatchState.PENDING, attempts=0, created_at=now)
         for key, members in cuts]))
    return batch_ids if status == EditionStatus.SENDING else []


def _digest_readers(session: Session, edition: Edition, bounds, now: dt.datetime) -> dict[str, list[int]]:
    """The slice's eligible readers by the variant of the digest they receive (their sections and
    format, the articles an alert brought them); a reader none of whose sections is in the edition
    receives nothing. ("For you" is each reader's own, filled when their batch is sent.)"""
    alerted = {subscriber_id: tuple(sorted(articles.items()))
               for subscriber_id, articles in alerted_articles(session, edition, bounds).items()}
    owed = owed_in_slice(session, [item.article_id for item in edition.items], bounds)
    variant_of, shown = _variant_keys(session, edition)
    by_variant: dict[str, list[int]] = {}
    given: list[tuple[int, int]] = []
    for chosen, chosen_format, readers in _readers_by_choice(session, bounds, now):
        # A reader an alert brought some of the edition's articles has a variant of their own.
        own = [reader for reader in readers if reader in alerted] if alerted else []
        plain = [reader for reader in readers if reader not in alerted] if own else readers
        placed = [(variant_of(chosen, chosen_format, ()), plain),
                  *((variant_of(chosen, chosen_format, alerted[reader]), [reader]) for reader in own)]
        for key, members in placed:
            if key is None:  # nothing in this edition is in the sections they chose
                continue
            by_variant.setdefault(key, []).extend(members)
            # An article the daily cap held back from a reader, which this digest shows them, is
            # no longer carried into their next alert.
            if owed:
                given += [(reader, article) for reader in members if reader in owed
                          for article in owed[reader] if article in shown[key]]
    clear_carried(session, given)
    return {key: sorted(readers) for key, readers in by_variant.items()}


def _readers_by_choice(session: Session, bounds, now: dt.datetime) -> list[tuple[str | None, str, list[int]]]:
    """The slice's eligible readers grouped by what they chose (sections as stored JSON text,
    format), each group's ids as one list: the database groups them, so that planning costs
    Python per distinct choice, not per reader (a reader read and keyed one at a time was most of
    a slice's CPU)."""
    sections = cast(Subscriber.sections, Text)
    postgresql = session.get_bind().dialect.name == "postgresql"
    ids = func.array_agg(Subscriber.id) if postgresql else func.json_group_array(Subscriber.id)
    rows = session.connection().execute(
        select(sections, type_coerce(Subscriber.format, String), ids)
        .where(eligible_readers(now), Subscriber.id.between(*bounds)).group_by(sections, Subscriber.format)
    ).all()
    return [(chosen, chosen_format, readers if postgresql else json.loads(readers))
            for chosen, chosen_format, readers in rows]


def _alert_readers(session: Session, edition: Edition, bounds, now: dt.datetime) -> dict[str, list[int]]:
    """The slice's readers of an alert by variant (the alert's articles on the topics they follow)."""
    store = _render_store(session, edition)
    return {store(variant): readers for variant, readers in alert_readers(session, edition, bounds, now).items()}


def _render_store(session: Session, edition: Edition):
    """A function that returns a variant's key, rendering and storing the variant the first time
    it is met (from the edition just verified against the approved hash). Slices planned at the
    same time may both store it; the unique (edition, variant) index keeps one."""
    stored = set(session.scalars(select(EditionRender.variant).where(EditionRender.edition_id == edition.id)))
    stored.add(DEFAULT_VARIANT.key)

    def key_of(variant: Variant) -> str:
        if variant.key not in stored:
            rendered = render_edition(edition, variant)
            session.execute(insert_ignoring_duplicates(session, EditionRender.__table__).values(
                edition_id=edition.id, variant=variant.key, subject=rendered.subject, html=rendered.html,
                text=rendered.text, content_hash=rendered.content_hash, created_at=utcnow()))
            stored.add(variant.key)
        return variant.key

    return key_of


def _variant_keys(session: Session, edition: Edition):
    """The variant key for a reader's choice (sections as stored JSON text, format) and the
    edition's articles an alert brought them ((article id, date) pairs), computed once per
    distinct combination. Without alerts, the key of the sections and format alone. Returned
    with the articles each key shows (by id)."""
    sections = edition_sections(edition)
    in_order = [(item.article_id, item.article.section or "Articles") for item in edition.items]
    store = _render_store(session, edition)
    known: dict[tuple, str | None] = {}
    shown_by_key: dict[str, set[int]] = {}

    def key_of(chosen: str | None, chosen_format, alerted: tuple[tuple[int, str], ...]) -> str | None:
        choice = (chosen, chosen_format, alerted)
        if choice not in known:
            variant = variant_for(sections, json.loads(chosen or "[]"), chosen_format == SubscriberFormat.TEXT)
            if variant is not None:
                shown = [article_id for article_id, name in in_order
                         if not variant.sections or name in variant.sections]
                sent_on = dict(alerted)
                variant = replace(variant, already_sent=tuple((a, sent_on[a]) for a in shown if a in sent_on))
                shown_by_key[store(variant)] = set(shown)
            known[choice] = None if variant is None else variant.key
        return known[choice]

    return key_of, shown_by_key


def unplanned_slices(session: Session, edition_id: int, number: int | None = None) -> list[int]:
    """The edition's slices not yet planned; with `number`, that slice alone if it is one."""
    query = select(PlanSlice.number).where(PlanSlice.edition_id == edition_id, PlanSlice.planned_at.is_(None))
    if number is not None:
        query = query.where(PlanSlice.number == number)
    return list(session.scalars(query.order_by(PlanSlice.number)))


def batches_to_send(session: Session, edition_id: int) -> list[int]:
    """The edition's batches waiting for a worker, after giving a batch to every pending row that
    no live batch owns (rows made pending again by a retry or a re-send, or planned before
    batches were rows). Those rows are few: they are read and moved one statement per batch."""
    orphans = session.execute(
        select(Delivery.id, Delivery.variant)
        .outerjoin(SendBatch, and_(SendBatch.id == Delivery.batch_id, SendBatch.state.in_(BatchState.live())))
        .where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.PENDING, SendBatch.id.is_(None))
        .order_by(Delivery.variant, Delivery.id)
    ).all()
    size = get_settings().SEND_BATCH_SIZE
    now = utcnow()
    for key, group in groupby(orphans, key=lambda row: row.variant or DEFAULT_VARIANT.key):
        ids = [row.id for row in group]
        for start in range(0, len(ids), size):
            members = ids[start:start + size]
            batch_id = session.scalar(insert(SendBatch).returning(SendBatch.id).values(
                edition_id=edition_id, variant=key, size=len(members), state=BatchState.PENDING, attempts=0,
                created_at=now))
            session.execute(update(Delivery).where(among(session, Delivery.id, members))
                            .values(batch_id=batch_id), execution_options={"synchronize_session": False})
    return list(session.scalars(select(SendBatch.id).where(
        SendBatch.edition_id == edition_id, SendBatch.state == BatchState.PENDING).order_by(SendBatch.id)))

