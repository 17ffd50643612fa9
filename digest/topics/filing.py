"""Filing articles under their topics: the section, the tags and the authors each article names,
as the poller stores or updates it. A name seen for the first time becomes a topic (its first
spelling is the name shown); a name merged into another topic is filed under that one.

A fixed number of statements per call however many articles: the poller files a whole poll's
articles at once, in its own transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.store.models import Article, ArticleTopic, Topic, TopicKind
from digest.store.upsert import among, among_strings, insert_ignoring_duplicates
from digest.topics.keys import display_name, topic_key

# The byline joins several authors with ", " and the last with " and " (feeds/parse.py).
_AUTHOR_SEPARATORS = re.compile(r",\s+|\s+and\s+")
# Articles read per call of `file_every_article`: memory stays bounded on a large archive.
REFILE_BATCH = 500


def named_topics(section: str | None, tags: list | None, authors: str | None) -> list[tuple[TopicKind, str]]:
    """The (kind, name) of every topic an article names, in its own spelling."""
    names = [(TopicKind.SECTION, section)] if section else []
    names += [(TopicKind.TAG, tag) for tag in tags or [] if isinstance(tag, str)]
    names += [(TopicKind.AUTHOR, author) for author in _AUTHOR_SEPARATORS.split(authors or "")]
    return [(kind, name) for kind, name in names if name and name.strip()]


def file_articles(session: Session, article_ids: Iterable[int]) -> int:
    """File the articles under their topics, replacing what they were filed under; the number of
    (article, topic) pairs written."""
    ids = sorted(set(article_ids))
    if not ids:
        return 0
    rows = session.execute(select(Article.id, Article.section, Article.tags, Article.authors)
                           .where(among(session, Article.id, ids))).all()
    spellings: dict[tuple[TopicKind, str], str] = {}
    named: dict[int, set[tuple[TopicKind, str]]] = {}
    for row in rows:
        named[row.id] = set()
        for kind, name in named_topics(row.section, row.tags, row.authors):
            key, shown = topic_key(name), display_name(name)
            if key and shown:
                spellings.setdefault((kind, key), shown)
                named[row.id].add((kind, key))
    filed_under = _topics_for(session, spellings)
    session.execute(delete(ArticleTopic).where(among(session, ArticleTopic.article_id, list(named))),
                    execution_options={"synchronize_session": False})
    pairs = sorted({(article_id, filed_under[name]) for article_id, names in named.items() for name in names
                    if name in filed_under})
    if pairs:
        # A concurrent poll may file the same article: the primary key keeps one row.
        session.execute(insert_ignoring_duplicates(session, ArticleTopic.__table__),
                        [{"article_id": article_id, "topic_id": topic_id} for article_id, topic_id in pairs])
    return len(pairs)


def _topics_for(session: Session, spellings: dict[tuple[TopicKind, str], str]) -> dict[tuple[TopicKind, str], int]:
    """The topic id each (kind, key) is filed under, creating the missing topics; an alias leads
    to the topic it was merged into (merging re-points aliases, so there is never a chain)."""
    if not spellings:
        return {}
    now = utcnow()
    # Sorted, so two polls creating the same topics take their index entries in one order.
    new = [{"kind": kind, "key": key, "name": name, "hidden": False, "created_at": now}
           for (kind, key), name in sorted(spellings.items())]
    session.execute(insert_ignoring_duplicates(session, Topic.__table__), new)
    keys = sorted({key for _, key in spellings})
    found = session.execute(select(Topic.id, Topic.kind, Topic.key, Topic.merged_into_id)
                            .where(among_strings(session, Topic.key, keys))).all()
    return {(row.kind, row.key): row.merged_into_id or row.id for row in found if (row.kind, row.key) in spellings}


def file_every_article(session: Session) -> int:
    """File every stored article (a database from before topics existed); the number filed."""
    ids = list(session.scalars(select(Article.id).order_by(Article.id)))
    for start in range(0, len(ids), REFILE_BATCH):
        file_articles(session, ids[start:start + REFILE_BATCH])
    return len(ids)
