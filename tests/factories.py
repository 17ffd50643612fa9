"""Small builders for test data, going through the same digest functions the service uses."""

from __future__ import annotations

from sqlalchemy import select

from digest.clock import utcnow
from digest.editions.approve import approve_edition
from digest.editions.compose import compose_next_edition
from digest.feeds.poll import poll_feed
from digest.feeds.registry import add_feed
from digest.store.db import unit_of_work
from digest.store.models import Article, Feed
from digest.subscribers.lifecycle import add_subscriber
from tests.feed_documents import k2_rss, recent_items
from tests.servers import FeedServer, Route

FEED_PATH = "/publications/analytical-articles.feed"


def serve_feed(server: FeedServer, items=None, path: str = FEED_PATH) -> str:
    server.routes[path] = Route(200, k2_rss(server.base, items or recent_items()),
                                {"Content-Type": "application/rss+xml; charset=utf-8"})
    return server.url(path)


def poll_url(url: str, now=None):
    """Poll the feed at `url` (registering it the first time) in its own transaction."""
    with unit_of_work() as session:
        feed = session.scalar(select(Feed).where(Feed.url == url)) or add_feed(session, url)
        return poll_feed(session, feed.id, now)


def feed_at(url: str):
    with unit_of_work() as session:
        return session.scalar(select(Feed).where(Feed.url == url))


def articles():
    with unit_of_work() as session:
        return list(session.scalars(select(Article).order_by(Article.published_at.desc(), Article.id)))


def polled_feed(server: FeedServer, items=None) -> int:
    url = serve_feed(server, items)
    with unit_of_work() as session:
        feed = add_feed(session, url, "Analytical Articles")
        result = poll_feed(session, feed.id)
        assert result.error is None, result.error
        return feed.id


def subscribers(*emails: str, confirmed: bool = True) -> list[int]:
    with unit_of_work() as session:
        return [add_subscriber(session, email, name=f"Reader {i}", confirmed=confirmed).id
                for i, email in enumerate(emails)]


def draft_edition() -> int:
    with unit_of_work() as session:
        edition = compose_next_edition(session, utcnow())
        assert edition is not None, "no articles to compose"
        return edition.id


def approved_edition(by: str = "publisher@example.org") -> int:
    edition_id = draft_edition()
    with unit_of_work() as session:
        approve_edition(session, edition_id, by)
    return edition_id
