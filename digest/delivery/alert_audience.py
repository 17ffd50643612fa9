"""Who receives an alert, and which of its articles: the eligible readers, not 'digest only',
who follow at pace alert a topic one of its new articles is filed under, under ALERT_MAX_PER_DAY
alerts today. A reader's variant is the alert's new articles on the topics they follow, and the
articles carried into it that the cap held them back from on an earlier day (and their format):
readers who share those articles share one render."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.delivery.alert_carry import carry_over, clear_carried, start_of_today
from digest.editions.render import Variant
from digest.ledger.states import editions_received
from digest.store.locks import ALERT_CAP, take_turns
from digest.store.models import (AlertCarry, ArticleTopic, Edition, EditionItem, EditionKind, EditionStatus, Follow,
                                 Pace, Subscriber, SubscriberFormat)
from digest.subscribers.lifecycle import eligible_readers


def alert_readers(session: Session, edition: Edition, bounds: tuple[int, int],
                  now: dt.datetime) -> dict[Variant, list[int]]:
    """The readers of the slice `bounds` who receive this alert, by variant (ids in order).

    Under the same turn, the cap's consequences are written: the readers it holds back are owed
    their articles (delivery/alert_carry.py), and the articles carried into this alert that its
    readers get are owed no more."""
    by_position = {item.position: item.article_id for item in edition.items}
    carried = {item.position for item in edition.items if item.carried}
    words = max(by_position, default=0) // WORD_BITS + 1
    # Each topic of the alert's articles as the bits of those articles' positions, WORD_BITS to a
    # word: a reader's articles are the bit_or of their followed topics' bits, an aggregate that
    # costs next to nothing where an array a reader was most of the statement's time. The new
    # articles and the carried ones apart: a carried one is only for the readers owed it.
    new_bits: dict[int, list[int]] = {}
    carried_bits: dict[int, list[int]] = {}
    for topic_id, position in session.connection().execute(
            select(ArticleTopic.topic_id, EditionItem.position)
            .join(EditionItem, EditionItem.article_id == ArticleTopic.article_id)
            .where(EditionItem.edition_id == edition.id)):
        bits = carried_bits if position in carried else new_bits
        _set_bit(bits.setdefault(topic_id, [0] * words), position)
    if not new_bits:
        return {}
    new = [func.bit_or(_word(new_bits, Follow.topic_id, number)) for number in range(words)]
    chosen = new
    per_reader = select(Subscriber.id.label("subscriber_id"), Subscriber.format.label("format")).select_from(Follow)
    if carried:
        # A carried article is a reader's when they are owed it (a carry from before today) and
        # still follow one of its topics at pace alert: the bits of the owed articles AND-ed with
        # those of their followed topics. Joined to their follows: each carry row repeats per
        # follow, which bit_or does not mind.
        owed_bits: dict[int, list[int]] = {}
        for position in carried:
            _set_bit(owed_bits.setdefault(by_position[position], [0] * words), position)
        chosen = [new[number].bitwise_or(
            func.bit_or(_word(carried_bits, Follow.topic_id, number))
            .bitwise_and(func.bit_or(_word(owed_bits, AlertCarry.article_id, number))).self_group())
            for number in range(words)]
        per_reader = per_reader.outerjoin(AlertCarry, and_(
            AlertCarry.subscriber_id == Follow.subscriber_id, AlertCarry.article_id.in_(owed_bits),
            AlertCarry.created_at < start_of_today(now)))
    per_reader = (
        per_reader.add_columns(*(word.label(f"word{number}") for number, word in enumerate(chosen)))
        .join(Subscriber, Subscriber.id == Follow.subscriber_id)
        # The slice's bounds on the follow too: the index (topic, pace, reader) then reads only this
        # slice's followers, not every follower of the topic once per slice (a million readers:
        # 100 slices each reading the 280,000 followers took 52 s; bounded, 8 ms a slice).
        .where(Follow.topic_id.in_(sorted(new_bits.keys() | carried_bits.keys())), Follow.pace == Pace.ALERT,
               Follow.subscriber_id.between(*bounds), eligible_readers(now), Subscriber.digest_only.is_(False),
               Subscriber.id.between(*bounds))
        .group_by(Subscriber.id, Subscriber.format))
    if carried:  # a reader of a carried article's topics alone is not in this alert's audience
        per_reader = per_reader.having(or_(*(word != 0 for word in new)))
    # One slice at a time per block of readers, from here to its commit: two alerts planned at
    # once would each count the other's batches as not there yet, and pass the cap by one. Slices
    # are cut on this grid (plan.cut_slices): one block each, so an alert's own never wait.
    block = get_settings().SEND_PLAN_SLICE_SIZE
    take_turns(session, ALERT_CAP, (bounds[0] - 1) // block, (bounds[1] - 1) // block)
    per_reader = per_reader.subquery("per_reader")
    held_back = []
    if earlier := alerts_started_today(session, edition, now):
        # The daily cap in the same statement: the counts of a slice's readers stay in the database.
        # Joined to the followers once grouped (a few thousand), not to the slice's subscribers:
        # joined before, the planner hashed all 10,000 of them with their counts (bench/RESULTS.md).
        # The readers it holds back come out too, grouped the same way, to be owed their articles.
        received = editions_received(session, earlier, *bounds)
        capped = func.coalesce(received.c.received, 0) >= get_settings().ALERT_MAX_PER_DAY
        per_reader = (select(per_reader, capped.label("held_back"))
                      .outerjoin(received, received.c.subscriber_id == per_reader.c.subscriber_id)
                      .subquery("capped"))
        held_back = [per_reader.c.held_back]
    # Grouped again by what each reader gets: a row per distinct choice (a handful in a slice of
    # thousands of readers) with its readers' ids, so Python never handles a row per reader.
    choice = [*held_back, per_reader.c.format, *(per_reader.c[f"word{number}"] for number in range(words))]
    postgres = session.get_bind().dialect.name == "postgresql"
    gathered = func.array_agg(per_reader.c.subscriber_id) if postgres else func.group_concat(per_reader.c.subscriber_id)
    every = tuple(sorted(by_position.values()))
    readers: dict[Variant, list[int]] = {}
    owed: list[tuple[int, int]] = []
    given: list[tuple[int, int]] = []
    for row in session.connection().execute(select(*choice, gathered).group_by(*choice)):
        capped, chosen_format, *masks, subscriber_ids = row if held_back else (False, *row)
        positions = [number * WORD_BITS + bit for number, mask in enumerate(masks)
                     for bit in range(WORD_BITS) if mask >> bit & 1]
        articles = tuple(sorted(by_position[position] for position in positions))
        ids = sorted(subscriber_ids if postgres else [int(value) for value in subscriber_ids.split(",")])
        if capped:
            owed += [(reader, article) for reader in ids for article in articles]
            continue
        given += [(reader, by_position[position]) for reader in ids for position in positions if position in carried]
        variant = Variant(text_only=chosen_format == SubscriberFormat.TEXT,
                          articles=() if articles == every else articles)
        readers[variant] = ids
    carry_over(session, edition.id, owed, now)
    clear_carried(session, given)
    return readers


def _set_bit(words: list[int], position: int) -> None:
    words[position // WORD_BITS] |= 1 << position % WORD_BITS


def _word(bits: dict[int, list[int]], column, number: int):
    """The `number`th word of the bits of the row's `column` value (a topic, an article), 0 if none."""
    return cast(case({key: word[number] for key, word in bits.items()}, value=column, else_=0), BigInteger)


# The bits of a signed 64-bit integer given to articles' positions (the sign bit left alone).
WORD_BITS = 62


def alerts_started_today(session: Session, edition: Edition, now: dt.datetime) -> list[int]:
    """The other alerts that began sending since midnight, local time (PUBLICATION_TZ)."""
    midnight = start_of_today(now)
    return list(session.connection().scalars(select(Edition.id).where(
        Edition.kind == EditionKind.ALERT, Edition.id != edition.id, Edition.started_at >= midnight,
        Edition.status != EditionStatus.CANCELLED)))
