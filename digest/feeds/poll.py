"""Register feeds and poll them: fetched entries become articles, once each, updated in place."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import Conflict, InputError, NotFound
from digest.feeds.fetch import FetchError, fetch_feed
from digest.feeds.parse import ParseError, parse_feed
from digest.store.models import Article, Feed, FeedStatus
from digest.store.upsert import insert_ignoring_duplicates

MAX_BACKOFF = dt.timedelta(hours=24)


@dataclass(frozen=True)
class PollResult:
    feed_id: int
    new: int = 0
    updated: int = 0
    not_modified: bool = False
    error: str | None = None


def validate_feed_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"feed URL {url!r} is not an http(s) URL with a host")
    return url.strip()


def add_feed(session: Session, url: str, section: str | None = None) -> Feed:
    url = validate_feed_url(url)
    existing = session.scalar(select(Feed).where(Feed.url == url))
    if existing is not None:
        raise Conflict(f"feed {url!r} is already registered (feed {existing.id})")
    feed = Feed(url=url, section=section, next_poll_at=utcnow())
    session.add(feed)
    session.flush()
    return feed


def due_feed_ids(session: Session, now: dt.datetime) -> list[int]:
    query = select(Feed.id).where(Feed.status == FeedStatus.ACTIVE, Feed.next_poll_at <= now)
    return list(session.scalars(query.order_by(Feed.next_poll_at)))


def poll_feed(session: Session, feed_id: int, now: dt.datetime | None = None) -> PollResult:
    """Fetch one feed and upsert its entries; a failure is recorded on the feed, never raised."""
    now = now or utcnow()
    settings = get_settings()
    feed = session.get(Feed, feed_id)
    if feed is None:
        raise NotFound(f"feed {feed_id} does not exist")
    feed.last_polled_at = now
    try:
        fetched = fetch_feed(
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            timeout=settings.FEED_TIMEOUT_SECONDS,
            max_bytes=settings.FEED_MAX_BYTES,
        )
        if fetched.not_modified:
            _succeeded(feed, now, settings.FEED_POLL_INTERVAL_MINUTES)
            return PollResult(feed.id, not_modified=True)
        parsed = parse_feed(fetched.content, url=fetched.url,
                            content_type=fetched.headers.get("content-type"), fetched_at=now)
    except (FetchError, ParseError) as exc:
        return _failed(feed, now, exc, settings.FEED_POLL_INTERVAL_MINUTES)

    new, updated = _store_entries(session, feed, parsed.entries, now)
    feed.title = parsed.title or feed.title
    feed.etag = fetched.headers.get("etag")
    feed.last_modified = fetched.headers.get("last-modified")
    _succeeded(feed, now, settings.FEED_POLL_INTERVAL_MINUTES)
    feed.last_error = parsed.warning
    return PollResult(feed.id, new=new, updated=updated)


def _store_entries(session: Session, feed: Feed, entries, now: dt.datetime) -> tuple[int, int]:
    by_key = {entry.key: entry for entry in entries}
    existing = {
        article.entry_key: article
        for article in session.scalars(
            select(Article).where(Article.feed_id == feed.id, Article.entry_key.in_(by_key))
        )
    }
    rows = [
        dict(feed_id=feed.id, entry_key=entry.key, url=entry.url, title=entry.title,
             authors=entry.authors, section=entry.section or feed.section,
             summary_html=entry.summary_html, content_html=entry.content_html,
             content_hash=entry.content_hash, published_at=entry.published_at,
             created_at=now, updated_at=now)
        for key, entry in by_key.items() if key not in existing
    ]
    new = 0
    for start in range(0, len(rows), 500):
        # A concurrent poll of the same feed may insert the same entry: the unique key wins.
        chunk = rows[start:start + 500]
        insert = insert_ignoring_duplicates(session, Article.__table__).values(chunk)
        new += len(session.execute(insert.returning(Article.id)).all())
    updated = 0
    for key, article in existing.items():
        entry = by_key[key]
        if article.content_hash != entry.content_hash:
            article.url, article.title, article.authors = entry.url, entry.title, entry.authors
            article.section = entry.section or feed.section
            article.summary_html, article.content_html = entry.summary_html, entry.content_html
            article.content_hash, article.updated_at = entry.content_hash, now
            updated += 1
    return new, updated


def _succeeded(feed: Feed, now: dt.datetime, interval_minutes: int) -> None:
    feed.last_success_at = now
    feed.last_error = None
    feed.consecutive_failures = 0
    feed.next_poll_at = now + dt.timedelta(minutes=interval_minutes)


def _failed(feed: Feed, now: dt.datetime, error: Exception, interval_minutes: int) -> PollResult:
    feed.last_error = str(error)
    feed.consecutive_failures += 1
    if isinstance(error, FetchError) and error.status == 410:
        feed.status = FeedStatus.DISABLED
    backoff = min(dt.timedelta(minutes=interval_minutes) * 2 ** feed.consecutive_failures, MAX_BACKOFF)
    if isinstance(error, FetchError) and error.retry_after:
        backoff = max(backoff, dt.timedelta(seconds=error.retry_after))
    feed.next_poll_at = now + backoff
    return PollResult(feed.id, error=str(error))
