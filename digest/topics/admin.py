"""Editors' work on topics: the list with article and follower counts, what readers are offered,
and renaming, merging and hiding a topic, each audited (`topics:<action>` in the audit log)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, delete, func, literal, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.errors import InputError, NotFound
from digest.store.models import Article, ArticleTopic, AuditEntry, Follow, Pace, Subscriber, Topic, TopicKind
from digest.store.upsert import insert_ignoring_duplicates
from digest.topics.keys import display_name

KIND_ORDER = {TopicKind.SECTION: 0, TopicKind.TAG: 1, TopicKind.AUTHOR: 2}
FOLLOWERS_PAGE = 100


@dataclass(frozen=True)
class TopicRow:
    id: int
    kind: TopicKind
    name: str
    hidden: bool
    articles: int
    followers: int


def list_topics(session: Session, kind: TopicKind | None = None, include_hidden: bool = True) -> list[TopicRow]:
    """Every topic (never an alias) with its articles and followers, in one query: by kind, then
    the most written about first."""
    articles = (select(ArticleTopic.topic_id, func.count().label("n"))
                .group_by(ArticleTopic.topic_id).subquery())
    followers = select(Follow.topic_id, func.count().label("n")).group_by(Follow.topic_id).subquery()
    query = (select(Topic.id, Topic.kind, Topic.name, Topic.hidden, func.coalesce(articles.c.n, 0),
                    func.coalesce(followers.c.n, 0))
             .outerjoin(articles, articles.c.topic_id == Topic.id)
             .outerjoin(followers, followers.c.topic_id == Topic.id)
             .where(Topic.merged_into_id.is_(None)))
    if kind is not None:
        query = query.where(Topic.kind == kind)
    if not include_hidden:
        query = query.where(Topic.hidden.is_(False))
    rows = [TopicRow(*row) for row in session.execute(query)]
    return sorted(rows, key=lambda row: (KIND_ORDER[row.kind], -row.articles, row.name.casefold(), row.id))


def offered_topics(session: Session) -> list[TopicRow]:
    """The topics a reader may follow: not hidden, not merged into another, with an article."""
    return [row for row in list_topics(session, include_hidden=False) if row.articles]


def get_topic(session: Session, topic_id: int) -> Topic:
    topic = session.get(Topic, topic_id)
    if topic is None:
        raise NotFound(f"topic {topic_id} does not exist")
    return topic


def topic_articles(session: Session, topic_id: int, limit: int = 20) -> list[Article]:
    """The topic's latest articles."""
    return list(session.scalars(
        select(Article).join(ArticleTopic, ArticleTopic.article_id == Article.id)
        .where(ArticleTopic.topic_id == topic_id)
        .order_by(Article.published_at.desc(), Article.id.desc()).limit(limit)))


def topic_followers(session: Session, topic_id: int, offset: int = 0,
                    limit: int | None = FOLLOWERS_PAGE) -> tuple[int, list[tuple[Subscriber, Pace]]]:
    """How many follow the topic, and one page of them (by address) with their pace (every one
    with `limit=None`)."""
    total = session.scalar(select(func.count()).select_from(Follow).where(Follow.topic_id == topic_id))
    page = session.execute(
        select(Subscriber, Follow.pace).join(Follow, Follow.subscriber_id == Subscriber.id)
        .where(Follow.topic_id == topic_id).order_by(Subscriber.email).offset(offset).limit(limit)).all()
    return total or 0, [(subscriber, pace) for subscriber, pace in page]


def _changeable(session: Session, topic_id: int) -> Topic:
    topic = get_topic(session, topic_id)
    if topic.merged_into_id is not None:
        into = session.get(Topic, topic.merged_into_id)
        raise InputError(f"{topic.kind.value} {topic.name[:80]!r} was merged into {into.name[:80]!r}: change that one")
    return topic


def rename(session: Session, topic_id: int, name: str, by: str, *, source: str = "cli") -> Topic:
    """Show the topic under another name. Its key stays: articles spelling the old name are
    still filed under it."""
    topic = _changeable(session, topic_id)
    shown = display_name(name)
    if not shown:
        raise InputError("a topic's new name cannot be empty")
    _audit(session, "rename", topic, by=by, source=source, old_name=topic.name, new_name=shown)
    topic.name = shown
    return topic


def hide(session: Session, topic_id: int, hidden: bool, by: str, *, source: str = "cli") -> Topic:
    """Hide a topic from readers (their follows stay), or offer it again."""
    topic = _changeable(session, topic_id)
    topic.hidden = hidden
    _audit(session, "hide" if hidden else "unhide", topic, by=by, source=source)
    return topic


def merge(session: Session, source_id: int, target_id: int, by: str, *, source: str = "cli") -> Topic:
    """Merge one topic into another of its kind ('Kyrgyz Republic' into 'Kyrgyzstan').

    The source's followers follow the target: a reader who followed both keeps one follow, at
    pace `alert` if either follow was `alert` (the more frequent pace wins: nobody loses an alert
    they asked for). Its articles are filed under the target; it stays as an alias of the target,
    so articles naming it later are filed there too, and its own aliases now lead to the target."""
    merged, target = _changeable(session, source_id), get_topic(session, target_id)
    if merged.id == target.id:
        raise InputError(f"{merged.kind.value} {merged.name[:80]!r} cannot be merged into itself")
    if target.merged_into_id is not None:
        raise InputError(f"{target.kind.value} {target.name[:80]!r} is merged into another topic: "
                         "merge into that one")
    if merged.kind != target.kind:
        raise InputError(f"{merged.kind.value} {merged.name[:80]!r} cannot be merged into "
                         f"{target.kind.value} {target.name[:80]!r}: only topics of one kind merge")
    quiet = {"synchronize_session": False}
    alerted = select(Follow.subscriber_id).where(Follow.topic_id == merged.id, Follow.pace == Pace.ALERT)
    session.execute(update(Follow).where(Follow.topic_id == target.id, Follow.subscriber_id.in_(alerted))
                    .values(pace=Pace.ALERT), execution_options=quiet)
    moved = _move(session, Follow, merged.id, target.id, [Follow.subscriber_id, Follow.pace, Follow.created_at])
    _move(session, ArticleTopic, merged.id, target.id, [ArticleTopic.article_id])
    session.execute(update(Topic).where(Topic.merged_into_id == merged.id).values(merged_into_id=target.id),
                    execution_options=quiet)
    merged.merged_into_id = target.id
    _audit(session, "merge", merged, by=by, source=source, into_id=target.id, into=target.name, followers=moved)
    return target


def _move(session: Session, model, from_id: int, to_id: int, columns: list) -> int:
    """Re-file `model`'s rows of topic `from_id` under `to_id`, a row already there kept as it is;
    the number of rows that were under `from_id`."""
    rows = select(*columns, literal(to_id, Integer)).where(model.topic_id == from_id)
    names = [column.key for column in columns] + ["topic_id"]
    session.execute(insert_ignoring_duplicates(session, model.__table__).from_select(names, rows))
    return session.execute(delete(model).where(model.topic_id == from_id),
                           execution_options={"synchronize_session": False}).rowcount


def _audit(session: Session, action: str, topic: Topic, *, by: str, source: str, **details) -> None:
    session.add(AuditEntry(at=utcnow(), action=f"topics:{action}", source=source,
                           details={"topic_id": topic.id, "kind": topic.kind.value, "topic": topic.name,
                                    "by": by, **details}))
