"""Values from a feed longer than their columns, or holding NUL characters (PostgreSQL refuses
both, failing the whole insert): an ETag and a Last-Modified of 600 characters, an item link whose
host has 610, a link past 2000, a K2 item id of 5,000 digits, a title with a NUL, an over-long
author and category. Every item
is stored, each value bounded; validators too long to keep are not kept (the next poll asks
without them); a link too long to keep leaves its item without a link."""

from __future__ import annotations

import dataclasses

from digest.store.models import Article, Feed
from digest.store.bounds import column_length
from tests.factories import FEED_PATH, articles, feed_at, poll_url
from tests.feed_documents import k2_rss, recent_items
from tests.servers import Route

LONG_HOST = "h" * 600 + ".localhost"  # 610 characters; never looked up: the items carry their text


def _hostile_feed(base: str) -> tuple[bytes, list]:
    items = recent_items(4)
    items[3] = dataclasses.replace(items[3], author="A" * 3000, section="S" * 300)
    document = k2_rss(base, items)
    # Item 1 lives on a host of 610 characters; item 2's link is 2,500 characters long.
    document = document.replace(items[1].link(base).encode(), items[1].link("http://" + LONG_HOST).encode())
    long_link = items[2].link(base).replace(".html", "-" + "x" * 2500 + ".html")
    document = document.replace(items[2].link(base).encode(), long_link.encode())
    # An item id Python's int() refuses to read (over 4,300 digits).
    document = document.replace(f"/item/{items[3].item_id}-".encode(), b"/item/" + b"9" * 5000 + b"-")
    # A NUL in a title, as a character reference (the XML itself stays well-formed).
    document = document.replace(items[0].title.encode(), items[0].title.replace(" ", "&#0;", 1).encode())
    return document, items


def test_over_long_values_are_bounded_and_cost_no_item(settings, feed_server):
    document, items = _hostile_feed(feed_server.base)
    feed_server.routes[FEED_PATH] = Route(200, document, {
        "Content-Type": "application/rss+xml", "ETag": '"' + "e" * 598 + '"', "Last-Modified": "M" * 600})
    url = feed_server.url(FEED_PATH)

    result = poll_url(url)
    assert result.error is None and result.new == 4
    stored = {article.title: article for article in articles()}
    assert len(stored) == 4
    feed = feed_at(url)
    assert feed.etag is None and feed.last_modified is None, "too long to keep, not kept cut short"
    assert feed.last_error is None and feed.last_success_at is not None

    on_long_host = stored[items[1].title]
    assert LONG_HOST in on_long_host.url
    assert len(on_long_host.entry_key) <= column_length(Article.entry_key)
    assert stored[items[2].title].url == "", "a link too long to keep is not kept cut short"
    assert f"the link of {items[2].title!r} has" in result.warning and "too long to keep" in result.warning
    # A reference to a character XML cannot hold reads as U+FFFD (feeds/debris.py), never a NUL.
    assert items[0].title.replace(" ", "\ufffd", 1) in stored
    long_fields = stored[items[3].title]
    assert long_fields.url == "", "its link, 5,000 digits long, is too long to keep"
    assert long_fields.section == "S" * column_length(Article.section)
    assert long_fields.authors is None or len(long_fields.authors) <= column_length(Article.authors)

    again = poll_url(url)
    assert (again.error, again.new) == (None, 0), "each item found again by its key"
    assert "If-None-Match" not in feed_server.requests[-1][1]
    assert len(articles()) == 4


def test_a_permanent_move_to_a_url_too_long_to_keep_is_not_followed(settings, feed_server):
    document, _ = _hostile_feed(feed_server.base)
    target = FEED_PATH + "?" + "q" * 2100
    feed_server.routes[target] = Route(200, k2_rss(feed_server.base, recent_items(2)),
                                       {"Content-Type": "application/rss+xml"})
    feed_server.routes["/old.feed"] = Route(301, b"", {"Location": target})
    url = feed_server.url("/old.feed")
    result = poll_url(url)
    assert result.error is None and result.new == 2
    assert feed_at(url) is not None, "still polled at its old URL"
    assert "too long to keep; still polled at " + url in result.warning
    assert len(feed_at(url).url) <= column_length(Feed.url)
