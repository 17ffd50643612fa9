"""The facts of one edition, from its deliveries and the events kept for them: the funnel, the
articles by unique clicks, bounces and complaints with their reasons, and the first 72 hours.

The figures come from the edition's running counts (see `counting`: a few hundred rows however
many events there were), the deliveries' states (one grouped query on their index) and the link
map; nothing reads the events, so an edition of 100,000 readers and 300,000 events reports about
as fast as one of ten. Per-reader activity is a grouped query on the events' reader index.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from digest.editions.lookup import get_edition
from digest.ledger.states import reader_counts
from digest.reports.counting import TIMELINE_HOURS
from digest.store.models import Article, DeliveryEvent, DeliveryStatus, EditionCount, EditionLink
from digest.topics.keys import merged_totals

# A delivery the provider took: whatever became of it afterwards.
HANDED_OVER = (DeliveryStatus.ACCEPTED, DeliveryStatus.DEFERRED, DeliveryStatus.DELIVERED,
               DeliveryStatus.BOUNCED, DeliveryStatus.DROPPED)


@dataclass
class Funnel:
    handed_over: int = 0
    delivered: int = 0
    deferred: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    dropped: int = 0
    spam_reports: int = 0
    # People first (reports/audience.py decides who made each open and click): readers with an
    # open or click a person made, and the events machines made beside them.
    human_unique_opens: int = 0
    human_opens: int = 0
    machine_opens: int = 0
    human_unique_clicks: int = 0
    human_clicks: int = 0
    machine_clicks: int = 0
    # Every open and click SendGrid reported, whoever made it (unknown ones are only here).
    unique_opens: int = 0
    opens: int = 0
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
            "open": self.rate(self.human_unique_opens, self.delivered),
            "click": self.rate(self.human_unique_clicks, self.delivered),
            "click_to_open": self.rate(self.human_unique_clicks, self.human_unique_opens),
            "machine_open_share": self.rate(self.machine_opens, self.opens),
            "machine_click_share": self.rate(self.machine_clicks, self.clicks),
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
    topics: list[dict] = field(default_factory=list)

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
    counts = edition_counts(session, edition.id)
    return EditionReport(
        edition_id=edition.id, subject=edition.subject, started_at=edition.started_at or edition.sent_at,
        funnel=edition_funnel(session, edition.id, counts), articles=article_clicks(session, edition.id, counts),
        links=link_clicks(counts), problems=bounces_and_complaints(counts), timeline=first_hours(counts),
        topics=topic_clicks(session, counts))


def spam_reports(session: Session, edition_ids: list[int]) -> dict[int, int]:
    """Readers who reported each edition as spam (for the operators' complaint-rate warning)."""
    if not edition_ids:
        return {}
    return dict(session.execute(select(EditionCount.edition_id, EditionCount.readers).where(
        EditionCount.edition_id.in_(edition_ids), EditionCount.key == "event:spamreport")).all())


def edition_counts(session: Session, edition_id: int) -> dict[str, tuple[int, int]]:
    """The edition's running counts: key -> (readers, total)."""
    return {key: (readers, total) for key, readers, total in session.execute(
        select(EditionCount.key, EditionCount.readers, EditionCount.total)
        .where(EditionCount.edition_id == edition_id))}


def edition_funnel(session: Session, edition_id: int, counts: dict[str, tuple[int, int]]) -> Funnel:
    statuses = reader_counts(session, edition_id)

    def readers(key: str) -> int:
        return counts.get(key, (0, 0))[0]

    def total(key: str) -> int:
        return counts.get(key, (0, 0))[1]

    return Funnel(
        handed_over=sum(statuses.get(status, 0) for status in HANDED_OVER),
        delivered=statuses.get(DeliveryStatus.DELIVERED, 0), dropped=statuses.get(DeliveryStatus.DROPPED, 0),
        deferred=readers("event:deferred"), hard_bounces=readers("bounce:hard bounce"),
        soft_bounces=readers("bounce:soft bounce"), spam_reports=readers("event:spamreport"),
        human_unique_opens=readers("human:event:open"), human_opens=total("human:event:open"),
        machine_opens=total("machine:event:open"), human_unique_clicks=readers("human:event:click"),
        human_clicks=total("human:event:click"), machine_clicks=total("machine:event:click"),
        unique_opens=readers("event:open"), opens=total("event:open"), unique_clicks=readers("event:click"),
        clicks=total("event:click"), unsubscribes=readers("event:unsubscribe"),
        preference_changes=readers("event:web_preferences"))


def article_clicks(session: Session, edition_id: int, counts: dict[str, tuple[int, int]]) -> list[dict]:
    """Every article of the edition, by the people who followed its link, then by all readers
    whose link was followed, then by its place in the edition; machines' clicks beside."""
    rows = session.execute(
        select(EditionLink.position, EditionLink.section, EditionLink.url, Article.id, Article.title, Article.authors)
        .join(Article, Article.id == EditionLink.article_id).where(EditionLink.edition_id == edition_id)).all()
    def count(key: str) -> tuple[int, int]:
        return counts.get(key, (0, 0))

    articles = [{"position": r.position, "section": r.section, "url": r.url, "article_id": r.id, "title": r.title,
                 "authors": r.authors or "", "human_unique_clicks": count(f"human:link:{r.position}")[0],
                 "machine_clicks": count(f"machine:link:{r.position}")[1],
                 "unique_clicks": count(f"link:{r.position}")[0], "clicks": count(f"link:{r.position}")[1]}
                for r in rows]
    return sorted(articles, key=lambda a: (-a["human_unique_clicks"], -a["unique_clicks"], a["position"]))


def topic_clicks(session: Session, counts: dict[str, tuple[int, int]]) -> list[dict]:
    """People's clicks by topic (the sections, tags and authors of the articles clicked): readers
    who clicked any article filed under it, and clicks, most readers (then clicks) first. Counted as the clicks came
    in, under the topics of that day; a topic merged since is shown under the one it joined (its
    readers added, so a reader who clicked an article of each is counted twice there)."""
    counted = {int(key[12:]): value for key, value in counts.items() if key.startswith("human:topic:")}
    if not counted:
        return []
    shown = [{"topic_id": topic.id, "kind": topic.kind.value, "name": topic.name, "unique_clicks": readers,
              "clicks": clicks} for topic, (readers, clicks) in merged_totals(session, counted)]
    return sorted(shown, key=lambda t: (-t["unique_clicks"], -t["clicks"], t["kind"], t["name"]))


def link_clicks(counts: dict[str, tuple[int, int]], limit: int = 50) -> list[dict]:
    """Clicks per link, a reader's own links (which carry their token) under one name each: the
    people who followed it first, machines' clicks beside."""
    links = [{"url": key[4:], "human_unique_clicks": counts.get(f"human:{key}", (0, 0))[0],
              "machine_clicks": counts.get(f"machine:{key}", (0, 0))[1], "unique_clicks": readers, "clicks": total}
             for key, (readers, total) in counts.items() if key.startswith("url:")]
    return sorted(links, key=lambda link: (-link["human_unique_clicks"], -link["unique_clicks"], link["url"]))[:limit]


def bounces_and_complaints(counts: dict[str, tuple[int, int]], limit: int = 30) -> list[dict]:
    problems = []
    for key, (readers, _) in counts.items():
        if key.startswith("reason:"):
            what, _, reason = key[7:].partition(":")
            problems.append({"what": what, "reason": reason, "readers": readers})
    return sorted(problems, key=lambda p: (-p["readers"], p["what"], p["reason"]))[:limit]


def first_hours(counts: dict[str, tuple[int, int]], hours: int = TIMELINE_HOURS) -> list[dict]:
    """People's opens and clicks per hour since the edition started sending, and machines'
    beside them, every hour listed."""
    def total(key: str) -> int:
        return counts.get(key, (0, 0))[1]

    return [{"hour": h, "opens": total(f"hour:human:open:{h}"), "clicks": total(f"hour:human:click:{h}"),
             "machine_opens": total(f"hour:machine:open:{h}"), "machine_clicks": total(f"hour:machine:click:{h}")}
            for h in range(hours)]


def reader_activity(session: Session, subscriber_ids: list[int]) -> dict[int, dict[str, dt.datetime | None]]:
    """Per reader, across every edition: when a message was last delivered, opened and clicked
    (opens and clicks no machine made), and when a machine last opened or clicked one."""
    if not subscriber_ids:
        return {}
    machine = DeliveryEvent.audience == "machine"
    not_machine = or_(DeliveryEvent.audience.is_(None), DeliveryEvent.audience != "machine")

    def last(name: str, *also):
        return func.max(case((and_(DeliveryEvent.event == name, *also), DeliveryEvent.occurred_at)))

    rows = session.execute(
        select(DeliveryEvent.subscriber_id, last("delivered"), last("open", not_machine), last("click", not_machine),
               func.max(case((machine, DeliveryEvent.occurred_at))))
        .where(DeliveryEvent.subscriber_id.in_(subscriber_ids),
               or_(DeliveryEvent.event == "delivered", DeliveryEvent.event == "open", DeliveryEvent.event == "click"))
        .group_by(DeliveryEvent.subscriber_id)).all()
    keys = ("last_delivered", "last_open", "last_click", "last_machine")
    activity = {sid: dict.fromkeys(keys) for sid in subscriber_ids}
    for sid, *times in rows:
        activity[sid] = {key: _utc(value) for key, value in zip(keys, times)}
    return activity


def _utc(value) -> dt.datetime | None:
    """An aggregate's time: SQLite hands back text (MAX loses the column's type there)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
