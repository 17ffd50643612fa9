"""What the alert benchmarks are made of: tag topics, readers' follows written by COPY, and a held
alert of one new article filed under some of the tags, made by the poll's own code."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from digest.alerts.compose import collect_new_articles
from digest.alerts.release import release_held_alerts
from digest.store.bulk import write_rows
from digest.store.models import Article, ArticleTopic, Edition, Feed, Follow, Pace, Subscriber, Topic, TopicKind


def add_tags(session: Session, count: int) -> list[int]:
    """`count` tag topics ("Tag 1" the most followed in the Zipf draws); their ids in rank order."""
    topics = [Topic(kind=TopicKind.TAG, key=f"tag {rank}", name=f"Tag {rank}") for rank in range(1, count + 1)]
    session.add_all(topics)
    session.flush()
    return [topic.id for topic in topics]


def zipf_follows(reader_ids: Sequence[int], tags: Sequence[int], alert_share: float, now: dt.datetime,
                 seed: int = 25) -> Iterator[tuple]:
    """Each reader follows 1 to 6 distinct tags drawn by Zipf's law (weight 1/rank), each follow at
    pace alert with probability `alert_share`: rows for write_rows (Follow's columns)."""
    draw = random.Random(seed)
    cumulative, total = [], 0.0
    for rank in range(1, len(tags) + 1):
        total += 1 / rank
        cumulative.append(total)
    for reader in reader_ids:
        wanted = draw.randint(1, 6)
        chosen: list[int] = []
        while len(chosen) < wanted:
            for tag in draw.choices(tags, cum_weights=cumulative, k=wanted * 2):
                if tag not in chosen and len(chosen) < wanted:
                    chosen.append(tag)
        for tag in chosen:
            yield reader, tag, Pace.ALERT.value if draw.random() < alert_share else Pace.DIGEST.value, now


FOLLOW_COLUMNS = ("subscriber_id", "topic_id", "pace", "created_at")


def add_follows(session: Session, rows: Iterator[tuple]) -> int:
    return write_rows(session, Follow.__table__, FOLLOW_COLUMNS, rows)


def reader_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))


def make_digest_only(session: Session, every: int) -> int:
    """Every `every`-th reader chooses 'digest only'; how many."""
    return session.execute(update(Subscriber).where(Subscriber.id % every == 0).values(digest_only=True)).rowcount


def new_alert(session: Session, tags: Sequence[int], now: dt.datetime, name: str = "alert") -> int:
    """A new article filed under `tags`, gathered into a held alert as a poll does; the alert's id."""
    feed = session.scalar(select(Feed).limit(1))
    if feed is None:
        feed = Feed(url="http://127.0.0.1/bench-alerts.feed")
        session.add(feed)
        session.flush()
    article = Article(feed_id=feed.id, entry_key=name, url=f"https://example.org/{name}", title=f"New on {name}",
                      section="Analytical Articles", summary_html="<p>" + "A lead sentence. " * 30 + "</p>",
                      content_html="", content_hash=name, published_at=now, authors="A. Author")
    session.add(article)
    session.flush()
    session.add_all(ArticleTopic(article_id=article.id, topic_id=tag) for tag in tags)
    session.flush()
    alert = collect_new_articles(session, [article.id], now)
    assert alert is not None, "nobody follows these tags at pace alert"
    return alert.id


def end_hold(session: Session, alert_id: int, now: dt.datetime) -> None:
    session.execute(update(Edition).where(Edition.id == alert_id).values(hold_until=now - dt.timedelta(seconds=1)))


def release(session: Session, alert_id: int, now: dt.datetime) -> None:
    """The hold ends and the alert is approved (what beat's tick does first)."""
    end_hold(session, alert_id, now)
    assert release_held_alerts(session, now) == [alert_id], "the alert was held for an editor"


def count_followers(session: Session, tags: Sequence[int], pace: Pace | None = None) -> int:
    query = select(func.count(func.distinct(Follow.subscriber_id))).where(Follow.topic_id.in_(tags))
    if pace is not None:
        query = query.where(Follow.pace == pace)
    return session.scalar(query)
