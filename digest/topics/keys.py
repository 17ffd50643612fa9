"""One topic per name however a feed spells it: a tag or an author is matched by its key, the
name without case, diacritics, spacing or punctuation around it ("Kyrgyz  Republic",
"kyrgyz republic" and "Kyrgyz Republic." are one topic; "Türkiye" and "Turkiye" too)."""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import InputError
from digest.store.bounds import column_length
from digest.store.models import Topic, TopicKind

KEY_LENGTH = column_length(Topic.key)
NAME_LENGTH = column_length(Topic.name)
_SPACES = re.compile(r"\s+")
_EDGES = ".,;:!?·-–—'\"«»()[]{} "


def topic_key(name: str) -> str:
    """The key of a topic's name: NFKD with combining marks dropped, case folded, runs of
    spacing as one space, punctuation at the ends dropped, at most KEY_LENGTH characters."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    key = _SPACES.sub(" ", plain.casefold()).strip(_EDGES)
    return key[:KEY_LENGTH]


def display_name(name: str) -> str:
    """A name as shown: spacing collapsed, control characters dropped, at most NAME_LENGTH."""
    shown = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" or ch == " ")
    return _SPACES.sub(" ", shown).strip()[:NAME_LENGTH]


def merged_target(topic: Topic | None, get: Callable[[int], Topic | None]) -> Topic | None:
    """The topic an alias leads to (itself if it is no alias), through `get` (a session's or a
    dict's); a loop of aliases stops where it closes."""
    seen = set()
    while topic is not None and topic.merged_into_id is not None and topic.id not in seen:
        seen.add(topic.id)
        topic = get(topic.merged_into_id)
    return topic


def merged_totals(session: Session, counted: dict[int, tuple[int, ...]]) -> list[tuple[Topic, list[int]]]:
    """Figures counted per topic id, added up under the topic each leads to (a topic merged since
    shows as the one it joined; a topic gone is left out). The topics and the ones they were
    merged into are read a generation at a time, not one by one."""
    topics: dict[int, Topic] = {}
    wanted = set(counted)
    while wanted:
        found = session.scalars(select(Topic).where(Topic.id.in_(wanted))).all()
        topics.update((topic.id, topic) for topic in found)
        wanted = {topic.merged_into_id for topic in found if topic.merged_into_id is not None} - topics.keys()
    totals: dict[int, tuple[Topic, list[int]]] = {}
    for topic_id, figures in counted.items():
        topic = merged_target(topics.get(topic_id), topics.get)
        if topic is not None:
            sums = totals.setdefault(topic.id, (topic, [0] * len(figures)))[1]
            for place, figure in enumerate(figures):
                sums[place] += figure
    return list(totals.values())


def find_topic(session: Session, kind: TopicKind, name: str) -> Topic:
    """The topic a reader or an editor names (an alias leads to the topic it was merged into);
    InputError naming it if there is none."""
    key = topic_key(name)
    topic = session.scalar(select(Topic).where(Topic.kind == kind, Topic.key == key)) if key else None
    topic = merged_target(topic, lambda topic_id: session.get(Topic, topic_id))
    if topic is None:
        raise InputError(f"{kind.value} {name[:80]!r}: no article names it")
    return topic
