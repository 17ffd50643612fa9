"""What a reader follows and how often they hear of it, and when they hear of nothing: each
follow has a pace (in the digest, or an alert soon after an article), and a reader may pause
everything until a date, or turn every alert off ("digest only"). Every change is audited; the
edition whose link was used is named in the entry (the web also credits it to the edition)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Select, bindparam, delete, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import InputError, NotFound
from digest.store.models import Follow, Pace, Subscriber, Topic, TopicKind
from digest.store.upsert import insert_ignoring_duplicates
from digest.subscribers.audit import audit
from digest.subscribers.preferences import get_subscriber
from digest.topics.keys import merged_target

# The furthest a pause may reach: beyond a year the reader has left, and should unsubscribe.
MAX_PAUSE = dt.timedelta(days=366)
PAUSE_WEEKS = (1, 2, 4)


@dataclass(frozen=True)
class Followed:
    topic_id: int
    kind: TopicKind
    name: str
    pace: Pace


def parse_pace(value: str | Pace) -> Pace:
    try:
        return Pace(value)
    except ValueError:
        raise InputError(f"pace {str(value)[:40]!r} must be digest or alert") from None


def _topic(session: Session, topic_id: int) -> Topic:
    """The topic an id names, an alias followed to the topic it was merged into."""
    topic = merged_target(session.get(Topic, topic_id), lambda merged_id: session.get(Topic, merged_id))
    if topic is None:
        raise NotFound(f"topic {topic_id} does not exist")
    return topic


def _aliases(session: Session, topic_id: int) -> list[int]:
    """The topic and every topic merged into it, however many merges deep."""
    found, frontier = [topic_id], [topic_id]
    while frontier:
        frontier = [i for i in session.scalars(select(Topic.id).where(Topic.merged_into_id.in_(frontier)))
                    if i not in found]
        found += frontier
    return found


def _audit(session, action: str, subscriber: Subscriber, source: str, ip, edition, now, **details) -> None:
    if edition is not None:
        details["edition"] = edition
    audit(session, action, email=subscriber.email, source=source, subscriber_id=subscriber.id, ip=ip,
          now=now, **details)


def follow(session: Session, subscriber_id: int, topic_id: int, pace: str | Pace = Pace.DIGEST, *,
           source: str, ip: str | None = None, edition: int | None = None,
           now: dt.datetime | None = None) -> bool:
    """Follow a topic at a pace, or change the pace of a follow; True if anything changed.
    Following twice is one follow. A hidden topic cannot be newly followed (it is not offered)."""
    chosen = parse_pace(pace)
    subscriber = get_subscriber(session, subscriber_id)
    topic = _topic(session, topic_id)
    same = _aliases(session, topic.id)
    held = {row.topic_id: row for row in session.scalars(
        select(Follow).where(Follow.subscriber_id == subscriber.id, Follow.topic_id.in_(same)))}
    before = held[topic.id].pace if topic.id in held else None
    if before is None and topic.hidden:
        raise InputError(f"{topic.kind.value} {topic.name[:80]!r} is not offered to readers")
    folded = [i for i in held if i != topic.id]  # follows of its aliases: the same topic now
    if before == chosen and not folded:
        return False
    if folded:
        session.execute(delete(Follow).where(Follow.subscriber_id == subscriber.id, Follow.topic_id.in_(folded)))
    if before is None:
        session.execute(insert_ignoring_duplicates(session, Follow).values(
            subscriber_id=subscriber.id, topic_id=topic.id, pace=chosen, created_at=now or utcnow()))
    session.execute(update(Follow).where(Follow.subscriber_id == subscriber.id, Follow.topic_id == topic.id)
                    .values(pace=chosen).execution_options(synchronize_session=False))
    if topic.id in held:  # its pace was written past the ORM just above
        session.expire(held[topic.id])
    _audit(session, "follow", subscriber, source, ip, edition, now, topic=topic.id, kind=topic.kind.value,
           name=topic.name, pace=[before and before.value, chosen.value])
    return True


def unfollow(session: Session, subscriber_id: int, topic_id: int, *, source: str, ip: str | None = None,
             edition: int | None = None, now: dt.datetime | None = None) -> bool:
    """Stop following a topic (and any alias of it); True if there was a follow. Repeats harmlessly."""
    subscriber = get_subscriber(session, subscriber_id)
    topic = _topic(session, topic_id)
    removed = session.execute(delete(Follow).where(
        Follow.subscriber_id == subscriber.id, Follow.topic_id.in_(_aliases(session, topic.id)))).rowcount
    if removed:
        _audit(session, "unfollow", subscriber, source, ip, edition, now, topic=topic.id,
               kind=topic.kind.value, name=topic.name)
    return bool(removed)


def reader_follows(session: Session, subscriber_id: int) -> list[Followed]:
    """What a reader follows, by kind then name; a follow of an alias shows as the topic it was
    merged into (the quicker pace wins where two follows became one topic)."""
    return followed_topics(session, session.connection().execute(_follows_statement(),
                                                                 {"subscriber_id": subscriber_id}))


def followed_topics(session: Session, rows) -> list[Followed]:
    """reader_follows from its rows (each follow's pace with its topic's id, kind, name and
    merged_into_id), however they were read."""
    found: dict[int, Followed] = {}
    for row in rows:
        # A follow of an alias is rare (a merge moves its follows): its topic is read on its own.
        topic = row if row.merged_into_id is None else _topic(session, row.id)
        if topic.id not in found or row.pace == Pace.ALERT:
            found[topic.id] = Followed(topic.id, topic.kind, topic.name, row.pace)
    return sorted(found.values(), key=lambda f: (f.kind.value, f.name.casefold(), f.topic_id))


@lru_cache(maxsize=1)
def _follows_statement():
    """reader_follows' statement, made once: each follow with its topic's columns in one read, not
    a topic read per follow (the reader is its parameter)."""
    return follows_query(bindparam("subscriber_id"))


def follows_query(subscriber_id) -> Select:
    """What followed_topics reads: each of the reader's follows with its topic's columns
    (`subscriber_id` may be a parameter of a statement made once)."""
    return (select(Follow.pace, Topic.id, Topic.kind, Topic.name, Topic.merged_into_id)
            .join(Topic, Topic.id == Follow.topic_id).where(Follow.subscriber_id == subscriber_id))


def public_topic(session: Session, topic_id: int) -> Topic:
    """The topic a public "Follow <topic>" page (the archive's) offers: an alias leads to its
    topic; a hidden one is not offered (NotFound)."""
    topic = _topic(session, topic_id)
    if topic.hidden:
        raise NotFound(f"topic {topic_id} is not offered")
    return topic


def follow_on_confirming(session: Session, subscriber_id: int, asked: tuple[int, str] | None, *,
                         ip: str | None = None) -> Topic | None:
    """The follow a confirmation link carries (asked for on a public follow page), recorded as the
    reader confirms; the topic followed, or None. A topic the reader follows already keeps its
    pace (confirming twice changes nothing); one hidden or gone meanwhile is left out."""
    if asked is None:
        return None
    topic_id, pace = asked
    try:
        topic, current = offered_follow(session, subscriber_id, topic_id)
    except NotFound:
        return None
    if current is None:
        follow(session, subscriber_id, topic.id, pace, source="web", ip=ip)
    return topic


def offered_follow(session: Session, subscriber_id: int, topic_id: int) -> tuple[Topic, Pace | None]:
    """What a "Follow <topic>" link offers: the topic (an alias leads to its topic) and the pace
    the reader follows it at now (None: not yet). A hidden topic not followed is not offered."""
    topic = _topic(session, topic_id)
    pace = next((f.pace for f in reader_follows(session, subscriber_id) if f.topic_id == topic.id), None)
    if topic.hidden and pace is None:
        raise NotFound(f"topic {topic_id} is not offered")
    return topic, pace


def start_of_day(day: dt.date) -> dt.datetime:
    """A date as the moment a pause until it ends: its first minute in the publication's zone."""
    return dt.datetime.combine(day, dt.time(), get_settings().tz).astimezone(dt.UTC)


def pause_dates(now: dt.datetime | None = None) -> tuple[str, str]:
    """The first and last dates a pause may be chosen to end on, for a date field's bounds."""
    today = (now or utcnow()).astimezone(get_settings().tz).date()
    return (today + dt.timedelta(days=1)).isoformat(), (today + dt.timedelta(days=365)).isoformat()


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"date {text[:40]!r} is not a date like 2026-12-20") from None


def pause_end(*, until: str | dt.date | None = None, weeks: int | str | None = None,
              now: dt.datetime | None = None) -> dt.datetime:
    """When a pause chosen as a date or as 1, 2 or 4 weeks ends."""
    if weeks is not None:
        if str(weeks) not in {str(w) for w in PAUSE_WEEKS}:
            raise InputError(f"weeks {str(weeks)[:20]!r} must be one of 1, 2, 4")
        return (now or utcnow()) + dt.timedelta(weeks=int(weeks))
    if until is None or until == "":
        raise InputError("choose a date or a number of weeks to pause for")
    return start_of_day(until if isinstance(until, dt.date) else parse_day(until))


def pause(session: Session, subscriber_id: int, until: dt.datetime | None, *, source: str,
          ip: str | None = None, edition: int | None = None, now: dt.datetime | None = None) -> Subscriber:
    """Send this reader nothing until `until` (None: until they resume). A time past, or more
    than MAX_PAUSE ahead, is refused naming it."""
    now = now or utcnow()
    if until is not None:
        shown = until.astimezone(get_settings().tz).date().isoformat()
        if until <= now:
            raise InputError(f"pause until {shown}: that date has passed")
        if until > now + MAX_PAUSE:
            raise InputError(f"pause until {shown}: a pause may last at most a year; unsubscribe instead")
    subscriber = get_subscriber(session, subscriber_id)
    before = (subscriber.paused, subscriber.paused_until)
    if before != (True, until):
        subscriber.paused, subscriber.paused_until = True, until
        _audit(session, "pause", subscriber, source, ip, edition, now,
               until=until.isoformat() if until else None)
    return subscriber


def resume(session: Session, subscriber_id: int, *, source: str, ip: str | None = None,
           edition: int | None = None, now: dt.datetime | None = None) -> Subscriber:
    """End a pause now (repeats harmlessly)."""
    subscriber = get_subscriber(session, subscriber_id)
    if subscriber.paused or subscriber.paused_until is not None:
        subscriber.paused, subscriber.paused_until = False, None
        _audit(session, "resume", subscriber, source, ip, edition, now)
    return subscriber


def set_digest_only(session: Session, subscriber_id: int, on: bool, *, source: str, ip: str | None = None,
                    edition: int | None = None, now: dt.datetime | None = None) -> Subscriber:
    """Turn every alert off (the follows keep their pace, for when it is turned back on)."""
    subscriber = get_subscriber(session, subscriber_id)
    if subscriber.digest_only != on:
        subscriber.digest_only = on
        _audit(session, "digest_only", subscriber, source, ip, edition, now, on=on)
    return subscriber
