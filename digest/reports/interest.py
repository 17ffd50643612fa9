"""A reader's interest: the topics of the articles they clicked themselves (clicks a machine made
are not theirs) over the latest INTEREST_EDITIONS digests, for the editors' page of that reader,
their own data (`digest subscribers show`) and the topics their preference page suggests. Read from their kept click events, so erasing the
reader (`digest subscribers forget` deletes their events) erases it; nothing of it is stored or
sent anywhere."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Integer, Select, and_, bindparam, func, select
from sqlalchemy.orm import Session

from digest.reports.trends import latest_sent_ids
from digest.store.models import ArticleTopic, DeliveryEvent, EditionLink, Topic
from digest.topics.keys import merged_totals


def reader_interest(session: Session, subscriber_id: int, editions: int, limit: int = 12) -> list[dict]:
    """Topics by the articles the reader clicked under them (then by clicks): kind, name,
    articles, clicks. A topic merged since is shown as the one it joined."""
    return [{"topic_id": topic.id, "kind": topic.kind.value, "name": topic.name, "articles": articles,
             "clicks": clicks} for topic, articles, clicks in _interest(session, subscriber_id, editions, limit)]


def suggested_from(session: Session, rows: list, followed: set[int], limit: int = 5) -> list:
    """The topics a reader's preference page suggests (id, kind and name), from the rows of
    interest_query (reports/preference_read.py reads them with the page): their interest,
    most clicked first, leaving out the topics they follow (`followed`, ids) and what is not
    offered (hidden)."""
    interest = _totals(session, rows, limit * 4)
    return [topic for topic, _, _ in interest if not topic.hidden and topic.id not in followed][:limit]


def _interest(session: Session, subscriber_id: int, editions: int, limit: int) -> list[tuple]:
    """reader_interest's topics (each with id, kind, name and hidden), articles and clicks, in its
    order. One statement: the clicked topics come with their columns."""
    rows = session.connection().execute(_interest_statement(),
                                        {"subscriber_id": subscriber_id, "editions": editions}).all()
    return _totals(session, rows, limit)


def _totals(session: Session, rows: list, limit: int) -> list[tuple]:
    """The rows of interest_query as _interest answers them: (topic, articles, clicks), in order."""
    if any(row.merged_into_id is not None for row in rows):
        # Rare (a merge files the alias's articles under the topic it joined): added up under that one.
        counted = merged_totals(session, {row.id: (row.articles, row.clicks) for row in rows})
        totals = [(topic, articles, clicks) for topic, (articles, clicks) in counted]
    else:
        totals = [(row, row.articles, row.clicks) for row in rows]
    return sorted(totals, key=lambda t: (-t[1], -t[2], t[0].kind.value, t[0].name))[:limit]


@lru_cache(maxsize=1)
def _interest_statement():
    """_interest's statement, made once (building it and its cache key anew cost every preference
    page about a tenth of its time): the reader and the number of editions are its parameters,
    the latest editions its subquery."""
    return interest_query(bindparam("subscriber_id"), bindparam("editions", type_=Integer))


def interest_query(subscriber_id, editions) -> Select:
    """The topics of what the reader clicked over the latest `editions` digests, each with its
    columns, the articles clicked under it and the clicks (both may be parameters of a statement
    made once)."""
    latest = latest_sent_ids(editions).scalar_subquery()
    return (select(Topic.id, Topic.kind, Topic.name, Topic.hidden, Topic.merged_into_id,
                   func.count(EditionLink.article_id.distinct()).label("articles"), func.count().label("clicks"))
            .select_from(DeliveryEvent)
            .join(EditionLink, and_(EditionLink.edition_id == DeliveryEvent.edition_id,
                                    EditionLink.url == DeliveryEvent.url))
            .join(ArticleTopic, ArticleTopic.article_id == EditionLink.article_id)
            .join(Topic, Topic.id == ArticleTopic.topic_id)
            .where(DeliveryEvent.subscriber_id == subscriber_id, DeliveryEvent.event == "click",
                   DeliveryEvent.audience == "human", DeliveryEvent.edition_id.in_(latest))
            .group_by(Topic.id))
