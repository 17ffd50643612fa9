"""One article per entry, whichever form of its address or guid a feed uses on a given day."""

from __future__ import annotations

import dataclasses

import pytest

from digest.feeds.identity import canonical_url, entry_key
from tests.factories import articles, poll_url, serve_feed
from tests.feed_documents import k2_rss, recent_items
from tests.servers import Route


@pytest.mark.parametrize("url, canonical", [
    ("HTTP://WWW.Example.ORG./a/b?x=1#frag", "http://www.example.org/a/b?x=1"),
    ("https://example.org:443/a?utm_source=mail&id=7&utm_medium=x&fbclid=abc", "https://example.org/a?id=7"),
    ("http://example.org:80", "http://example.org/"),
    ("http://example.org:8080/a?gclid=1&mc_cid=2", "http://example.org:8080/a"),
])
def test_canonical_links(url, canonical):
    assert canonical_url(url) == canonical


@pytest.mark.parametrize("link", [
    "https://www.cacianalyst.org/publications/analytical-articles/item/13456-the-first-alias.html",
    "http://www.cacianalyst.org/publications/analytical-articles/item/13456-the-first-alias.html",
    "https://cacianalyst.org/publications/analytical-articles/item/13456-a-renamed-alias.html",
    "https://WWW.CACIANALYST.ORG./publications/field-reports/item/13456-x.html?utm_source=rss",
    "https://www.cacianalyst.org:443/publications/analytical-articles/item/13456.html#comments",
])
def test_a_k2_item_has_one_key_under_every_form_of_its_url(link):
    assert entry_key(guid=link, link=link, title="T", published=None) == "k2:cacianalyst.org:13456"


def test_keys_fall_back_from_guid_to_link_to_title_and_date():
    assert entry_key("urn:uuid:1234", "https://example.org/a", "T", None) == "urn:uuid:1234"
    assert entry_key(None, "https://Example.org/a?utm_campaign=x#top", "T", None) == "https://example.org/a"
    by_hash = entry_key(None, None, "A title", None)
    assert by_hash.startswith("sha256:") and by_hash == entry_key("", "", "A title", None)


def test_the_same_k2_item_under_another_address_is_not_a_new_article(settings, feed_server):
    items = recent_items(2)
    url = serve_feed(feed_server, items)
    assert poll_url(url).new == 2
    # The site now writes https, a trailing dot on the host and a renamed alias.
    moved = k2_rss("https://127.0.0.1.", [dataclasses.replace(items[0], title=items[0].title + " (revised)"),
                                          items[1]])
    feed_server.routes[url.removeprefix(feed_server.base)] = Route(200, moved, {"Content-Type": "application/rss+xml"})
    result = poll_url(url)
    assert (result.new, result.updated) == (0, 2)
    assert len(articles()) == 2
