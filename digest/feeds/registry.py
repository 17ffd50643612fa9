"""The feeds an operator registers, pauses, resumes and removes, and how healthy each one is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import Conflict, InputError, NotFound
from digest.feeds.links import request_problem
from digest.feeds.network import AddressPolicy, RefusedAddress, refuse_private_url
from digest.store.bounds import column_length, fits
from digest.store.models import Article, EditionItem, Feed, FeedStatus


def validate_feed_url(url: str, policy: AddressPolicy | None = None) -> str:
    """`url` stripped, when it is an http(s) URL the poller can request (see
    links.request_problem), on a public address (see feeds.network), short enough to keep."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # an unclosed IPv6 bracket: "http://[::1/f"
        raise InputError(f"feed URL {url!r} is not valid: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"feed URL {url!r} is not an http(s) URL with a host")
    if not fits(Feed.url, url.strip()):
        raise InputError(f"feed URL {url[:100]!r}... has {len(url.strip())} characters, more than "
                         f"the {column_length(Feed.url)} a feed URL may have")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        refuse_private_url(url.strip(), policy)
    except ValueError as exc:
        raise InputError(f"feed URL {url!r} is not valid: {exc}") from exc
    except RefusedAddress as exc:
        raise InputError(f"feed URL {url.strip()!r} is refused: {exc}") from exc
    problem = request_problem(url.strip())
    if problem:
        raise InputError(f"feed URL {url!r} is not valid: {problem}")
    return url.strip()


def add_feed(session: Session, url: str, section: str | None = None, *,
             policy: AddressPolicy | None = None) -> Feed:
    """Register `url`; a removed feed of the same URL comes back with its articles."""
    url = validate_feed_url(url, policy)
    if not fits(Feed.section, section):
        raise InputError(f"section {section[:60]!r}... has {len(section)} characters, more than "
                         f"the {column_length(Feed.section)} a section may have")
    existing = session.scalar(select(Feed).where(Feed.url == url))
    if existing is not None and existing.status != FeedStatus.REMOVED:
        raise Conflict(f"feed {url!r} is already registered (feed {existing.id})")
    feed = existing or Feed(url=url)
    feed.section = section or feed.section
    feed.status, feed.next_poll_at = FeedStatus.ACTIVE, utcnow()
    feed.consecutive_failures, feed.last_error, feed.last_warning = 0, None, None
    session.add(feed)
    session.flush()
    return feed


def get_feed(session: Session, feed_id: int) -> Feed:
    feed = session.get(Feed, feed_id)
    if feed is None or feed.status == FeedStatus.REMOVED:
        raise NotFound(f"feed {feed_id} does not exist")
    return feed


def pause_feed(session: Session, feed_id: int) -> Feed:
    feed = get_feed(session, feed_id)
    if feed.status == FeedStatus.PAUSED:
        raise Conflict(f"feed {feed_id} is already paused")
    feed.status = FeedStatus.PAUSED
    return feed


def resume_feed(session: Session, feed_id: int) -> Feed:
    """Poll a paused or disabled (410) feed again, now, with a clean failure count."""
    feed = get_feed(session, feed_id)
    if feed.status == FeedStatus.ACTIVE:
        raise Conflict(f"feed {feed_id} is already active")
    feed.status, feed.next_poll_at, feed.consecutive_failures = FeedStatus.ACTIVE, utcnow(), 0
    return feed


def remove_feed(session: Session, feed_id: int) -> int:
    """Stop polling a feed for good and delete its articles that no edition carried; those an
    edition carried stay for the archive, with the feed row (hidden) they belong to.
    Returns how many articles were deleted."""
    feed = get_feed(session, feed_id)
    feed.status = FeedStatus.REMOVED
    carried = select(EditionItem.article_id)
    deleted = session.execute(
        delete(Article).where(Article.feed_id == feed.id, Article.id.not_in(carried))
    ).rowcount
    return deleted


@dataclass(frozen=True)
class FeedHealth:
    feed: Feed
    stale: bool


def is_stale(feed: Feed, now: dt.datetime, stale_days: int) -> bool:
    """The feed answers but has brought nothing new for `stale_days` days."""
    if feed.status != FeedStatus.ACTIVE or feed.last_success_at is None:
        return False
    last_new = feed.last_new_at or feed.created_at
    return now - last_new >= dt.timedelta(days=stale_days)


def feed_health(session: Session, now: dt.datetime | None = None) -> list[FeedHealth]:
    """Every registered feed (removed ones aside), with its stale flag."""
    now = now or utcnow()
    days = get_settings().FEED_STALE_DAYS
    feeds = session.scalars(select(Feed).where(Feed.status != FeedStatus.REMOVED).order_by(Feed.id))
    return [FeedHealth(feed, is_stale(feed, now, days)) for feed in feeds]
