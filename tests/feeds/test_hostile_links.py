"""Stored XSS through links: a feed whose links, images and summary links use `javascript:`,
`data:` or `vbscript:`, however spelled, reaches no reader and no editor. Only http(s) is
stored, and only http(s) is rendered (checked again at render for rows already stored)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from digest.delivery.backends import get_sender
from digest.feeds.links import http_url
from digest.store.db import unit_of_work
from digest.store.models import Article
from digest.web.app import app
from tests.factories import approved_edition, articles, send_now, stored_articles, subscribers
from tests.servers import FeedServer, Route
from tests.web.editor_helpers import logged_in

PAYLOAD = "alert(document.domain)"
HOSTILE_LINKS = [
    f"javascript:{PAYLOAD}",
    f" JaVaScRiPt:{PAYLOAD}",
    f"&#106;avascript:{PAYLOAD}",  # an XML character reference: the parser makes it "javascript:"
    f"java&#x09;script:{PAYLOAD}",  # a tab browsers would ignore
    f"&#x20;&#x0A;javascript&#x3A;{PAYLOAD}",
    f"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==#{PAYLOAD}",
    f"vbscript:{PAYLOAD}",
]
# Inside the (escaped) HTML of a description: entity-encoded once more, as HTML allows.
HOSTILE_SUMMARY = (
    f'<p>Read <a href="javascript:{PAYLOAD}">this</a>, <a href="&#x6A;avascript:{PAYLOAD}">that</a>, '
    f'<a href=" JaVaScRiPt:{PAYLOAD}">more</a>, <a href="java&#x09;script:{PAYLOAD}">tab</a>, '
    f'<a href="vbscript:{PAYLOAD}">vb</a> and <a href="/reports/kept">the report</a>.</p>'
    f'<p><img src="data:image/svg+xml,&lt;svg onload={PAYLOAD}&gt;" alt="a"><img src=" javascript:{PAYLOAD}" alt="b">'
    f'<img src="/media/kept.jpg" alt="c"></p>'
)


def _escape_xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def hostile_rss(base: str) -> bytes:
    now = dt.datetime.now(dt.UTC)
    items = [
        f"<item><title>Hostile item {i}</title><link>{link}</link><guid isPermaLink=\"false\">hostile-{i}</guid>"
        f"<description>{_escape_xml(HOSTILE_SUMMARY)}</description><category>Field Reports</category>"
        f"<pubDate>{email.utils.format_datetime(now - dt.timedelta(hours=i + 1))}</pubDate></item>"
        for i, link in enumerate(HOSTILE_LINKS)
    ]
    items.append(f"<item><title>Relative item</title><link>/items/relative</link><guid>relative</guid>"
                 f"<description>{_escape_xml('<p>Fine.</p>')}</description><category>Field Reports</category>"
                 f"<pubDate>{email.utils.format_datetime(now)}</pubDate></item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile</title>'
            f"<link>javascript:{PAYLOAD}</link><description>t</description>{''.join(items)}</channel></rss>").encode()


def _assert_only_http_links(html: str, where: str, relative_ok: bool = False) -> None:
    tree = lxml.html.fromstring(html)
    for element, attribute, link, _ in tree.iterlinks():
        scheme = urlsplit(link.strip()).scheme.lower()
        assert scheme in ("http", "https") or (relative_ok and scheme == ""), (where, element.tag, attribute, link)
    visible = unescape(html)
    assert PAYLOAD not in visible, f"the payload reached {where}"
    assert not re.search(r"(?i)(java|vb)\s*script\s*:|data:(text|image)/", visible), where


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def test_hostile_links_reach_no_database_row_email_archive_or_editor_page(client, settings):
    with FeedServer() as server:
        server.routes["/feed"] = Route(200, hostile_rss(server.base), {"Content-Type": "application/rss+xml"})
        from tests.factories import poll_url
        result = poll_url(server.url("/feed"))
        assert result.error is None and result.new == len(HOSTILE_LINKS) + 1

        stored = articles()
        by_title = {a.title: a for a in stored}
        assert by_title["Relative item"].url == server.url("/items/relative"), "made absolute against the feed"
        for article in stored:
            assert article.url == "" or article.url.startswith(server.base), article.url
            # The lead is plain paragraphs; whatever HTML is kept holds only absolute http(s) links.
            for html in (article.summary_html, article.content_html):
                _assert_only_http_links(html or "<p></p>", "the database")
        assert sum(1 for a in stored if a.url == "") == len(HOSTILE_LINKS), "a bad link is dropped, not kept"

    subscribers("reader@example.org")
    edition_id = approved_edition()
    send_now(edition_id, get_sender())  # the outbox backend: real .eml files
    [eml] = list(Path(settings.OUTBOX_DIR).rglob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    _assert_only_http_links(html, "the HTML part")
    assert PAYLOAD not in text and "javascript" not in text.lower() and "data:" not in text
    assert "Hostile item 0" in html and "Hostile item 0" in text, "the item is kept, without a link"

    archive = client.get(f"/archive/{edition_id}/email")
    assert archive.status_code == 200
    _assert_only_http_links(archive.text, "the archive page")

    logged_in(client)
    editor_page = client.get(f"/editions/{edition_id}")
    assert editor_page.status_code == 200 and "Hostile item 0" in editor_page.text
    _assert_only_http_links(editor_page.text, "the editor's article list", relative_ok=True)


def test_a_bad_link_already_stored_is_not_rendered(client, feed_server):
    """Defence in depth: a row written before the rule (or by hand) is checked again at render."""
    [article_id] = stored_articles(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with unit_of_work() as session:
        session.execute(update(Article).where(Article.id == article_id).values(
            url=f" JaVaScRiPt:{PAYLOAD}",
            summary_html=f'<p><a href="javascript:{PAYLOAD}">x</a><img src="data:image/png;base64,AAAA#{PAYLOAD}"></p>'))
    subscribers("reader@example.org")
    edition_id = approved_edition()
    from digest.delivery.memory import MemorySender
    sender = MemorySender()
    send_now(edition_id, sender)
    [message] = sender.messages
    _assert_only_http_links(message.get_body(("html",)).get_content(), "the HTML part")
    assert PAYLOAD not in message.get_body(("plain",)).get_content()
    _assert_only_http_links(client.get(f"/archive/{edition_id}/email").text, "the archive page")
    logged_in(client)
    _assert_only_http_links(client.get(f"/editions/{edition_id}").text, "the editor's page", relative_ok=True)


@pytest.mark.parametrize("value, expected", [
    ("https://www.cacianalyst.org/item/1-a.html", "https://www.cacianalyst.org/item/1-a.html"),
    ("HTTP://Example.org/a b", "http://Example.org/a%20b"),
    ("/item/2?q=[x]", "http://feed.example/item/2?q=%5Bx%5D"),
    ("//cdn.example/i.jpg", "http://cdn.example/i.jpg"),
    (f"javascript:{PAYLOAD}", None), (f"\tjava\nscript:{PAYLOAD}", None), ("data:,x", None),
    ("mailto:a@example.org", None), ("http://exa mple.org/", None), ("http://[::1/", None),
    ("http://x/a\x00b", None), ("", None), (None, None),
])
def test_which_links_are_kept(value, expected):
    assert http_url(value, base="http://feed.example/rss") == expected


def test_a_relative_link_on_a_base_with_a_control_character_is_not_kept():
    """Found by fuzzing: the link was checked for control characters, the base it was resolved
    against was not, so 'http://127.0.0.1\\x00.example.org/0' was kept (and failed a second check)."""
    assert http_url("0", base="http://127.0.0.1\x00.example.org/") is None
    assert http_url("/a", base="http://feed.example\x1f/rss") is None
