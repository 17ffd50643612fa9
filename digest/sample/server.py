"""A tiny local web server for the bundled sample feed, so the demo needs no internet. It serves
the feed and answers each item's link with the article page, laid out as Joomla K2 lays out the
journal's pages (header, intro text, full text, tags), made from the feed's own item.

The items are dated November 2026. So that the quickstart and the demo always find recent
articles, the server moves every date forward by whole fortnights until the newest item is at
most two weeks old (`today` fixes the day, for tests); weekdays and spacing stay as written. The
issue dates the bylines name move with them, each written as it was ("November 24th", "the
04/11/2026 issue", day first as the journal wrote it in 2013), so an item stays in its issue."""

from __future__ import annotations

import datetime as dt
import re
import threading
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache, partial
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import lxml.html
from lxml import etree

from digest.feeds.byline import numeric_date
from digest.feeds.parse import k2_tags

SAMPLE_DIR = Path(__file__).resolve().parent
SAMPLE_FEED = SAMPLE_DIR / "analytical-articles.feed"
DEFAULT_PORT = 8025
SAMPLE_FEED_PATH = "/publications/analytical-articles.feed"


FORTNIGHT = dt.timedelta(days=14)
_PUB_DATE = re.compile(rb"<pubDate>([^<]+)</pubDate>")
_ITEM = re.compile(r"<item>.*?</item>", re.S)
_NUMERIC_ISSUE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})(?=\s+issue\b)")
_MONTH_DAY = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December)"
                        r"\s+(\d{1,2})(st|nd|rd|th)?(,\s*\d{4})?")


def date_shift(today: dt.date) -> dt.timedelta:
    """Whole fortnights that bring the newest item to within two weeks of `today` (never back)."""
    newest = max(parsedate_to_datetime(m.decode()).date() for m in _PUB_DATE.findall(SAMPLE_FEED.read_bytes()))
    behind = today - FORTNIGHT - newest
    return FORTNIGHT * -(-behind.days // FORTNIGHT.days) if behind.days > 0 else dt.timedelta(0)


@lru_cache(maxsize=4)
def sample_feed(shift: dt.timedelta) -> bytes:
    """The bundled feed with every pubDate moved forward by `shift`."""
    def moved(match: re.Match) -> bytes:
        when = parsedate_to_datetime(match.group(1).decode()) + shift
        return b"<pubDate>" + format_datetime(when).encode() + b"</pubDate>"

    written = SAMPLE_FEED.read_text(encoding="utf-8")
    if shift:
        written = _ITEM.sub(lambda item: _issue_dates_moved(item.group(0), shift), written)
    return _PUB_DATE.sub(moved, written.encode("utf-8"))


def _issue_dates_moved(item: str, shift: dt.timedelta) -> str:
    """An item's byline dates moved by `shift`, each in the order and form it was written in."""
    published = parsedate_to_datetime(re.search(r"<pubDate>([^<]+)</pubDate>", item).group(1)).date()

    def numeric(match: re.Match) -> str:
        first, second, _ = match.groups()
        named = numeric_date(match.group(0), published)
        day_first = first != second and (named.day, named.month) == (int(first), int(second))
        moved = named + shift
        parts = (moved.day, moved.month) if day_first else (moved.month, moved.day)
        return f"{parts[0]:0{len(first)}d}/{parts[1]:0{len(second)}d}/{moved.year}"

    def month_day(match: re.Match) -> str:
        month, day, suffix, year = match.groups()
        named = dt.datetime.strptime(f"{month} {day} {year.strip(' ,') if year else published.year}", "%B %d %Y").date()
        moved = named + shift
        return f"{moved:%B} {moved.day}{_ordinal(moved.day) if suffix else ''}{f', {moved.year}' if year else ''}"

    return _MONTH_DAY.sub(month_day, _NUMERIC_ISSUE.sub(numeric, item))


def _ordinal(day: int) -> str:
    return "th" if 10 < day % 100 < 14 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


@lru_cache(maxsize=4)
def article_pages(shift: dt.timedelta) -> dict[str, bytes]:
    """Each item's page, by the path of its link (the feed is ours and fixed: built once)."""
    channel = etree.fromstring(sample_feed(shift), etree.XMLParser(resolve_entities=False, no_network=True))
    pages = {}
    for item in channel.iterfind(".//item"):
        pages[urlsplit(item.findtext("link").strip()).path] = _k2_page(item)
    return pages


def _k2_page(item: etree._Element) -> bytes:
    title = escape(item.findtext("title"))
    section = escape(item.findtext("category"))
    created = parsedate_to_datetime(item.findtext("pubDate")).astimezone(dt.UTC)
    description = lxml.html.fragment_fromstring(item.findtext("description"), create_parent="div")

    def inner(name: str) -> str:
        found = description.xpath(f'.//div[contains(@class, "{name}")]')
        return "".join(lxml.html.tostring(child, encoding="unicode") for child in found[0]) if found else ""

    tags = description.xpath('.//div[contains(@class, "K2FeedTags")]')
    tag_items = "".join(
        f'<li><a href="/publications/itemlist/tag/{escape(tag)}.html">{escape(tag)}</a></li>'
        for tag in (k2_tags(tags[0]) if tags else []))
    return (
        '<!DOCTYPE html><html lang="en-gb"><head><meta charset="utf-8">'
        f"<title>{title} - Central Asia-Caucasus Analyst</title></head><body>"
        '<div id="k2Container" class="itemView">'
        f'<div class="itemHeader"><span class="itemDateCreated">{created:%A, %d %B %Y}</span>'
        f'<h2 class="itemTitle">{title}</h2>'
        f'<div class="itemCategory"><span>Published in</span> <a href="/publications.html">{section}</a></div></div>'
        f'<div class="itemBody"><div class="itemIntroText">{inner("K2FeedIntroText")}</div>'
        f'<div class="itemFullText">{inner("K2FeedFullText")}</div></div>'
        f'<div class="itemTagsBlock"><span>Tagged under</span><ul class="itemTags">{tag_items}</ul></div>'
        '<div class="itemHitsBlock"><span class="itemHits">Read <b>1</b> times</span></div>'
        "</div></body></html>"
    ).encode()


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, today: dt.date | None, **kwargs):
        self.today = today
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        shift = date_shift(self.today or dt.date.today())
        # Item aliases may hold non-ASCII characters (Joomla's typographic apostrophes): a client
        # asks for them percent-encoded.
        path = unquote(self.path.split("?", 1)[0])
        if path == SAMPLE_FEED_PATH:
            self._answer(sample_feed(shift), "application/rss+xml; charset=utf-8")
        elif path in article_pages(shift):
            self._answer(article_pages(shift)[path], "text/html; charset=utf-8")
        else:
            self.send_error(404)

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass


def make_server(host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                today: dt.date | None = None) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), partial(_Handler, directory=str(SAMPLE_DIR), today=today))


def start_in_thread(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    server = make_server(host, port)
    threading.Thread(target=server.serve_forever, daemon=True, name="sample-feed").start()
    return server


def feed_url(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    return f"http://{host}:{port}{SAMPLE_FEED_PATH}"
