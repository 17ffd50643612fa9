"""An invented edition of any number of articles, for the benchmarks (render, checklist): one
feed, articles over the sections given, composed as the next period's draft."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.editions.compose import compose_next_edition
from digest.store.models import Article, Edition, Feed

# Six sentences: a lead of a typical length, so renders and sizes are those of a real edition.
LEAD = " ".join(["A sentence of the lead paragraph about policy in the region."] * 6)


def add_sample_edition(session: Session, articles: int, url_of: Callable[[int], str],
                       sections: Sequence[str] = ("Analytical Articles",)) -> Edition:
    """`articles` articles of the last ten days, article i linking to url_of(i) and filed in
    the i-th section (round robin), composed into the next period's draft."""
    now = utcnow()
    feed = Feed(url="http://127.0.0.1/sample-edition.feed")
    session.add(feed)
    session.flush()
    session.add_all(
        Article(feed_id=feed.id, entry_key=f"k{i}", url=url_of(i), title=f"Article {i} on the Caspian corridor",
                authors="A. Author", section=sections[i % len(sections)], summary_html=f"<p>{LEAD}</p>",
                content_html="", content_hash=str(i), published_at=now - dt.timedelta(days=1 + i % 10))
        for i in range(articles))
    session.flush()
    return compose_next_edition(session, now)
