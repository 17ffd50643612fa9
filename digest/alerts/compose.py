"""Gather a poll's new articles into the held alert: an article filed under a topic that someone
follows at pace alert joins the alert being held (articles arriving within a hold are bundled),
or opens one held ALERT_HOLD_MINUTES. Back catalogue never makes an alert."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from digest.config import get_settings
from digest.delivery.alert_carry import owed_articles, start_of_today
from digest.editions.render import alert_subject_edited, default_alert_subject
from digest.store.locks import OPEN_ALERT, take_turns
from digest.store.models import (Article, ArticleTopic, Edition, EditionItem, EditionKind, EditionStatus, Follow,
                                 Pace, Topic)


def collect_new_articles(session: Session, article_ids: list[int], now: dt.datetime) -> Edition | None:
    """Add the articles that concern alert followers to the held alert (opened if none is held);
    returns the alert, or None when none of the articles concerns anyone. Runs in the poll's
    unit of work: the articles and their alert commit together."""
    topics = _followed_topics(session, article_ids)
    if not topics:
        return None
    # One poll at a time from here to its commit: two polls at once would each find no alert held
    # and open one, and a reader would get two alerts where one bundle was meant.
    take_turns(session, OPEN_ALERT, 0)
    alert = held_alert(session, now)
    if alert is None:
        alert = _open_alert(session, now)
    _add_items(alert, topics, now)
    return alert


def carry_into(session: Session, alert: Edition, now: dt.datetime) -> None:
    """As its hold ends: add to the alert the articles the daily cap held readers back from before
    today (local time), marked carried, so that those readers get them with it (the audience
    gives a carried article only to the readers owed it) and they are approved, rendered, listed
    as already sent and counted like any of its articles. An article nobody follows at pace alert
    any more is left to the digest."""
    _add_items(alert, _followed_topics(session, owed_articles(session, start_of_today(now))), now, carried=True)


def _add_items(alert: Edition, topics: dict[int, list[str]], now: dt.datetime, carried: bool = False) -> None:
    """Append these articles (with the names of their followed topics) after the alert's own."""
    if not topics:
        return
    session = object_session(alert)
    edited = alert_subject_edited(alert)  # before the new articles change its default
    present = {item.article_id for item in alert.items}
    position = max((item.position for item in alert.items), default=-1)
    for article_id, names in sorted(topics.items()):
        if article_id not in present:
            position += 1
            alert.items.append(EditionItem(article_id=article_id, position=position, topics=names, carried=carried))
    session.flush()
    session.refresh(alert)
    if not edited:  # an editor's subject stays; else the subject follows the articles
        alert.subject = default_alert_subject(alert)
    alert.updated_at = now


def _followed_topics(session: Session, article_ids: list[int]) -> dict[int, list[str]]:
    """Of these articles (not back catalogue), each one filed under a topic followed at pace
    alert, with the names of those topics."""
    if not article_ids:
        return {}
    followed = select(Follow.topic_id).where(Follow.topic_id == ArticleTopic.topic_id, Follow.pace == Pace.ALERT)
    rows = session.execute(
        select(ArticleTopic.article_id, Topic.name)
        .join(Topic, Topic.id == ArticleTopic.topic_id)
        .join(Article, Article.id == ArticleTopic.article_id)
        .where(ArticleTopic.article_id.in_(article_ids), Article.back_catalogue.is_(False), followed.exists())
        .order_by(ArticleTopic.article_id, Topic.name)).all()
    topics: dict[int, list[str]] = {}
    for article_id, name in rows:
        topics.setdefault(article_id, []).append(name)
    return topics


def held_alert(session: Session, now: dt.datetime) -> Edition | None:
    """The alert being held now (articles that arrive join it), locked for this transaction."""
    return session.scalar(
        select(Edition).where(Edition.kind == EditionKind.ALERT, Edition.status == EditionStatus.DRAFT,
                              Edition.hold_until > now)
        .order_by(Edition.id).limit(1).with_for_update())


def _open_alert(session: Session, now: dt.datetime) -> Edition:
    hold_until = now + dt.timedelta(minutes=get_settings().ALERT_HOLD_MINUTES)
    alert = Edition(kind=EditionKind.ALERT, period=None, cutoff_at=now, send_at=hold_until, hold_until=hold_until,
                    status=EditionStatus.DRAFT, subject="New on the Analyst", preheader="", intro="",
                    created_at=now, updated_at=now)
    session.add(alert)
    session.flush()
    return alert

