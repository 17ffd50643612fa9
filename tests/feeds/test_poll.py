"""Polling a feed from a local server into articles: structure, identity, sanitizing, failures."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select

from digest.feeds.poll import add_feed, due_feed_ids, poll_feed
from digest.store.db import unit_of_work
from digest.store.models import Article, Feed, FeedStatus
from tests.factories import FEED_PATH, serve_feed
from tests.feed_documents import k2_rss, recent_items
from tests.servers import Route


def _poll(url: str):
    with unit_of_work() as session:
        feed = session.scalar(select(Feed).where(Feed.url == url)) or add_feed(session, url)
        return poll_feed(session, feed.id)


def _articles() -> list[Article]:
    with unit_of_work() as session:
        return list(session.scalars(select(Article).order_by(Article.published_at.desc())))


def test_it_stores_k2_entries_with_their_structure(settings, feed_server):
    url = serve_feed(feed_server)
    result = _poll(url)
    assert (result.new, result.updated, result.error) == (4, 0, None)
    newest = _articles()[0]
    assert newest.title == "Port Capacity Shapes the Middle Corridor"
    assert newest.authors == "Anna Keller"
    assert newest.section == "Analytical Articles"
    assert newest.entry_key == newest.url and "/item/20001-" in newest.url
    assert newest.summary_html.startswith("<p>Lead paragraph 0")
    assert "BACKGROUND:" in newest.content_html and "BACKGROUND:" not in newest.summary_html


def test_repolling_never_duplicates_and_updates_changed_entries(settings, feed_server):
    items = recent_items()
    url = serve_feed(feed_server, items)
    _poll(url)
    items[1] = dataclasses.replace(items[1], lead="A corrected lead paragraph.")
    serve_feed(feed_server, items)
    result = _poll(url)
    assert (result.new, result.updated) == (0, 1)
    articles = _articles()
    assert len(articles) == 4
    assert articles[1].summary_html == "<p>A corrected lead paragraph.</p>"


def test_it_sends_conditional_requests_and_a_304_costs_nothing(settings, feed_server):
    body = k2_rss(feed_server.base, recent_items())

    def conditional(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            return Route(304)
        return Route(200, body, {"ETag": '"v1"', "Content-Type": "application/rss+xml"})

    feed_server.routes[FEED_PATH] = conditional
    url = feed_server.url(FEED_PATH)
    assert _poll(url).new == 4
    second = _poll(url)
    assert second.not_modified and second.new == 0
    assert feed_server.requests[-1][1].get("If-None-Match") == '"v1"'


def test_it_strips_scripts_handlers_and_javascript_links(settings, feed_server):
    hostile = dataclasses.replace(
        recent_items(1)[0],
        lead='Fine <script>alert(1)</script><a href="javascript:alert(2)" onclick="x()">link</a>'
             '<img src="/media/a.jpg" onerror="steal()">',
    )
    _poll(serve_feed(feed_server, [hostile]))
    summary = _articles()[0].summary_html
    assert "<script" not in summary and "alert(1)" not in summary
    assert "javascript:" not in summary and "onclick" not in summary and "onerror" not in summary
    # Relative links become absolute against the article's address.
    assert f'src="{feed_server.base}/media/a.jpg"' in summary


def test_a_broken_feed_records_its_error_and_backs_off(settings, feed_server):
    feed_server.routes["/broken.feed"] = Route(200, b"<html><body>Not a feed</body></html>",
                                              {"Content-Type": "text/html"})
    url = feed_server.url("/broken.feed")
    result = _poll(url)
    assert result.error and "no feed entries" in result.error
    with unit_of_work() as session:
        feed = session.scalar(select(Feed).where(Feed.url == url))
        assert feed.consecutive_failures == 1 and feed.last_error == result.error
        assert feed.id not in due_feed_ids(session, feed.last_polled_at)
        assert session.scalar(select(func.count()).select_from(Article)) == 0


def test_a_gone_feed_is_disabled(settings, feed_server):
    feed_server.routes["/gone.feed"] = Route(410, b"gone")
    url = feed_server.url("/gone.feed")
    assert "410" in _poll(url).error
    with unit_of_work() as session:
        assert session.scalar(select(Feed.status).where(Feed.url == url)) == FeedStatus.DISABLED
