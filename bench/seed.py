"""What the benchmarks' editions are made of: a feed of twelve articles, and the approved edition
of them that the send benchmarks send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.orm import Session

from digest.store.models import Article, Feed

ARTICLES = 12


def add_feed_of_articles(session: Session, now: dt.datetime,
                         fields: Callable[[int], dict] = lambda i: {}) -> Feed:
    """A feed and its articles, published at `now`; `fields(i)` adds to or overrides the i-th
    article's fields (authors, section, a longer lead)."""
    feed = Feed(url="http://127.0.0.1/bench.feed")
    session.add(feed)
    session.flush()
    session.add_all(Article(**{
        "feed_id": feed.id, "entry_key": f"k{i}", "url": f"https://example.org/item/{i}", "title": f"Article {i}",
        "section": "Analytical Articles", "summary_html": "<p>Lead.</p>", "content_html": "",
        "content_hash": str(i), "published_at": now, **fields(i)}) for i in range(ARTICLES))
    return feed


def approved_edition_for(subscribers: int) -> int:
    """The benchmarks' edition: 12 articles, `subscribers` confirmed readers, statistics fresh,
    composed and approved; its id. The settings must already name the scratch database."""
    from sqlalchemy import text

    from digest.clock import utcnow
    from digest.editions.approve import approve_edition
    from digest.editions.compose import compose_next_edition
    from digest.sample.readers import add_readers
    from digest.store.db import unit_of_work

    now = utcnow()
    with unit_of_work() as session:
        add_feed_of_articles(session, now, lambda i: {
            "authors": "A. Author", "summary_html": "<p>" + "A lead sentence. " * 30 + "</p>"})
        add_readers(session, subscribers)
    with unit_of_work() as session:
        session.execute(text("ANALYZE"))
    with unit_of_work() as session:
        edition = compose_next_edition(session, utcnow())
        approve_edition(session, edition.id, "publisher@example.org")
        return edition.id
