"""Tags, sections, links and dates, for the Analyst's K2 feeds and for any other feed."""

from __future__ import annotations

from email.utils import format_datetime
from html import escape

import pytest

from digest.clock import utcnow
from digest.editions.compose import compose_next_edition
from digest.feeds.poll import poll_feed
from digest.feeds.registry import add_feed
from digest.store.db import unit_of_work
from tests.factories import articles, poll_url
from tests.feed_documents import recent_items
from tests.servers import Route

PUBLISHED = format_datetime(recent_items(1)[0].published)


def _serve(feed_server, path: str, items_xml: str) -> str:
    document = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
                f"<link>{feed_server.base}/</link><description>d</description>{items_xml}</channel></rss>")
    feed_server.routes[path] = Route(200, document.encode(), {"Content-Type": "application/rss+xml"})
    return feed_server.url(path)


def _k2_item(base: str, item_id: int, tags_html: str, category: str = "Field Reports") -> str:
    link = f"{base}/publications/field-reports/item/{item_id}-a.html"
    description = (f'<div class="K2FeedIntroText"><p>By Ivo Sarn</p><p>Lead {item_id}.</p></div>'
                   f'<div class="K2FeedFullText"><p>More.</p></div>{tags_html}')
    return (f"<item><title>Item {item_id}</title><link>{link}</link><guid>{link}</guid>"
            f"<description>{escape(description)}</description><category>{category}</category>"
            f"<pubDate>{PUBLISHED}</pubDate></item>")


def _poll_with_section(url: str, section: str | None):
    with unit_of_work() as session:
        feed = add_feed(session, url, section)
        return poll_feed(session, feed.id)


def test_k2_tags_are_read_in_current_and_older_form(settings, feed_server):
    current = '<div class="K2FeedTags">#Energy_Security #Caspian_Sea #Energy_Security</div>'
    # Older K2 writes a list (of links, or of names) and leaves the list unclosed.
    older = ('<div class="K2FeedTags"><ul><li><a href="/tag/Kazakhstan">Kazakhstan</a></li>'
             "<li>Local Government</li><ul></div>")
    url = _serve(feed_server, "/k2.feed", _k2_item(feed_server.base, 1, current) + _k2_item(feed_server.base, 2, older))
    poll_url(url)
    tags = {article.title: article.tags for article in articles()}
    assert tags == {"Item 1": ["Energy Security", "Caspian Sea"], "Item 2": ["Kazakhstan", "Local Government"]}


def test_the_k2_category_is_the_section_unless_the_editor_gave_one(settings, feed_server):
    url = _serve(feed_server, "/k2.feed", _k2_item(feed_server.base, 3, ""))
    poll_url(url)
    assert [a.section for a in articles()] == ["Field Reports"]
    other = _serve(feed_server, "/k2-featured.feed", _k2_item(feed_server.base, 4, ""))
    _poll_with_section(other, "Featured")
    assert {a.title: a.section for a in articles()}["Item 4"] == "Featured"


def _generic_item(title: str, extra: str) -> str:
    return f"<item><title>{title}</title>{extra}<pubDate>{PUBLISHED}</pubDate><description>Text.</description></item>"


def test_a_general_feeds_categories_are_tags_and_its_section_is_the_editors(settings, feed_server):
    item = _generic_item("Cat video", "<link>https://blog.example.org/cats</link><category>LOL</category><category>cats</category>")
    url = _serve(feed_server, "/blog.xml", item)
    poll_url(url)
    [article] = articles()
    assert (article.section, article.tags) == (None, ["LOL", "cats"])
    other = _serve(feed_server, "/blog2.xml", item.replace("/cats", "/cats2"))
    _poll_with_section(other, "From the Blogs")
    assert {a.url: a.section for a in articles()}["https://blog.example.org/cats2"] == "From the Blogs"


@pytest.mark.parametrize("extra, expected", [
    ('<guid isPermaLink="true">https://news.example.org/a/1</guid>', "https://news.example.org/a/1"),
    ("<guid>https://news.example.org/a/2</guid>", "https://news.example.org/a/2"),
    ('<guid isPermaLink="false">https://news.example.org/a/3</guid>', ""),
    ("<guid>item-4-opaque</guid>", ""),
    ("", ""),
], ids=["permalink", "permalink-by-default", "not-a-permalink", "opaque-guid", "nothing"])
def test_an_item_without_a_link_falls_back_to_its_permalink_else_has_none(settings, feed_server, extra, expected):
    url = _serve(feed_server, "/nolink.xml", _generic_item("No link here", extra))
    poll_url(url)
    [article] = articles()
    assert article.url == expected
    assert article.url != url  # never the feed's own XML address


def _undated(titles) -> str:
    return "".join(f"<item><title>{t}</title><link>https://old.example.org/{i}</link>"
                   f"<description>Old text.</description></item>" for i, t in enumerate(titles))


def test_undated_items_on_a_feeds_first_poll_are_back_catalogue(settings, feed_server):
    old = [f"Archive piece {n}" for n in range(60)]
    url = _serve(feed_server, "/undated.xml", _undated(old))
    assert poll_url(url).new == 60
    assert all(article.back_catalogue for article in articles())
    with unit_of_work() as session:
        assert compose_next_edition(session, utcnow()) is None  # not a 60-item first edition
    # Something undated that appears later is news: it was not there before.
    _serve(feed_server, "/undated.xml", _undated(old) + _undated(["Fresh note"]).replace("/0", "/new"))
    assert poll_url(url).new == 1
    with unit_of_work() as session:
        edition = compose_next_edition(session, utcnow())
        assert [item.article.title for item in edition.items] == ["Fresh note"]
