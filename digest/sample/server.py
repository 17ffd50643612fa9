"""A tiny local web server for the bundled sample feed, so the demo needs no internet. It serves
the feed and answers each item's link with the article page, laid out as Joomla K2 lays out the
journal's pages (header, intro text, full text, tags), made from the feed's own item."""

from __future__ import annotations

import datetime as dt
import threading
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from html import escape
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

from digest.feeds.parse import k2_tags

SAMPLE_DIR = Path(__file__).resolve().parent
SAMPLE_FEED = SAMPLE_DIR / "analytical-articles.feed"
DEFAULT_PORT = 8025
SAMPLE_FEED_PATH = "/publications/analytical-articles.feed"


@lru_cache(maxsize=1)
def article_pages() -> dict[str, bytes]:
    """Each item's page, by the path of its link (the feed is ours and fixed: built once)."""
    channel = etree.parse(str(SAMPLE_FEED), etree.XMLParser(resolve_entities=False, no_network=True))
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
    extensions_map = {".feed": "application/rss+xml; charset=utf-8"}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        page = article_pages().get(self.path.split("?", 1)[0])
        if page is None:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def translate_path(self, path: str) -> str:
        # /publications/<name>.feed -> the bundled <name>.feed; nothing else is served.
        name = path.split("?", 1)[0].rsplit("/", 1)[-1]
        return str(SAMPLE_DIR / name) if name.endswith(".feed") else str(SAMPLE_DIR / "missing")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass


def make_server(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), partial(_Handler, directory=str(SAMPLE_DIR)))


def start_in_thread(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    server = make_server(host, port)
    threading.Thread(target=server.serve_forever, daemon=True, name="sample-feed").start()
    return server


def feed_url(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    return f"http://{host}:{port}{SAMPLE_FEED_PATH}"
