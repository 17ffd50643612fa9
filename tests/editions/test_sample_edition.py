"""An edition of the bundled sample feed, as a reader gets it: authors, dates and leads right in
both parts, no byline in a lead, a page behind every article link, the footer's wording."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from urllib.parse import urlsplit

import httpx
import lxml.html
import pytest

from digest.editions.compose import compose_next_edition
from digest.editions.lookup import get_edition
from digest.editions.render import fill, render_edition
from digest.feeds.extract import extract_from_page
from digest.feeds.lead import LEAD_WORDS
from digest.feeds.parse import parse_feed
from digest.feeds.poll import poll_feed
from digest.feeds.registry import add_feed
from digest.sample.server import SAMPLE_FEED, feed_url, make_server
from digest.store.db import unit_of_work
from digest.store.models import Article
from tests.servers import serve_in_thread

# The sample's items are dated November 2026; the edition is composed as of the end of that month.
NOW = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
EXPECTED = {  # title start: (authors, section, issue date, the parts of the line under the title)
    "Open Budget Hearings": ("Nodira Kessel", "Field Reports", None, ("Nodira Kessel", "27 November 2026")),
    "Joint Customs Posts": (None, "News Digest", dt.date(2026, 11, 25), ("25 November 2026 issue",)),
    "Caspian Gas Exporters": ("Daniyar Hollis", "Analytical Articles", dt.date(2026, 11, 26),
                              ("Daniyar Hollis", "26 November 2026 issue")),
    "Bulk Shipments Divide": ("Aram Velt", "Field Reports", dt.date(2026, 11, 24),
                              ("Aram Velt", "Tbilisi", "24 November 2026 issue")),
    "Draft Parliamentary Reform": ("Sofia Berenson", "Analytical Articles", dt.date(2026, 11, 20),
                                   ("Sofia Berenson", "20 November 2026 issue")),
    "Kazakhstan’s Grain Exporters": (
        "Aigerim Tolen", "Analytical Articles", dt.date(2026, 11, 18),
        ("Aigerim Tolen (researcher, Institute for Regional Studies)", "Almaty", "18 November 2026 issue")),
    "Upstream Storage Plans": ("Timur Aliyev-Grant, Lena Okafor", "Analytical Articles", dt.date(2026, 11, 17),
                               ("Timur Aliyev-Grant, Lena Okafor", "17 November 2026 issue")),
    # Day first, as the journal wrote it in 2013 ("the 04/11/2026 issue"): 4 November, not 11 April.
    "Armenia’s Solar Auctions": ("Rustam Okoye", "Analytical Articles", dt.date(2026, 11, 4),
                                 ("Rustam Okoye", "4 November 2026 issue")),
    "Ferry Bottlenecks": ("Elena Marsh", "Analytical Articles", dt.date(2026, 11, 11),
                          ("Elena Marsh", "Baku", "11 November 2026 issue")),
}
BYLINE_WORDS = ("By ", "By:", "CACI Analyst", "issue of the")


@pytest.fixture
def sample_server():
    server = make_server(port=0, today=NOW.date())
    serve_in_thread(server)
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _expected(title: str):
    [found] = [value for start, value in EXPECTED.items() if title.startswith(start)]
    return found


def test_an_edition_of_the_sample_feed_reads_right_in_both_parts(settings, sample_server):
    with unit_of_work() as session:
        feed = add_feed(session, feed_url(port=sample_server))
        assert poll_feed(session, feed.id, NOW).new == len(EXPECTED)
        stored = {a.title: a for a in session.query(Article)}
        for title, article in stored.items():
            authors, section, issue, _ = _expected(title)
            assert (article.authors, article.section, article.issue_date) == (authors, section, issue), title
            assert article.tags, title
        edition = compose_next_edition(session, NOW)
        rendered = render_edition(get_edition(session, edition.id))
    filled = fill(rendered, {"name": "Reader", "unsubscribe_url": "https://x.example/u/1",
                             "preferences_url": "https://x.example/p/1"})

    tree = lxml.html.fromstring(filled.html)
    assert [h.text_content() for h in tree.xpath("//h1")] == ["Central Asia-Caucasus Analyst"]
    assert [s.text_content() for s in tree.xpath("//h2[contains(@class,'section-name')]")] == [
        "Analytical Articles", "Field Reports", "News Digest"]
    blocks = tree.xpath("//table[contains(@class,'article')]")
    assert len(blocks) == len(EXPECTED)
    for block in blocks:
        title = block.xpath(".//h3[contains(@class,'article-title')]/a")[0].text_content()
        # Its parts joined by a dot that a no-break space keeps at the end of a line.
        meta = block.xpath(".//p[contains(@class,'article-meta')]")[0].text_content()
        assert meta == "\xa0· ".join(_expected(title)[3]), (title, meta)
        lead = " ".join(block.xpath(".//div[contains(@class,'article-summary')]")[0].text_content().split())
        assert 20 <= len(lead.split()) <= LEAD_WORDS, title
        assert re.search(r"[.!?”’…]$", lead), (title, lead)
        assert not any(word in lead for word in BYLINE_WORDS), (title, lead)
        assert not block.xpath(".//div[contains(@class,'article-summary')]//img")
        # The link says where it goes, as seen and as heard (no aria-label that differs).
        [read] = block.xpath(".//p[contains(@class,'read-more')]/a")
        assert read.text_content() == f"Read: {title}" and read.get("aria-label") is None

    text = filled.text
    for title, article in stored.items():
        at = text.index(title.split()[0] + " " + title.split()[1])
        entry = text[at:text.index("Read the article:", at)]
        head = " ".join(entry.split("\n\n", 1)[0].split())  # title and the line under it, unwrapped
        assert head == f"{title} {', '.join(_expected(title)[3])}", entry
        lead = entry.split("\n\n", 1)[1]
        assert 20 <= len(lead.split()) <= LEAD_WORDS and not any(w in lead for w in BYLINE_WORDS), lead
        assert not re.search(r"[a-z][A-Z][a-z]", lead), lead  # no glued words
    assert "the CACI Analyst digest" in filled.html and "the The " not in filled.html + text


def test_every_item_link_of_the_sample_opens_a_k2_article_page(sample_server):
    feed = httpx.get(feed_url(port=sample_server)).text
    links = re.findall(r"<link>(http://127\.0\.0\.1:8025/publications/[^<]+/item/[^<]+)</link>", feed)
    assert len(links) == len(EXPECTED)
    for link in links:
        page = httpx.get(link.replace(":8025", f":{sample_server}"))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        found = extract_from_page(page.text, link)
        authors, section, issue, _ = _expected(found.title)
        assert (", ".join(found.authors) or None, found.section, found.issue_date) == (authors, section, issue)
        assert found.tags and found.lead_html and found.published_on
    assert httpx.get(f"http://127.0.0.1:{sample_server}/publications/nothing/item/1-x.html").status_code == 404


@pytest.mark.parametrize("today", [dt.date(2026, 11, 29), dt.date(2027, 6, 3), dt.date(2031, 1, 1)])
def test_the_sample_stays_recent_whatever_the_day_it_is_served(today):
    """A quickstart run months from now still finds a fortnight's articles: dates move forward by
    whole fortnights, keeping their weekdays, and so do the article pages and the bylines' issues."""
    server = make_server(port=0, today=today)
    serve_in_thread(server)
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        feed = httpx.get(feed_url(port=server.server_address[1])).text
        served = [email.utils.parsedate_to_datetime(d) for d in re.findall(r"<pubDate>([^<]+)</pubDate>", feed)]
        written = [email.utils.parsedate_to_datetime(d) for d in re.findall(
            r"<pubDate>([^<]+)</pubDate>", SAMPLE_FEED.read_text())]
        assert today - dt.timedelta(days=14) <= max(served).date() <= today
        assert {d.weekday() for d in served} == {d.weekday() for d in written}
        assert [b - a for a, b in zip(served, served[1:])] == [b - a for a, b in zip(written, written[1:])]
        # Each byline's issue moves with its item, read as the written one is (day first too).
        shift = served[0] - written[0]
        for entry in parse_feed(feed.encode(), url=feed_url(port=server.server_address[1])).entries:
            issue = _expected(entry.title)[2]
            assert entry.issue_date == (issue + shift if issue else None), entry.title
        link = re.search(r"<item>.*?<link>([^<]+)</link>", feed, re.S)
        page = httpx.get(base + urlsplit(link.group(1)).path).text
        assert f"{served[0]:%d %B %Y}" in page
    finally:
        server.shutdown()
        server.server_close()
