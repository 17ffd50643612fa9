"""Feeds: `digest feeds ...`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from digest.cli.common import FeedId, FeedOption, console, err, feeds_app, local_time, transaction
from digest.cli.listing import Column, fitting_columns, print_list


@feeds_app.command("add")
def feeds_add(url: str, section: Annotated[Optional[str], typer.Option(help="Section name")] = None) -> None:
    """Register a feed to poll, and poll it once now (a feed that does not answer is still added,
    with a warning: the poller keeps trying it)."""
    from digest.feeds.poll import poll_feed
    from digest.feeds.registry import add_feed

    with transaction() as session:
        feed = add_feed(session, url, section)
        feed_id, feed_url = feed.id, feed.url
    console.print(f"feed {feed_id} added: {feed_url}", soft_wrap=True, highlight=False, markup=False)
    # Its own transaction: the feed stays added whatever the first poll meets.
    with transaction() as session:
        result = poll_feed(session, feed_id)
    if result.error:
        err.print(f"Warning: feed {feed_id} did not answer its first poll ({result.error}). It stays added; "
                  "the poller tries it again on its schedule (see `digest feeds list`).",
                  soft_wrap=True, highlight=False, markup=False)
    else:
        console.print(f"first poll: {poll_summary(result)}", soft_wrap=True, highlight=False, markup=False)


FEED_COLUMNS = [
    Column("id", "id"), Column("url", "url", wraps=True), Column("status", "status"),
    Column("failures", "consecutive_failures", optional=True),
    Column("last success", "last_success_at", optional=True),
    Column("stale", "stale", show=lambda stale: "stale" if stale else "", optional=True),
    Column("section", "section", show=lambda section: section or "", optional=True),
    Column("next poll", "next_poll_at", optional=True),
    Column("last error / warning", "problem", show=lambda problem: problem or "", wraps=True, optional=True),
]


@feeds_app.command("list")
def feeds_list(as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """Feeds with their health: last success, last error or warning, failures, stale."""
    from digest.feeds.registry import feed_health

    with transaction() as session:
        rows = [{"id": h.feed.id, "url": h.feed.url, "section": h.feed.section, "status": h.feed.status.value,
                 "last_success_at": h.feed.last_success_at, "consecutive_failures": h.feed.consecutive_failures,
                 "stale": h.stale, "next_poll_at": h.feed.next_poll_at, "last_error": h.feed.last_error,
                 "last_warning": h.feed.last_warning,
                 "problem": h.feed.last_error or (f"warning: {h.feed.last_warning}" if h.feed.last_warning else None)}
                for h in feed_health(session)]
    print_list(rows, FEED_COLUMNS, as_json=as_json, empty="no feed yet: add one with `digest feeds add URL`")
    # A narrow terminal drops the error column; a feed's error is never dropped with it.
    if not as_json and "problem" not in {c.key for c in fitting_columns(FEED_COLUMNS, rows, console.width)}:
        for row in rows:
            if row["problem"]:
                console.print(f"feed {row['id']}: {row['problem']}", highlight=False, markup=False)


@feeds_app.command("pause")
def feeds_pause(feed_id: FeedId) -> None:
    """Stop polling a feed until it is resumed."""
    from digest.feeds.registry import pause_feed

    with transaction() as session:
        feed = pause_feed(session, feed_id)
        console.print(f"feed {feed.id} paused: {feed.url}")


@feeds_app.command("resume")
def feeds_resume(feed_id: FeedId) -> None:
    """Poll a paused or disabled feed again, starting now."""
    from digest.feeds.registry import resume_feed

    with transaction() as session:
        feed = resume_feed(session, feed_id)
        console.print(f"feed {feed.id} resumed: {feed.url}")


@feeds_app.command("remove")
def feeds_remove(feed_id: FeedId) -> None:
    """Stop polling a feed for good; its articles that no edition carried are deleted."""
    from digest.feeds.registry import remove_feed

    with transaction() as session:
        deleted = remove_feed(session, feed_id)
        console.print(f"feed {feed_id} removed; {deleted} unsent articles deleted")


@feeds_app.command("poll")
def feeds_poll(feed: FeedOption = None) -> None:
    """Poll feeds now, in this process (all active feeds, or one)."""
    from sqlalchemy import select

    from digest.feeds.poll import poll_feed
    from digest.store.models import Feed, FeedStatus

    with transaction() as session:
        ids = [feed] if feed is not None else list(
            session.scalars(select(Feed.id).where(Feed.status == FeedStatus.ACTIVE).order_by(Feed.id)))
    for feed_id in ids:
        # One transaction per feed: what one feed stored stays stored whatever the next does.
        with transaction() as session:
            result = poll_feed(session, feed_id)
        console.print(f"feed {feed_id}: {poll_summary(result)}", soft_wrap=True, highlight=False, markup=False)


def poll_summary(result) -> str:
    """What a poll did, in a few words: '4 new, 0 updated', 'not modified', 'error: ...'."""
    if result.error:
        summary = f"error: {result.error}"
    elif result.deferred:
        summary = "deferred: its host is busy with another request"
    elif result.skipped:
        summary = f"not polled: {result.skipped}"
    else:
        summary = "not modified" if result.not_modified else f"{result.new} new, {result.updated} updated"
    return summary + (f" (warning: {result.warning})" if result.warning else "")


@feeds_app.command("show")
def feeds_show(feed_id: FeedId,
               limit: Annotated[int, typer.Option(min=1, help="How many of the newest articles")] = 50) -> None:
    """What was extracted from a feed's articles: authors, issue date, section, tags, lead length."""
    from digest.feeds.readings import feed_readings

    with transaction() as session:
        readings = feed_readings(session, feed_id, limit)
    if not readings:
        console.print(f"feed {feed_id} has no articles yet", highlight=False)
    for reading in readings:
        # One block per article, one fact per line: readable in any terminal width, and greppable.
        lines = [
            f"article {reading.article_id} · {local_time(reading.published_at)} · {reading.title}",
            f"  authors:    {reading.authors or '-'}" + (f" ({reading.place})" if reading.place else ""),
            f"  affiliated: {reading.affiliation or '-'}",
            f"  issue date: {reading.issue_date.isoformat() if reading.issue_date else '-'}",
            f"  section:    {reading.section or '-'}",
            f"  tags:       {', '.join(reading.tags) or '-'}",
            f"  lead:       {reading.lead_words} words, {reading.lead_chars} characters"
            + ("; back catalogue (no edition carries it)" if reading.back_catalogue else ""),
            f"  byline:     {reading.byline or '-'}",
            f"  link:       {reading.url or '-'}",
        ]
        console.print("\n".join(lines), soft_wrap=True, highlight=False, markup=False)
