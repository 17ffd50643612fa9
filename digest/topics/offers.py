"""The topics an email offers to follow under each article ("Follow Georgia"): its tags first,
then its authors, then its section, at most FOLLOW_LINKS, never a hidden one. Read in one
statement for a whole edition, from what the articles are filed under (so never an alias)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.store.models import ArticleTopic, Topic, TopicKind
from digest.store.upsert import among

# A few links per article keep the email small and the choice plain.
FOLLOW_LINKS = 3
_ORDER = {TopicKind.TAG: 0, TopicKind.AUTHOR: 1, TopicKind.SECTION: 2}


def follow_offers(session: Session, article_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Article id -> the topics offered under it: [{"id", "name"}], in the order shown."""
    ids = sorted(set(article_ids))
    if not ids:
        return {}
    rows = session.execute(select(ArticleTopic.article_id, Topic.id, Topic.kind, Topic.name)
                           .join(Topic, Topic.id == ArticleTopic.topic_id)
                           .where(among(session, ArticleTopic.article_id, ids), Topic.hidden.is_(False))).all()
    offered: dict[int, list] = {}
    for row in sorted(rows, key=lambda row: (row.article_id, _ORDER[row.kind], row.name.casefold(), row.id)):
        shown = offered.setdefault(row.article_id, [])
        if len(shown) < FOLLOW_LINKS:
            shown.append({"id": row.id, "name": row.name})
    return offered
