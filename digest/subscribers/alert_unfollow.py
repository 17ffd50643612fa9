"""An alert's "stop these alerts" (its one-click List-Unsubscribe): the reader's follows at pace
alert on the topics of that alert's articles go to pace digest. They stay subscribed and keep the
topics in the digest; every other follow, and their other alerts, are left as they were."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import NotFound
from digest.store.models import ArticleTopic, Edition, EditionItem, EditionKind, Follow, Pace, Topic
from digest.subscribers.follows import follow


def alert_follows(session: Session, subscriber_id: int, edition_id: int) -> list[Topic]:
    """The topics of the alert's articles this reader follows at pace alert (what stopping ends)."""
    edition = session.get(Edition, edition_id)
    if edition is None or edition.kind != EditionKind.ALERT:
        raise NotFound(f"alert {edition_id} does not exist")
    of_alert = (select(ArticleTopic.topic_id).join(EditionItem, EditionItem.article_id == ArticleTopic.article_id)
                .where(EditionItem.edition_id == edition_id))
    return list(session.scalars(
        select(Topic).join(Follow, Follow.topic_id == Topic.id)
        .where(Follow.subscriber_id == subscriber_id, Follow.pace == Pace.ALERT, Follow.topic_id.in_(of_alert))
        .order_by(Topic.name, Topic.id)))


def stop_alert_follows(session: Session, subscriber_id: int, edition_id: int, *, source: str,
                       ip: str | None = None, now: dt.datetime | None = None) -> list[Topic]:
    """Move those follows to pace digest (each audited as a `follow` naming the alert); returns
    the topics changed. Repeats harmlessly: a second time there is nothing left to change."""
    topics = alert_follows(session, subscriber_id, edition_id)
    for topic in topics:
        follow(session, subscriber_id, topic.id, Pace.DIGEST, source=source, ip=ip, edition=edition_id, now=now)
    return topics
