"""Start a due approved edition: verify it is what was approved, write one delivery row per
eligible reader in set-based statements, give each row its variant, and cut batches."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Text, and_, cast, exists, literal, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.message import Sender
from digest.delivery.send import finish_edition_if_complete
from digest.editions.approve import store_render, void_approval
from digest.editions.lookup import get_edition
from digest.editions.render import DEFAULT_VARIANT, edition_sections, render_edition, variant_for
from digest.errors import Conflict
from digest.store.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    Subscriber,
    SubscriberFormat,
    SubscriberStatus,
    Suppression,
)


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


def start_edition(session: Session, edition_id: int, now: dt.datetime | None = None,
                  sender: Sender | None = None) -> list[list[int]]:
    """Move a due approved edition to sending and plan its deliveries.

    Returns the batches of delivery ids to send (enqueue them after commit); [] when the edition
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
    plan_deliveries(session, edition, now)
    batches = pending_batches(session, edition_id)
    if not batches:
        finish_edition_if_complete(session, edition_id, now)
    return batches


def eligible_readers():
    """Who receives an edition: confirmed, not paused, and the address not suppressed."""
    suppressed = exists().where(Suppression.email == Subscriber.email)
    return and_(Subscriber.status == SubscriberStatus.CONFIRMED, Subscriber.paused.is_(False), ~suppressed)


def plan_deliveries(session: Session, edition: Edition, now: dt.datetime) -> dict[str, int]:
    """One pending row per eligible reader, labelled with its variant, written by one
    INSERT ... SELECT per group of readers who made the same choice (a handful of statements,
    whatever the number of readers; no Python loop over readers).

    Each variant the readers need is rendered once, from the edition just verified against the
    approved hash, and stored. Returns the number of rows planned per variant."""
    sections = edition_sections(edition)
    choice = cast(Subscriber.sections, Text)
    groups = session.execute(
        select(choice, Subscriber.format).where(eligible_readers()).group_by(choice, Subscriber.format)
    ).all()
    stored = {DEFAULT_VARIANT.key}
    planned: dict[str, int] = {}
    for chosen_json, chosen_format in groups:
        variant = variant_for(sections, json.loads(chosen_json or "[]"), chosen_format == SubscriberFormat.TEXT)
        if variant is None:
            continue  # nothing in this edition is in the sections these readers chose
        if variant.key not in stored:
            store_render(session, edition.id, variant.key, render_edition(edition, variant))
            stored.add(variant.key)
        readers = select(
            literal(edition.id), Subscriber.id, Subscriber.email, literal(variant.key),
            literal(DeliveryStatus.PENDING.value), literal(0), literal(now, type_=Delivery.created_at.type),
        ).where(eligible_readers(), choice == chosen_json, Subscriber.format == chosen_format)
        # A plain INSERT: only the one call that moved the edition from approved to sending gets
        # here, so no row exists yet; the unique (edition, subscriber) index still refuses a
        # second one. (A NOT EXISTS guard costs a per-row check, and against a freshly imported
        # table's statistics the planner may turn it into a scan per reader.)
        insert = Delivery.__table__.insert().from_select(
            ["edition_id", "subscriber_id", "email", "variant", "status", "attempts", "created_at"], readers)
        count = session.execute(insert).rowcount
        planned[variant.key] = planned.get(variant.key, 0) + count
    return planned


def pending_batches(session: Session, edition_id: int) -> list[list[int]]:
    """Pending rows cut into batches of at most SEND_BATCH_SIZE, each of one variant."""
    size = get_settings().SEND_BATCH_SIZE
    # Streamed (a server-side cursor on PostgreSQL): a million rows never sit in memory as rows,
    # only as the ids of the batches.
    rows = session.execute(
        select(Delivery.variant, Delivery.id)
        .where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.PENDING)
        .order_by(Delivery.variant, Delivery.id)
        .execution_options(yield_per=20_000)
    )
    batches: list[list[int]] = []
    current_variant = object()
    for variant, delivery_id in rows:
        if variant != current_variant or len(batches[-1]) >= size:
            batches.append([])
            current_variant = variant
        batches[-1].append(delivery_id)
    return batches
