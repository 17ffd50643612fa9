"""Trends across the latest sent editions: rates per edition, the list's size at each send, the
follows gained and lost since the send before, and clicks by section and by author. A fixed handful of grouped queries, whatever the number of
editions, readers or events (the events themselves are read only as running counts)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import BindParameter, Select, String, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from digest.ledger.states import counts_by_edition
from digest.reports.facts import COMPLAINT_WARNING_RATE, HANDED_OVER
from digest.store.models import (Article, AuditEntry, DeliveryStatus, Edition, EditionCount, EditionKind, EditionLink,
                                 EditionStatus, Subscriber, SubscriberStatus, Suppression, Topic, TopicKind)


@dataclass
class EditionTrend:
    edition_id: int
    period: dt.date
    subject: str
    sent_at: dt.datetime
    handed_over: int
    delivered: int
    unique_clicks: int  # people who clicked (reports/audience.py)
    machine_clicks: int  # clicks machines made
    unsubscribes: int
    spam_reports: int
    # The list at this edition's send: confirmed readers, unsubscribed, suppressed addresses.
    confirmed: int = 0
    unsubscribed: int = 0
    suppressed: int = 0
    # Since the digest sent before this one: topics newly followed, and follows ended.
    follows_gained: int = 0
    follows_lost: int = 0

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def delivery_rate(self) -> float | None:
        return self._rate(self.delivered, self.handed_over)

    @property
    def click_rate(self) -> float | None:
        return self._rate(self.unique_clicks, self.delivered)

    @property
    def unsubscribe_rate(self) -> float | None:
        return self._rate(self.unsubscribes, self.delivered)

    @property
    def complaint_rate(self) -> float | None:
        return self._rate(self.spam_reports, self.delivered)

    @property
    def complaint_warning(self) -> bool:
        return self.complaint_rate is not None and self.complaint_rate > COMPLAINT_WARNING_RATE


_GONE_OUT = and_(Edition.kind == EditionKind.DIGEST,
                 Edition.status.in_((EditionStatus.SENT, EditionStatus.SENDING, EditionStatus.PAUSED)),
                 Edition.started_at.is_not(None))


def sent_edition_ids(session: Session, count: int) -> list[int]:
    """The ids of sent_editions(count), without loading the editions."""
    return list(reversed(session.scalars(latest_sent_ids(count)).all()))


def latest_sent_ids(count: int | BindParameter[int]) -> Select:
    """The query of sent_edition_ids (newest first), for a query to use as its subquery (`count`
    may be a parameter of a statement made once)."""
    return select(Edition.id).where(_GONE_OUT).order_by(Edition.started_at.desc()).limit(count)


def sent_editions(session: Session, count: int) -> list[Edition]:
    """The latest `count` editions that went out (or are going), oldest first."""
    rows = session.scalars(select(Edition).where(_GONE_OUT).order_by(Edition.started_at.desc()).limit(count)).all()
    return list(reversed(rows))


def edition_trends(session: Session, count: int) -> list[EditionTrend]:
    editions = sent_editions(session, count)
    if not editions:
        return []
    ids = [edition.id for edition in editions]
    readers = counts_by_edition(session, ids)
    events: dict[tuple[int, str], tuple[int, int]] = {
        (edition_id, key): (readers, total) for edition_id, key, readers, total in session.execute(
            select(EditionCount.edition_id, EditionCount.key, EditionCount.readers, EditionCount.total)
            .where(EditionCount.edition_id.in_(ids), EditionCount.key.in_(
                ("human:event:click", "machine:event:click", "event:spamreport", "event:unsubscribe"))))}
    trends = []
    for edition in editions:
        states = readers[edition.id]
        trends.append(EditionTrend(
            edition_id=edition.id, period=edition.period, subject=edition.subject, sent_at=edition.started_at,
            handed_over=sum(states.get(status, 0) for status in HANDED_OVER),
            delivered=states.get(DeliveryStatus.DELIVERED, 0),
            unique_clicks=events.get((edition.id, "human:event:click"), (0, 0))[0],
            machine_clicks=events.get((edition.id, "machine:event:click"), (0, 0))[1],
            unsubscribes=events.get((edition.id, "event:unsubscribe"), (0, 0))[0],
            spam_reports=events.get((edition.id, "event:spamreport"), (0, 0))[0]))
    _list_sizes(session, trends)
    _follow_changes(session, trends)
    return trends


def _list_sizes(session: Session, trends: list[EditionTrend]) -> None:
    """The list at each send, from when readers confirmed and unsubscribed and when addresses were
    suppressed: one row of sums for all the editions at once."""
    subscriber_sums, suppression_sums = [], []
    for trend in trends:
        moment = trend.sent_at
        gone = and_(Subscriber.unsubscribed_at.is_not(None), Subscriber.unsubscribed_at <= moment)
        subscriber_sums += [
            func.sum(case((and_(Subscriber.confirmed_at <= moment, ~gone,
                                Subscriber.status != SubscriberStatus.PENDING), 1), else_=0)),
            func.sum(case((gone, 1), else_=0))]
        suppression_sums.append(func.sum(case((Suppression.created_at <= moment, 1), else_=0)))
    people = session.execute(select(*subscriber_sums)).one()
    suppressed = session.execute(select(*suppression_sums)).one()
    for index, trend in enumerate(trends):
        trend.confirmed = int(people[2 * index] or 0)
        trend.unsubscribed = int(people[2 * index + 1] or 0)
        trend.suppressed = int(suppressed[index] or 0)


def _follow_changes(session: Session, trends: list[EditionTrend]) -> None:
    """The follows gained (a `follow` audit row with no pace before) and lost (an `unfollow` row)
    in each window between the send before an edition and its own; a change of pace is neither.
    Two statements whatever the number of editions: the send before the first, then one row of sums."""
    before = session.scalar(select(func.max(Edition.started_at)).where(_GONE_OUT,
                                                                       Edition.started_at < trends[0].sent_at))
    starts = [before] + [trend.sent_at for trend in trends[:-1]]
    new_follow = and_(AuditEntry.action == "follow", AuditEntry.details[("pace", 0)].as_string().is_(None))
    ended = AuditEntry.action == "unfollow"
    sums = []
    for start, trend in zip(starts, trends):
        window = AuditEntry.at <= trend.sent_at if start is None else and_(AuditEntry.at > start,
                                                                           AuditEntry.at <= trend.sent_at)
        sums += [func.sum(case((and_(window, new_follow), 1), else_=0)),
                 func.sum(case((and_(window, ended), 1), else_=0))]
    query = select(*sums).where(AuditEntry.action.in_(("follow", "unfollow")), AuditEntry.at <= trends[-1].sent_at)
    if before is not None:
        query = query.where(AuditEntry.at > before)
    row = session.execute(query).one()
    for index, trend in enumerate(trends):
        trend.follows_gained, trend.follows_lost = int(row[2 * index] or 0), int(row[2 * index + 1] or 0)


def clicks_by(session: Session, what: str, count: int, limit: int = 12) -> list[tuple[str, int]]:
    """People's unique clicks over the latest `count` sent editions, by article section or
    author: the counts of each edition's links, summed."""
    column = {"section": EditionLink.section, "author": func.coalesce(Article.authors, "")}[what]
    ids = sent_edition_ids(session, count)
    if not ids:
        return []
    clicks = func.sum(EditionCount.readers)
    rows = session.execute(
        select(column.label("name"), clicks)
        .select_from(EditionLink)
        .join(EditionCount, and_(EditionCount.edition_id == EditionLink.edition_id,
                                 EditionCount.key == literal("human:link:") + cast(EditionLink.position, String)))
        .join(Article, Article.id == EditionLink.article_id)
        .where(EditionLink.edition_id.in_(ids))
        .group_by(column).order_by(clicks.desc(), column).limit(limit)).all()
    return [(name or "(no author)", int(readers)) for name, readers in rows if readers]


def clicks_by_tag(session: Session, count: int, limit: int = 12) -> list[tuple[str, int]]:
    """People's unique clicks over the latest `count` sent editions by tag (the countries and
    themes of the articles clicked): each edition's readers per tag, counted as the clicks came
    in, summed."""
    ids = sent_edition_ids(session, count)
    if not ids:
        return []
    clicks = func.sum(EditionCount.readers)
    rows = session.execute(
        select(Topic.name, clicks).select_from(EditionCount)
        .join(Topic, EditionCount.key == literal("human:topic:") + cast(Topic.id, String))
        .where(EditionCount.edition_id.in_(ids), Topic.kind == TopicKind.TAG)
        .group_by(Topic.name).order_by(clicks.desc(), Topic.name).limit(limit)).all()
    return [(name, int(readers)) for name, readers in rows if readers]
