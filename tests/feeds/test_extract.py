"""The Analyst's article structure, from K2 feed HTML and from article pages served locally."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from digest.feeds.extract import extract_from_feed_html
from tests.factories import articles, feed_at, poll_url, serve_feed
from tests.feed_documents import (ANALYST_BODY, ANALYST_LEAD, SITE_BOILERPLATE, k2_item_page,
                                  recent_items, rss_document)
from tests.servers import Route

BOILERPLATE_WORDS = ("Read ", "times", "Last modified", "Visit also", "Staff Publications",
                     "biweekly publication", "Sign up for", "Tagged under", "tracker")


def _analyst_item(**changes):
    item = dataclasses.replace(
        recent_items(1)[0], title="Water Talks Resume on the Amu Darya", lead=ANALYST_LEAD,
        byline="by Mira Castellan (05/15/2024 issue of the CACI Analyst)",
        body=ANALYST_BODY + SITE_BOILERPLATE.replace("<div", "<p").replace("</div>", "</p>"))
    return dataclasses.replace(item, **changes)


def _assert_analyst_structure(article) -> None:
    assert article.authors == "Mira Castellan"
    assert article.issue_date == dt.date(2024, 5, 15)
    assert article.summary_html == f"<p>{ANALYST_LEAD}</p>"
    parts = article.structure
    assert parts["background"].startswith("<p>Upstream reservoirs fill in winter")
    assert parts["background"].endswith("<p>Earlier rounds produced schedules that no party enforced.</p>")
    assert parts["implications"].startswith("<p>A working channel")
    assert parts["conclusions"].startswith("<p>The talks are a beginning")
    assert parts["author_bio"] == "<p>Mira Castellan is a researcher on water governance in Central Asia.</p>"
    stored = article.summary_html + article.content_html + "".join(parts.values())
    for word in BOILERPLATE_WORDS:
        assert word not in stored, word


def test_it_reads_the_structure_from_the_k2_feed_and_drops_the_boilerplate(settings, feed_server):
    url = serve_feed(feed_server, [_analyst_item()])
    assert poll_url(url).new == 1
    [article] = articles()
    _assert_analyst_structure(article)
    assert article.structure["byline"] == "by Mira Castellan (05/15/2024 issue of the CACI Analyst)"
    assert len(feed_server.requests) == 1  # the feed had it all: no page fetched


def test_an_intro_only_feed_is_completed_from_the_article_page(settings, feed_server):
    item = _analyst_item(full_text=False, lead=ANALYST_LEAD[:60] + "...")
    page_path = item.link(feed_server.base).removeprefix(feed_server.base)
    feed_server.routes[page_path] = lambda handler: Route(
        200, k2_item_page(item, date_line="Wednesday, 15 May 2024", byline=item.byline,
                          tags=["Water", "Tajikistan"]), {"Content-Type": "text/html; charset=utf-8"})
    url = serve_feed(feed_server, [item])
    assert poll_url(url).new == 1
    [article] = articles()
    _assert_analyst_structure(article)
    assert article.tags == ["Water", "Tajikistan"]
    assert article.title == "Water Talks Resume on the Amu Darya"
    page_requests = [headers for path, headers in feed_server.requests if path == page_path]
    assert len(page_requests) == 1 and page_requests[0]["User-Agent"].startswith("AnalystDigest/")
    # Polled again unchanged: the page is not fetched again.
    assert poll_url(url).updated == 0
    assert [path for path, _ in feed_server.requests].count(page_path) == 1


def test_a_missing_article_page_keeps_the_intro_and_warns(settings, feed_server):
    item = _analyst_item(full_text=False)
    url = serve_feed(feed_server, [item])
    result = poll_url(url)
    assert result.new == 1 and result.error is None
    assert "article page not read" in result.warning and "HTTP 404" in result.warning
    assert feed_at(url).last_warning == result.warning
    [article] = articles()
    assert article.summary_html == f"<p>{ANALYST_LEAD}</p>" and article.authors == "Mira Castellan"


@pytest.mark.parametrize("page", [b"", b"  \r\n", b"<!-- nothing -->", b"<p>A lead\x01 with a control</p>",
                                  b"<p>A lead<script>x</script>\x01 with a control</p>"])
def test_an_empty_or_odd_article_page_keeps_the_intro(settings, feed_server, page):
    """An empty page made lxml raise "Document is empty", a control character "All strings must be
    XML compatible": either failed the whole poll. The intro stays, or the page's text is read."""
    item = _analyst_item(full_text=False)
    page_path = item.link(feed_server.base).removeprefix(feed_server.base)
    feed_server.routes[page_path] = Route(200, page, {"Content-Type": "text/html; charset=utf-8"})
    result = poll_url(serve_feed(feed_server, [item]))
    assert (result.new, result.error) == (1, None)
    [article] = articles()
    lead = "A lead with a control" if page.startswith(b"<p>") else ANALYST_LEAD
    assert article.summary_html == f"<p>{lead}</p>" and article.authors == "Mira Castellan"


@pytest.mark.parametrize("byline, authors, place, issue", [
    ("by Mira Castellan (03/20/2013 issue of the CACI Analyst)", ["Mira Castellan"], None, dt.date(2013, 3, 20)),
    ("By Arman Tole, Almaty (3/13/2002 issue of the CACI Analyst)", ["Arman Tole"], "Almaty", dt.date(2002, 3, 13)),
    ("By Lena Vos and Giorgi Bera (11/4/2020 issue of the CACI Analyst)", ["Lena Vos", "Giorgi Bera"], None, dt.date(2020, 11, 4)),
    ("November 16th, 2015, The CACI Analyst", [], None, dt.date(2015, 11, 16)),
    ("March 20, 2025", [], None, dt.date(2025, 3, 20)),
    ("By Sardor Nazar", ["Sardor Nazar"], None, None),
])
def test_it_reads_every_byline_variant(byline, authors, place, issue):
    found = extract_from_feed_html(f"<p>{byline}</p><p>The lead.</p>", "", "https://www.cacianalyst.org/")
    assert (found.byline, found.authors, found.place, found.issue_date) == (byline, authors, place, issue)
    assert found.lead_html == "<p>The lead.</p>"


def test_a_lead_that_starts_like_a_byline_stays_the_lead():
    lead = "By most accounts the talks went well, " + "and the parties agreed on a calendar " * 8 + "."
    found = extract_from_feed_html(f"<p>{lead}</p>", "", "https://www.cacianalyst.org/")
    assert found.byline is None and "By most accounts" in found.lead_html


def test_a_feed_that_is_not_the_analysts_keeps_title_summary_and_link(settings, feed_server):
    items = recent_items(1)
    feed_server.routes["/other.xml"] = Route(
        200, rss_document("2.0", feed_server.base, items), {"Content-Type": "application/rss+xml"})
    poll_url(feed_server.url("/other.xml"))
    [article] = articles()
    assert (article.title, article.url) == (items[0].title, items[0].link(feed_server.base))
    assert article.summary_html == f"<p>{items[0].lead}</p>"
    assert (article.structure, article.issue_date, article.content_html) == ({}, None, "")
