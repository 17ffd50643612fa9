"""Who receives an alert, and which of its articles: the eligible readers, not 'digest only',
who follow at pace alert a topic one of its articles is filed under, under ALERT_MAX_PER_DAY
alerts today. A reader's variant is the alert's articles on the topics they follow (and their
format): readers who share those articles share one render."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, case, cast, func, select
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.editions.render import Variant
from digest.ledger.states import editions_received
from digest.store.locks import ALERT_CAP, take_turns
from digest.store.models import (ArticleTopic, Edition, EditionItem, EditionKind, EditionStatus, Follow, Pace,
                                 Subscriber, SubscriberFormat)
from digest.subscribers.lifecycle import eligible_readers


def alert_readers(session: Session, edition: Edition, bounds: tuple[int, int],
                  now: dt.datetime) -> dict[Variant, list[int]]:
    """The readers of the slice `bounds` who receive this alert, by variant (ids in order)."""
    by_position = {item.position: item.article_id for item in edition.items}
    words = max(by_position, default=0) // WORD_BITS + 1
    # Each topic of the alert's articles as the bits of those articles' positions, WORD_BITS to a
    # word: a reader's articles are the bit_or of their followed topics' bits, an aggregate that
    # costs next to nothing where an array a reader was most of the statement's time.
    bits: dict[int, list[int]] = {}
    for topic_id, position in session.connection().execute(
            select(ArticleTopic.topic_id, EditionItem.position)
            .join(EditionItem, EditionItem.article_id == ArticleTopic.article_id)
            .where(EditionItem.edition_id == edition.id)):
        bits.setdefault(topic_id, [0] * words)[position // WORD_BITS] |= 1 << position % WORD_BITS
    if not bits:
        return {}
    chosen = [func.bit_or(cast(case({topic: word[number] for topic, word in bits.items()}, value=Follow.topic_id,
                                    else_=0), BigInteger)).label(f"word{number}")
              for number in range(words)]
    per_reader = (
        select(Subscriber.id.label("subscriber_id"), Subscriber.format.label("format"), *chosen)
        .select_from(Follow)
        .join(Subscriber, Subscriber.id == Follow.subscriber_id)
        # The slice's bounds on the follow too: the index (topic, pace, reader) then reads only this
        # slice's followers, not every follower of the topic once per slice (a million readers:
        # 100 slices each reading the 280,000 followers took 52 s; bounded, 8 ms a slice).
        .where(Follow.topic_id.in_(bits), Follow.pace == Pace.ALERT, Follow.subscriber_id.between(*bounds),
               eligible_readers(now), Subscriber.digest_only.is_(False), Subscriber.id.between(*bounds))
        .group_by(Subscriber.id, Subscriber.format))
    # One slice at a time per block of readers, from here to its commit: two alerts planned at
    # once would each count the other's batches as not there yet, and pass the cap by one. Slices
    # are cut on this grid (plan.cut_slices): one block each, so an alert's own never wait.
    block = get_settings().SEND_PLAN_SLICE_SIZE
    take_turns(session, ALERT_CAP, (bounds[0] - 1) // block, (bounds[1] - 1) // block)
    per_reader = per_reader.subquery("per_reader")
    if earlier := alerts_started_today(session, edition, now):
        # The daily cap in the same statement: the counts of a slice's readers stay in the database.
        # Joined to the followers once grouped (a few thousand), not to the slice's subscribers:
        # joined before, the planner hashed all 10,000 of them with their counts (bench/RESULTS.md).
        received = editions_received(session, earlier, *bounds)
        per_reader = (select(per_reader).outerjoin(received, received.c.subscriber_id == per_reader.c.subscriber_id)
                      .where(func.coalesce(received.c.received, 0) < get_settings().ALERT_MAX_PER_DAY)
                      .subquery("capped"))
    # Grouped again by what each reader gets: a row per distinct choice (a handful in a slice of
    # thousands of readers) with its readers' ids, so Python never handles a row per reader.
    choice = [per_reader.c.format, *(per_reader.c[f"word{number}"] for number in range(words))]
    postgres = session.get_bind().dialect.name == "postgresql"
    gathered = func.array_agg(per_reader.c.subscriber_id) if postgres else func.group_concat(per_reader.c.subscriber_id)
    every = tuple(sorted(by_position.values()))
    readers: dict[Variant, list[int]] = {}
    choices = select(*choice, gathered).group_by(*choice)
    for chosen_format, *masks, subscriber_ids in session.connection().execute(choices):
        articles = tuple(sorted(by_position[number * WORD_BITS + bit] for number, mask in enumerate(masks)
                                for bit in range(WORD_BITS) if mask >> bit & 1))
        variant = Variant(text_only=chosen_format == SubscriberFormat.TEXT,
                          articles=() if articles == every else articles)
        ids = subscriber_ids if postgres else [int(value) for value in subscriber_ids.split(",")]
        readers[variant] = sorted(ids)
    return readers


# The bits of a signed 64-bit integer given to articles' positions (the sign bit left alone).
WORD_BITS = 62


def alerts_started_today(session: Session, edition: Edition, now: dt.datetime) -> list[int]:
    """The other alerts that began sending since midnight, local time (PUBLICATION_TZ)."""
    tz = get_settings().tz
    midnight = dt.datetime.combine(now.astimezone(tz).date(), dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    return list(session.connection().scalars(select(Edition.id).where(
        Edition.kind == EditionKind.ALERT, Edition.id != edition.id, Edition.started_at >= midnight,
        Edition.status != EditionStatus.CANCELLED)))
