"""A reader's interest: the topics of the articles they clicked themselves (clicks a machine made
are not theirs) over the latest INTEREST_EDITIONS digests, for the editors' page of that reader,
their own data (`digest subscribers show`) and the topics their preference page suggests. Read from their kept click events, so erasing the
reader (`digest subscribers forget` deletes their events) erases it; nothing of it is stored or
sent anywhere."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.reports.trends import latest_sent_ids
from digest.store.models import ArticleTopic, DeliveryEvent, EditionLink, Topic
from digest.topics.keys import merged_totals


def reader_interest(session: Session, subscriber_id: int, editions: int, limit: int = 12) -> list[dict]:
    """Topics by the articles the reader clicked under them (then by clicks): kind, name,
    articles, clicks. A topic merged since is shown as the one it joined."""
    # The latest editions as a subquery: one statement, every reader's preference page reads it.
    rows = session.execute(
        select(ArticleTopic.topic_id, func.count(EditionLink.article_id.distinct()), func.count())
        .select_from(DeliveryEvent)
        .join(EditionLink, and_(EditionLink.edition_id == DeliveryEvent.edition_id, EditionLink.url == DeliveryEvent.url))
        .join(ArticleTopic, ArticleTopic.article_id == EditionLink.article_id)
        .where(DeliveryEvent.subscriber_id == subscriber_id, DeliveryEvent.event == "click",
               DeliveryEvent.audience == "human",
               DeliveryEvent.edition_id.in_(latest_sent_ids(editions).scalar_subquery()))
        .group_by(ArticleTopic.topic_id)).all()
    shown = [{"topic_id": topic.id, "kind": topic.kind.value, "name": topic.name, "articles": articles,
              "clicks": clicks}
             for topic, (articles, clicks) in merged_totals(session, {row[0]: tuple(row[1:]) for row in rows})]
    return sorted(shown, key=lambda t: (-t["articles"], -t["clicks"], t["kind"], t["name"]))[:limit]


def suggested_topics(session: Session, subscriber_id: int, followed: set[int], limit: int = 5) -> list[Topic]:
    """The topics a reader's preference page suggests: their interest, most clicked first,
    leaving out the topics they follow (`followed`, ids) and what is not offered (hidden)."""
    interest = reader_interest(session, subscriber_id, get_settings().INTEREST_EDITIONS, limit=limit * 4)
    if not interest:
        return []
    topics = {topic.id: topic for topic in session.scalars(
        select(Topic).where(Topic.id.in_([entry["topic_id"] for entry in interest])))}
    return [topics[entry["topic_id"]] for entry in interest
            if not topics[entry["topic_id"]].hidden and entry["topic_id"] not in followed][:limit]
