"""The facts of one edition, from its deliveries and the events kept for them: the funnel, the
articles by unique clicks, bounces and complaints with their reasons, and the first 72 hours.

Each figure is one grouped query over indexed columns (events by edition and name, the link map
by edition); nothing walks the events in Python, so an edition of 100,000 readers and 300,000
events reports as fast as one of ten.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from sqlalchemy import Integer, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.editions.approve import get_edition
from digest.store.models import Article, Delivery, DeliveryEvent, DeliveryStatus, Edition, EditionLink

# A delivery the provider took: whatever became of it afterwards.
HANDED_OVER = (DeliveryStatus.ACCEPTED, DeliveryStatus.DEFERRED, DeliveryStatus.DELIVERED,
               DeliveryStatus.BOUNCED, DeliveryStatus.DROPPED)
UNSUBSCRIBE_EVENTS = ("unsubscribe", "group_unsubscribe", "web_unsubscribe")
TIMELINE_HOURS = 72
# SendGrid's bounce `type`: "blocked" is a soft bounce (the server refused for now), "bounce" hard.
SOFT_BOUNCE = "blocked"


@dataclass
class Funnel:
    handed_over: int = 0
    delivered: int = 0
    deferred: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    dropped: int = 0
    spam_reports: int = 0
    unique_opens: int = 0  # includes machine opens (Apple Mail Privacy Protection opens everything)
    unique_clicks: int = 0
    clicks: int = 0
    unsubscribes: int = 0
    preference_changes: int = 0

    def rate(self, part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def rates(self) -> dict[str, float | None]:
        return {
            "delivery": self.rate(self.delivered, self.handed_over),
            "open": self.rate(self.unique_opens, self.delivered),
            "click": self.rate(self.unique_clicks, self.delivered),
            "click_to_open": self.rate(self.unique_clicks, self.unique_opens),
            "unsubscribe": self.rate(self.unsubscribes, self.delivered),
            "complaint": self.rate(self.spam_reports, self.delivered),
        }


@dataclass
class EditionReport:
    edition_id: int
    subject: str
    started_at: dt.datetime | None
    funnel: Funnel
    articles: list[dict] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    timeline: list[dict] = field(default_factory=list)

    @property
    def complaint_warning(self) -> bool:
        rate = self.funnel.rates["complaint"]
        return rate is not None and rate > COMPLAINT_WARNING_RATE

    def as_dict(self) -> dict:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        data["rates"] = self.funnel.rates
        data["complaint_warning"] = self.complaint_warning
        return data


# A warning above 0.1% of delivered: Gmail's bulk-sender rules refuse mail above 0.3%.
COMPLAINT_WARNING_RATE = 0.001


def edition_report(session: Session, edition_id: int) -> EditionReport:
    edition = get_edition(session, edition_id)
    return EditionReport(
        edition_id=edition.id, subject=edition.subject, started_at=_start(edition),
        funnel=edition_funnel(session, edition.id), articles=article_clicks(session, edition.id),
        links=link_clicks(session, edition.id), problems=bounces_and_complaints(session, edition.id),
        timeline=first_hours(session, edition))


def _start(edition: Edition) -> dt.datetime | None:
    return edition.started_at or edition.sent_at


def edition_funnel(session: Session, edition_id: int) -> Funnel:
    funnel = Funnel()
    statuses = dict(session.execute(
        select(Delivery.status, func.count()).where(Delivery.edition_id == edition_id).group_by(Delivery.status)).all())
    funnel.handed_over = sum(statuses.get(status, 0) for status in HANDED_OVER)
    funnel.delivered = statuses.get(DeliveryStatus.DELIVERED, 0)
    funnel.dropped = statuses.get(DeliveryStatus.DROPPED, 0)
    by_event = session.execute(
        select(DeliveryEvent.event, DeliveryEvent.kind, func.count(), func.count(DeliveryEvent.delivery_id.distinct()))
        .where(DeliveryEvent.edition_id == edition_id).group_by(DeliveryEvent.event, DeliveryEvent.kind)).all()
    for event, kind, total, readers in by_event:
        if event == "deferred":
            funnel.deferred += readers
        elif event == "bounce":
            if kind == SOFT_BOUNCE:
                funnel.soft_bounces += readers
            else:
                funnel.hard_bounces += readers
        elif event == "spamreport":
            funnel.spam_reports += readers
        elif event == "open":
            funnel.unique_opens += readers
        elif event == "click":
            funnel.unique_clicks += readers
            funnel.clicks += total
        elif event == "web_preferences":
            funnel.preference_changes += readers
    # A reader who unsubscribed through SendGrid's link and ours counts once.
    funnel.unsubscribes = session.scalar(
        select(func.count(DeliveryEvent.delivery_id.distinct())).where(
            DeliveryEvent.edition_id == edition_id, DeliveryEvent.event.in_(UNSUBSCRIBE_EVENTS))) or 0
    return funnel


def article_clicks(session: Session, edition_id: int) -> list[dict]:
    """Every article of the edition, by unique clicks (readers who followed its link), then by
    its place in the edition."""
    click = and_(DeliveryEvent.edition_id == EditionLink.edition_id, DeliveryEvent.event == "click",
                 DeliveryEvent.url == EditionLink.url)
    unique = func.count(DeliveryEvent.delivery_id.distinct())
    rows = session.execute(
        select(EditionLink.position, EditionLink.section, EditionLink.url, Article.id, Article.title, Article.authors,
               unique.label("unique_clicks"), func.count(DeliveryEvent.id).label("clicks"))
        .join(Article, Article.id == EditionLink.article_id)
        .outerjoin(DeliveryEvent, click)
        .where(EditionLink.edition_id == edition_id)
        .group_by(EditionLink.position, EditionLink.section, EditionLink.url, Article.id, Article.title,
                  Article.authors)
        .order_by(unique.desc(), EditionLink.position)).all()
    return [{"position": r.position, "section": r.section, "url": r.url, "article_id": r.id, "title": r.title,
             "authors": r.authors or "", "unique_clicks": r.unique_clicks, "clicks": r.clicks} for r in rows]


def link_clicks(session: Session, edition_id: int, limit: int = 50) -> list[dict]:
    """Clicks per link. The per-reader links (unsubscribe, preferences) carry a reader's token:
    they are counted under one name each and their addresses never shown."""
    base = get_settings().base_url
    label = case(
        (DeliveryEvent.url.like(f"{base}/u/%"), literal("(unsubscribe link)")),
        (DeliveryEvent.url.like(f"{base}/p/%"), literal("(preferences link)")),
        else_=DeliveryEvent.url)
    unique = func.count(DeliveryEvent.delivery_id.distinct())
    rows = session.execute(
        select(label.label("link"), unique, func.count())
        .where(DeliveryEvent.edition_id == edition_id, DeliveryEvent.event == "click")
        .group_by(label).order_by(unique.desc(), label).limit(limit)).all()
    return [{"url": link, "unique_clicks": readers, "clicks": total} for link, readers, total in rows]


def bounces_and_complaints(session: Session, edition_id: int, limit: int = 30) -> list[dict]:
    readers = func.count(DeliveryEvent.delivery_id.distinct())
    rows = session.execute(
        select(DeliveryEvent.event, DeliveryEvent.kind, DeliveryEvent.reason, readers)
        .where(DeliveryEvent.edition_id == edition_id,
               DeliveryEvent.event.in_(("bounce", "dropped", "spamreport", "deferred")))
        .group_by(DeliveryEvent.event, DeliveryEvent.kind, DeliveryEvent.reason)
        .order_by(readers.desc(), DeliveryEvent.event).limit(limit)).all()
    names = {"bounce": "hard bounce", "dropped": "dropped", "spamreport": "spam report", "deferred": "deferred"}
    return [{"what": "soft bounce" if event == "bounce" and kind == SOFT_BOUNCE else names[event],
             "reason": reason or "", "readers": count} for event, kind, reason, count in rows]


def first_hours(session: Session, edition: Edition, hours: int = TIMELINE_HOURS) -> list[dict]:
    """Opens and clicks per hour since the edition started sending, every hour listed."""
    start = _start(edition)
    if start is None:
        return []
    hour = _hours_since(session, DeliveryEvent.occurred_at, start)
    rows = session.execute(
        select(hour.label("hour"), DeliveryEvent.event, func.count())
        .where(DeliveryEvent.edition_id == edition.id, DeliveryEvent.event.in_(("open", "click")),
               DeliveryEvent.occurred_at >= start, DeliveryEvent.occurred_at < start + dt.timedelta(hours=hours))
        .group_by(hour, DeliveryEvent.event)).all()
    timeline = [{"hour": h, "opens": 0, "clicks": 0} for h in range(hours)]
    for h, event, count in rows:
        if 0 <= int(h) < hours:
            timeline[int(h)]["opens" if event == "open" else "clicks"] += count
    return timeline


def _hours_since(session: Session, column, start: dt.datetime):
    """Whole hours from `start` to `column`, in the database's own date arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        return func.floor(func.extract("epoch", column - start) / 3600).cast(Integer)
    # SQLite keeps times as UTC text; julianday reads it.
    naive = start.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
    return func.cast((func.julianday(column) - func.julianday(naive)) * 24, Integer)


def reader_activity(session: Session, subscriber_ids: list[int]) -> dict[int, dict[str, dt.datetime | None]]:
    """Per reader, across every edition: when a message was last delivered, opened and clicked."""
    if not subscriber_ids:
        return {}

    def last(name: str):
        return func.max(case((DeliveryEvent.event == name, DeliveryEvent.occurred_at)))

    rows = session.execute(
        select(DeliveryEvent.subscriber_id, last("delivered"), last("open"), last("click"))
        .where(DeliveryEvent.subscriber_id.in_(subscriber_ids),
               or_(DeliveryEvent.event == "delivered", DeliveryEvent.event == "open", DeliveryEvent.event == "click"))
        .group_by(DeliveryEvent.subscriber_id)).all()
    activity = {sid: {"last_delivered": None, "last_open": None, "last_click": None} for sid in subscriber_ids}
    for sid, delivered, opened, clicked in rows:
        activity[sid] = {"last_delivered": _utc(delivered), "last_open": _utc(opened), "last_click": _utc(clicked)}
    return activity


def _utc(value) -> dt.datetime | None:
    """An aggregate's time: SQLite hands back text (the column's type is lost in MAX)."""
    if value is None or isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if isinstance(value, dt.datetime) and value.tzinfo else (
            value.replace(tzinfo=dt.UTC) if value else None)
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
