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
        # No --section: the Analyst's K2 category names each item's section.
        feed = add_feed(session, url, None)
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


def stored_articles(*published, section: str = "Analytical Articles", prefix: str = "Article") -> list[int]:
    """Articles written straight to the store (for tests about editions, not about polling)."""
    from digest.store.models import Article, Feed

    with unit_of_work() as session:
        feed = session.query(Feed).filter_by(url="https://feeds.example.org/stored").one_or_none()
        if feed is None:
            feed = Feed(url="https://feeds.example.org/stored")
            session.add(feed)
            session.flush()
        start = session.query(Article).count()
        articles = [
            Article(feed_id=feed.id, entry_key=f"stored-{start + i}", url=f"https://example.org/item/{start + i}",
                    title=f"{prefix} {start + i}", authors="A. Writer", section=section,
                    summary_html=f"<p>Lead of {prefix.lower()} {start + i}.</p>", content_html="",
                    content_hash=str(start + i), published_at=when)
            for i, when in enumerate(published)
        ]
        session.add_all(articles)
        session.flush()
        return [a.id for a in articles]


def many_subscribers(count: int, domain: str = "readers.example.org") -> list[str]:
    """`count` confirmed subscribers, seeded as the benchmarks seed them; returns their addresses."""
    from digest.sample.readers import add_readers, reader_email

    with unit_of_work() as session:
        add_readers(session, count, domain)
    return [reader_email(n, domain) for n in range(count)]


def planned(edition_id: int) -> list[int]:
    """Release an approved edition and plan it for its readers, each step committed as the service
    commits it: the batches its send queues, none sent yet."""
    from digest.delivery.plan import release_edition, start_edition

    with unit_of_work() as session:
        release_edition(session, edition_id)
    with unit_of_work() as session:
        return start_edition(session, edition_id)


def sending_edition(server: FeedServer, *readers: str) -> tuple[int, list[int]]:
    """An approved edition of a polled feed, released and planned for `readers` (confirmed):
    its id and the batches its send queues, none sent yet."""
    polled_feed(server)
    subscribers(*readers)
    edition_id = approved_edition()
    return edition_id, planned(edition_id)


def send_now(edition_id: int, sender) -> None:
    """Release, plan and send an approved edition in this process, as the workers would."""
    from digest.delivery.send import send_batch

    for batch in planned(edition_id):
        with unit_of_work() as session:
            send_batch(session, edition_id, batch, sender)
