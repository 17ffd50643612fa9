"""Polling feeds from a local server into articles: structure, re-polls, updates, failures, health."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select

from digest.clock import utcnow
from digest.config import get_settings
from digest.editions.cadence import Period
from digest.editions.compose import compose_edition, compose_next_edition
from digest.feeds.poll import claim_due_feeds
from digest.feeds.registry import feed_health
from digest.store.db import unit_of_work
from digest.store.models import Article, Feed, FeedStatus
from tests.factories import FEED_PATH, articles, feed_at, poll_url, serve_feed
from tests.feed_documents import k2_rss, recent_items
from tests.servers import Route


def test_it_stores_k2_entries_with_their_structure(settings, feed_server):
    url = serve_feed(feed_server)
    result = poll_url(url)
    assert (result.new, result.updated, result.error) == (4, 0, None)
    newest = articles()[0]
    assert newest.title == "Port Capacity Shapes the Middle Corridor"
    assert newest.authors == "Anna Keller"
    assert newest.section == "Analytical Articles"
    assert newest.entry_key == "k2:127.0.0.1:20001" and "/item/20001-" in newest.url
    assert newest.summary_html.startswith("<p>Lead paragraph 0")
    assert "BACKGROUND:" in newest.content_html and "BACKGROUND:" not in newest.summary_html
    assert newest.structure["background"] == "<p>A paragraph of context.</p>"
    assert newest.structure["conclusions"] == "<p>A closing paragraph.</p>"


def test_repolling_never_duplicates_and_updates_changed_entries(settings, feed_server):
    items = recent_items()
    url = serve_feed(feed_server, items)
    poll_url(url)
    before = {a.entry_key: a for a in articles()}
    assert poll_url(url).new == 0
    items[1] = dataclasses.replace(items[1], lead="A corrected lead paragraph.")
    serve_feed(feed_server, items)
    result = poll_url(url, now=utcnow() + dt.timedelta(hours=1))
    assert (result.new, result.updated) == (0, 1)
    after = {a.entry_key: a for a in articles()}
    assert len(after) == 4
    changed = after["k2:127.0.0.1:20002"]
    assert changed.summary_html == "<p>A corrected lead paragraph.</p>"
    assert changed.content_hash != before[changed.entry_key].content_hash
    assert changed.updated_at > before[changed.entry_key].updated_at
    assert changed.created_at == before[changed.entry_key].created_at
    unchanged = after["k2:127.0.0.1:20001"]
    assert unchanged.updated_at == before[unchanged.entry_key].updated_at


def test_an_updated_article_already_sent_is_not_announced_again(settings, feed_server):
    items = recent_items(2)
    url = serve_feed(feed_server, items)
    poll_url(url)
    with unit_of_work() as session:
        first = compose_next_edition(session, utcnow())
        assert len(first.items) == 2
    # The feed corrects an article and even moves its date forward.
    items[0] = dataclasses.replace(items[0], lead="Corrected after publication.",
                                   published=utcnow().replace(microsecond=0))
    serve_feed(feed_server, items)
    result = poll_url(url, now=utcnow() + dt.timedelta(minutes=1))
    assert (result.new, result.updated) == (0, 1)
    later = utcnow() + dt.timedelta(days=14)
    with unit_of_work() as session:
        period = Period(date=later.date(), cutoff_at=later, send_at=later + dt.timedelta(days=1))
        assert compose_edition(session, period) is None


def test_it_sends_conditional_requests_and_a_304_costs_no_parse(settings, feed_server):
    body = k2_rss(feed_server.base, recent_items())

    def conditional(handler):
        if handler.headers.get("If-None-Match") == '"v1"' and handler.headers.get("If-Modified-Since"):
            return Route(304)
        return Route(200, body, {"ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026 10:00:00 GMT",
                                 "Content-Type": "application/rss+xml"})

    feed_server.routes[FEED_PATH] = conditional
    url = feed_server.url(FEED_PATH)
    assert poll_url(url).new == 4
    # Were the document parsed again, this broken body would record an error.
    body = b"<rss><channel><item>broken"
    second = poll_url(url)
    assert second.not_modified and second.new == 0 and second.error is None
    assert feed_server.requests[-1][1]["If-Modified-Since"] == "Mon, 02 Mar 2026 10:00:00 GMT"
    assert feed_at(url).consecutive_failures == 0


def test_a_broken_feed_records_its_error_backs_off_and_affects_no_other_feed(settings, feed_server):
    feed_server.routes["/broken.feed"] = Route(200, b"<rss version='2.0'><channel><title>x</title></channel></rss>",
                                              {"Content-Type": "application/rss+xml"})
    broken, good = feed_server.url("/broken.feed"), serve_feed(feed_server)
    first = poll_url(broken)
    assert first.error and "no feed entries" in first.error
    assert poll_url(good).new == 4
    second = poll_url(broken, now=utcnow() + dt.timedelta(hours=2))
    feed = feed_at(broken)
    assert feed.consecutive_failures == 2 and feed.last_error == second.error
    # Exponential: 30 min x 2^2 after the second failure.
    assert feed.next_poll_at - feed.last_polled_at == dt.timedelta(minutes=120)
    with unit_of_work() as session:
        assert claim_due_feeds(session, utcnow() + dt.timedelta(hours=1)) == [feed_at(good).id]
        assert feed.id not in claim_due_feeds(session, feed.last_polled_at + dt.timedelta(minutes=119))
        assert session.scalar(select(func.count()).select_from(Article)) == 4


def test_a_success_clears_the_failure_count(settings, feed_server):
    feed_server.routes[FEED_PATH] = Route(500, b"oops")
    url = feed_server.url(FEED_PATH)
    assert "HTTP 500" in poll_url(url).error
    serve_feed(feed_server)
    assert poll_url(url).new == 4
    feed = feed_at(url)
    assert (feed.consecutive_failures, feed.last_error) == (0, None)


def test_a_gone_feed_is_disabled(settings, feed_server):
    feed_server.routes["/gone.feed"] = Route(410, b"gone")
    url = feed_server.url("/gone.feed")
    assert "410" in poll_url(url).error
    feed = feed_at(url)
    assert feed.status == FeedStatus.DISABLED and "410" in feed.last_error
    with unit_of_work() as session:
        assert claim_due_feeds(session, utcnow() + dt.timedelta(days=30)) == []


def test_a_feed_with_nothing_new_for_days_is_flagged_stale(settings, feed_server, monkeypatch):
    monkeypatch.setenv("FEED_STALE_DAYS", "30")
    get_settings.cache_clear()
    long_ago = utcnow() - dt.timedelta(days=45)
    old = serve_feed(feed_server, recent_items(2, now=long_ago), path="/old.feed")
    fresh = serve_feed(feed_server, recent_items(2), path="/fresh.feed")
    poll_url(old, now=long_ago)
    poll_url(fresh, now=utcnow() - dt.timedelta(days=1))
    # Both answer 200 today; only the old one has had nothing new for 30 days.
    assert poll_url(old).new == 0 and poll_url(fresh).new == 0
    with unit_of_work() as session:
        flags = {h.feed.url: h.stale for h in feed_health(session)}
    assert flags == {old: True, fresh: False}


def test_a_paused_feed_is_not_polled_even_by_a_queued_task(settings, feed_server):
    url = serve_feed(feed_server)
    poll_url(url)
    with unit_of_work() as session:
        session.scalar(select(Feed).where(Feed.url == url)).status = FeedStatus.PAUSED
    requests = len(feed_server.requests)
    assert poll_url(url).skipped == "feed is paused"
    assert len(feed_server.requests) == requests
