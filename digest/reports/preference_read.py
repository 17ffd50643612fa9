"""What a reader's preference page shows, read by one statement: the reader's own columns, their
follows and the topics of their clicks (for the suggestions). The page is a quarter of what
arrives after a send (its readers open it, and every link scanner opens it too), and each
statement is a round trip with SQLAlchemy's work around it: read as three, they were about half
of what the page cost its process."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Boolean, Integer, Select, bindparam, cast, literal, null, select, true, union_all
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.errors import NotFound
from digest.reports.interest import interest_query, suggested_from
from digest.store.models import Follow, Subscriber, SubscriberFormat, SubscriberStatus
from digest.subscribers.follows import Followed, follows_query, followed_topics

_FOLLOW, _CLICKED = "follow", "clicked"
# The reader's columns the page shows, each labelled reader_<name> beside the topics' columns.
_READER = ("id", "status", "sections", "format", "paused", "paused_until", "digest_only")


@dataclass(frozen=True)
class Reader:
    """The reader as their preference page shows them (what paused_now and chosen_sections read
    of a Subscriber)."""

    id: int
    status: SubscriberStatus
    sections: list[str]
    format: SubscriberFormat
    paused: bool
    paused_until: dt.datetime | None
    digest_only: bool


@dataclass(frozen=True)
class PreferenceRead:
    reader: Reader
    follows: list[Followed]
    suggested: list


def read_preferences(session: Session, subscriber_id: int, suggestions: int = 5) -> PreferenceRead:
    """The reader, what they follow (as reader_follows) and the topics suggested to them
    (reports/interest.py:suggested_from), by one statement; NotFound if the reader is gone."""
    rows = session.connection().execute(_preferences_statement(), {
        "subscriber_id": subscriber_id, "editions": get_settings().INTEREST_EDITIONS}).all()
    if not rows:
        raise NotFound("this subscription no longer exists")
    reader = Reader(*(getattr(rows[0], f"reader_{name}") for name in _READER))
    follows = followed_topics(session, [row for row in rows if row.part == _FOLLOW])
    suggested = suggested_from(session, [row for row in rows if row.part == _CLICKED],
                               followed={follow.topic_id for follow in follows}, limit=suggestions)
    return PreferenceRead(reader, follows, suggested)


@lru_cache(maxsize=1)
def _preferences_statement() -> Select:
    """The reader's row joined to their topics, one row each: the clicked topics (interest_query's
    columns, with no pace) and the followed ones (follows_query's, with no counts), told apart by
    `part`; a reader with neither is one row with no topic. Made once: the reader and the number
    of editions are its parameters."""
    reader = bindparam("subscriber_id", type_=Integer)
    clicked = interest_query(reader, bindparam("editions", type_=Integer)).subquery()
    followed = follows_query(reader).subquery()
    # The first part gives the union its column types: a NULL pace reads back as a Pace.
    topics = union_all(
        select(literal(_CLICKED).label("part"), clicked.c.id, clicked.c.kind, clicked.c.name, clicked.c.hidden,
               clicked.c.merged_into_id, cast(null(), Follow.pace.type).label("pace"), clicked.c.articles,
               clicked.c.clicks),
        select(literal(_FOLLOW), followed.c.id, followed.c.kind, followed.c.name, cast(null(), Boolean),
               followed.c.merged_into_id, followed.c.pace, cast(null(), Integer), cast(null(), Integer)),
    ).subquery()
    return (select(*(getattr(Subscriber, name).label(f"reader_{name}") for name in _READER), *topics.c)
            .select_from(Subscriber).outerjoin(topics, true()).where(Subscriber.id == reader))
