"""Hostile feed HTML: nothing executable is stored, anywhere in an article, and links are absolute."""

from __future__ import annotations

import dataclasses

from digest.feeds.sanitize import sanitize_html
from tests.factories import articles, poll_url, serve_feed
from tests.feed_documents import recent_items

HOSTILE = (
    'Fine <script>alert(1)</script><a href="javascript:alert(2)" onclick="x()">link</a>'
    '<a href=" JaVaScRiPt:alert(3)">two</a><a href="&#106;avascript:alert(4)">three</a>'
    '<img src="/media/a.jpg" onerror="steal()"><iframe src="https://evil.example/"></iframe>'
    '<style>p{background:url(javascript:alert(5))}</style><p style="color:red" onmouseover="y()">styled</p>'
    '<svg onload="z()"><circle/></svg><form action="/x"><input name="q"></form>'
    '<a href="data:text/html,<script>alert(6)</script>">data</a><a href="relative/page.html">rel</a>'
)
FORBIDDEN = ("<script", "alert(", "javascript:", "onclick", "onerror", "onmouseover", "onload", "<iframe",
             "<style", "style=", "<svg", "<form", "<input", "data:text")


def test_it_strips_scripts_handlers_and_javascript_links_everywhere(settings, feed_server):
    item = dataclasses.replace(
        recent_items(1)[0], lead=HOSTILE, byline="by Mira Castellan (05/15/2024 issue of the CACI Analyst)",
        body=f"<p>BACKGROUND: {HOSTILE}</p><p>CONCLUSIONS: {HOSTILE}</p><p>AUTHOR'S BIO: {HOSTILE}</p>")
    poll_url(serve_feed(feed_server, [item]))
    [article] = articles()
    stored = [article.summary_html, article.content_html, *article.structure.values()]
    assert len(stored) == 6  # lead, full text, background, conclusions, author's bio, byline
    for html in stored:
        for word in FORBIDDEN:
            assert word not in html, (word, html)
    # The lead is text for an email (no image, no link); in the article's parts, relative links
    # become absolute against the article's address.
    assert "<img" not in article.summary_html and "<a " not in article.summary_html
    background = article.structure["background"]
    assert f'src="{feed_server.base}/media/a.jpg"' in background
    assert f'href="{feed_server.base}/publications/analytical-articles/item/relative/page.html"' in background


def test_sanitizing_keeps_ordinary_markup():
    html = '<p>A <strong>bold</strong> <em>claim</em>, <a href="https://example.org/x" title="t">a link</a>.</p>'
    assert sanitize_html(html) == html.replace('title="t"', 'title="t" rel="noopener noreferrer"')
