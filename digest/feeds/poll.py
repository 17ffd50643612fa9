"""Poll a feed: fetched entries become articles, once each, updated in place when they change.
Whatever goes wrong is recorded on that feed alone, which backs off; nothing is raised.

A poll's requests (the feed's and its article pages') end by one deadline, so a feed of many
slow pages holds its worker for a bounded time. What the feed and its server send is made to fit
the columns before it is stored (store.bounds), so one item can never fail its feed's insert."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import NotFound
from digest.feeds.extract import extract_from_page
from digest.feeds.fetch import PAGE_ACCEPT, FetchError, fetch, request_seconds
from digest.feeds.hosts import HostBusy
from digest.feeds.network import AddressPolicy, seconds_left, within
from digest.feeds.parse import Entry, ParseError, analyst_entry, decode_document, parse_feed
from digest.store.bounds import assign, fits, storable, whole_or_none
from digest.store.models import Article, Feed, FeedStatus
from digest.store.upsert import insert_ignoring_duplicates
from digest.topics.filing import file_articles

MAX_BACKOFF = dt.timedelta(hours=24)
# A poll deferred because its host was busy comes back at a later beat tick.
HOST_BUSY_DELAY = dt.timedelta(minutes=1)
# A poll's requests, the feed's and its article pages', take at most this many requests' time.
POLL_REQUESTS = 4


@dataclass(frozen=True)
class PollResult:
    feed_id: int
    new: int = 0
    updated: int = 0
    new_ids: tuple[int, ...] = ()  # the articles this poll stored (for the alerts)
    not_modified: bool = False
    deferred: bool = False  # the host was busy; polled again later, no failure counted
    skipped: str | None = None  # why a feed was not polled (paused, disabled)
    error: str | None = None
    warning: str | None = None


def claim_due_feeds(session: Session, now: dt.datetime) -> list[int]:
    """The due feeds, claimed in one conditional UPDATE: their next poll moves an interval ahead
    (the poll itself sets it properly when it runs), so a second tick, in this process or
    another, finds them not due and never queues one twice. A poll whose message is lost runs
    an interval late, as if one poll were missed."""
    lease = now + dt.timedelta(minutes=get_settings().FEED_POLL_INTERVAL_MINUTES)
    claimed = session.scalars(
        update(Feed).where(Feed.status == FeedStatus.ACTIVE, Feed.next_poll_at <= now)
        .values(next_poll_at=lease).returning(Feed.id),
        execution_options={"synchronize_session": False},
    )
    return sorted(claimed)


def poll_deadline_seconds() -> float:
    return POLL_REQUESTS * request_seconds()


def poll_feed(session: Session, feed_id: int, now: dt.datetime | None = None, *,
              policy: AddressPolicy | None = None) -> PollResult:
    """Fetch one feed and upsert its entries; a failure is recorded on the feed, never raised.
    `policy` (which addresses may be fetched) is the settings' unless a test passes one."""
    now = now or utcnow()
    settings = get_settings()
    feed = session.get(Feed, feed_id)
    if feed is None or feed.status == FeedStatus.REMOVED:
        raise NotFound(f"feed {feed_id} does not exist")
    if feed.status != FeedStatus.ACTIVE:
        # A task queued before the operator paused the feed (or before a 410) does nothing.
        return PollResult(feed.id, skipped=f"feed is {feed.status.value}")
    try:
        with within(poll_deadline_seconds()):
            fetched = fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified, policy=policy)
            warnings = _follow_permanent_move(session, feed, fetched.permanent_url)
            if fetched.not_modified:  # nothing to parse, nothing to store
                feed.last_polled_at = now
                _succeeded(feed, now, settings.FEED_POLL_INTERVAL_MINUTES)
                return PollResult(feed.id, not_modified=True, warning=feed.last_warning)
            parsed = parse_feed(fetched.content, url=fetched.url,
                                content_type=fetched.headers.get("content-type"))
            if parsed.warning:
                warnings.append(parsed.warning)
            entries = _storable_entries(parsed.entries, warnings)
            existing = _existing_articles(session, feed, entries)
            entries = _completed_from_pages(entries, existing, warnings, fetched.url, policy)
    except HostBusy:
        feed.next_poll_at = now + HOST_BUSY_DELAY
        return PollResult(feed.id, deferred=True)
    except (FetchError, ParseError) as exc:
        feed.last_polled_at = now
        return _failed(feed, now, exc, settings.FEED_POLL_INTERVAL_MINUTES)

    feed.last_polled_at = now
    new_ids, updated_ids = _store_entries(session, feed, entries, existing, now)
    # In the poll's transaction: an article is never stored without its topics.
    file_articles(session, new_ids + updated_ids)
    new, updated = len(new_ids), len(updated_ids)
    # A validator too long to keep is not kept (cut short it would never match): the next poll
    # asks without it.
    assign(feed, title=parsed.title or feed.title or None,
           etag=whole_or_none(Feed.etag, fetched.headers.get("etag")),
           last_modified=whole_or_none(Feed.last_modified, fetched.headers.get("last-modified")))
    if new:
        feed.last_new_at = now
    _succeeded(feed, now, settings.FEED_POLL_INTERVAL_MINUTES)
    assign(feed, last_warning="; ".join(warnings)[:4000] or None)
    return PollResult(feed.id, new=new, updated=updated, new_ids=tuple(new_ids), warning=feed.last_warning)


def _follow_permanent_move(session: Session, feed: Feed, permanent_url: str) -> list[str]:
    """A 301/308 from the stored URL is where the feed lives now; store it (302/307 are not)."""
    if permanent_url == feed.url:
        return []
    taken = session.scalar(select(Feed.id).where(Feed.url == permanent_url, Feed.id != feed.id))
    if taken is not None:
        return [f"moved permanently to {permanent_url}, which feed {taken} already polls"]
    if not fits(Feed.url, permanent_url):
        return [f"moved permanently to a URL of {len(permanent_url)} characters, too long to keep; "
                f"still polled at {feed.url}"]
    feed.url = permanent_url
    return []


def _storable_entries(entries: list[Entry], warnings: list[str]) -> list[Entry]:
    """The entries, each link one that fits its column: an item whose link is too long to keep
    keeps no link (as an item with a `javascript:` link does), named in a warning."""
    storable_entries = []
    for entry in entries:
        if not fits(Article.url, entry.url):
            warnings.append(f"the link of {entry.title[:100]!r} has {len(entry.url)} characters, "
                            "too long to keep; the item keeps no link")
            entry = replace(entry, url="", needs_page=False)
        storable_entries.append(entry)
    return storable_entries


def _existing_articles(session: Session, feed: Feed, entries: list[Entry]) -> dict[str, Article]:
    keys = {entry.key for entry in entries}
    query = select(Article).where(Article.feed_id == feed.id, Article.entry_key.in_(keys))
    return {article.entry_key: article for article in session.scalars(query)} if keys else {}


def _completed_from_pages(entries: list[Entry], existing: dict[str, Article], warnings: list[str],
                          feed_url: str, policy: AddressPolicy | None) -> list[Entry]:
    """Entries whose feed carries only the intro get the rest from their article page, fetched
    under the same rules as the feed, and only from the feed's own host and port (`feed_url`
    is where the feed was read): an item's link is the feed's to choose, and must not make us
    fetch, and publish, any other server's page. Only when new or changed, so a quiet poll
    fetches no page. A page that fails or is refused leaves the intro and a warning on the
    feed's row; a busy host defers the whole poll. Entries whose page the poll's deadline
    leaves no time for are left out, for the next poll to store with their page."""
    completed, waiting = [], 0
    for entry in entries:
        stored = existing.get(entry.key)
        if entry.needs_page and (stored is None or stored.content_hash != entry.feed_hash):
            if not seconds_left():
                waiting += 1
                continue
            try:
                page = fetch(entry.url, accept=PAGE_ACCEPT, same_host_as=feed_url, policy=policy)
                found = extract_from_page(
                    decode_document(page.content, page.headers.get("content-type")), page.url)
            except FetchError as exc:
                warnings.append(f"article page not read: {exc}")
            else:
                if found.lead_html or found.parts:
                    entry = replace(analyst_entry(entry, found), source_hash=entry.content_hash)
        completed.append(entry)
    if waiting:
        warnings.append(f"{waiting} entries wait for the next poll: no time was left to read their article pages")
    return completed


def _store_entries(session: Session, feed: Feed, entries: list[Entry], existing: dict[str, Article],
                   now: dt.datetime) -> tuple[list[int], list[int]]:
    """Store the entries; the ids of the articles inserted and of those updated."""
    by_key = {entry.key: entry for entry in entries}
    # A feed's first poll finds its past too: what carries no date there is back catalogue.
    first_poll = feed.last_success_at is None
    rows = [
        dict(feed_id=feed.id, entry_key=entry.key, created_at=now,
             back_catalogue=first_poll and entry.published_at is None, **_fields(entry, feed, now, now))
        for key, entry in by_key.items() if key not in existing
    ]
    new: list[int] = []
    if rows:
        # One statement for all rows (batched by SQLAlchemy, compiled once and cached). A
        # concurrent poll of the same feed may insert the same entry: the unique key wins.
        insert = insert_ignoring_duplicates(session, Article.__table__).returning(Article.id)
        new = [row[0] for row in session.execute(insert, rows)]
    updated: list[int] = []
    for key, article in existing.items():
        entry = by_key[key]
        if article.content_hash != entry.feed_hash:
            # Updated in place: an edition that carried it never carries it again, and an
            # edition being composed sees the corrected text.
            for name, value in _fields(entry, feed, article.published_at, now).items():
                setattr(article, name, value)
            updated.append(article.id)
    return new, updated


def _fields(entry: Entry, feed: Feed, published_fallback: dt.datetime, now: dt.datetime) -> dict:
    return storable(Article, dict(
        url=entry.url, title=entry.title, authors=entry.authors or None,
        # The editor's section for the feed wins over what the item says about itself.
        section=feed.section or entry.section or None,
        summary_html=entry.summary_html, content_html=entry.content_html,
        published_at=entry.published_at or published_fallback, issue_date=entry.issue_date,
        tags=entry.tags, structure=entry.structure,
        content_hash=entry.feed_hash, updated_at=now,
    ))


def _succeeded(feed: Feed, now: dt.datetime, interval_minutes: int) -> None:
    feed.last_success_at = now
    feed.last_error = None
    feed.consecutive_failures = 0
    feed.next_poll_at = now + dt.timedelta(minutes=interval_minutes)


def _failed(feed: Feed, now: dt.datetime, error: Exception, interval_minutes: int) -> PollResult:
    assign(feed, last_error=str(error)[:4000])
    feed.consecutive_failures += 1
    status = getattr(error, "status", None)
    if status == 410:
        feed.status = FeedStatus.DISABLED
    interval = dt.timedelta(minutes=interval_minutes)
    delay = min(interval * 2 ** min(feed.consecutive_failures, 20), MAX_BACKOFF)
    retry_after = getattr(error, "retry_after", None)
    if status in (429, 503) and retry_after is not None:
        # The server said when to come back: not before, and not later than needed.
        delay = max(dt.timedelta(seconds=retry_after), interval)
    feed.next_poll_at = now + delay
    return PollResult(feed.id, error=feed.last_error)
