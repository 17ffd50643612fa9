"""Turn fetched feed bytes into entries: feedparser for the format, then the article's structure."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from dataclasses import dataclass

import feedparser
import lxml.html

from digest.feeds.sanitize import html_to_text, sanitize_html


class ParseError(Exception):
    """The document is not a feed we can read (no entries, not XML, not RSS/Atom)."""


@dataclass(frozen=True)
class Entry:
    key: str
    url: str
    title: str
    authors: str | None
    section: str | None
    published_at: dt.datetime
    summary_html: str
    content_html: str

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.url, self.title, self.authors or "", self.section or "",
                     self.summary_html, self.content_html, self.published_at.isoformat()):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    entries: list[Entry]
    warning: str | None


def parse_feed(content: bytes, *, url: str, content_type: str | None = None,
               fetched_at: dt.datetime) -> ParsedFeed:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(content, response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    problem = parsed.get("bozo_exception")
    if not parsed.entries:
        reason = f": {problem}" if problem else ""
        raise ParseError(f"{url} holds no feed entries{reason}")
    entries = [_entry(raw, url, fetched_at) for raw in parsed.entries]
    warning = f"parsed with errors: {problem}" if parsed.get("bozo") and problem else None
    return ParsedFeed(parsed.feed.get("title"), [e for e in entries if e is not None], warning)


def _entry(raw: feedparser.FeedParserDict, feed_url: str, fetched_at: dt.datetime) -> Entry | None:
    link = (raw.get("link") or "").strip()
    title = _title(raw) or link
    if not title:
        return None
    published = _timestamp(raw.get("published_parsed") or raw.get("updated_parsed")) or fetched_at
    base = link or feed_url
    body = _body_html(raw)
    intro, full = _split_k2(body)
    summary = sanitize_html(intro or body, base)
    content = sanitize_html(full, base) if intro else ""
    key = (raw.get("id") or "").strip() or link or _hash_key(title, published)
    tags = raw.get("tags") or []
    section = (tags[0].get("term") if tags else None) or None
    return Entry(
        key=key[:500],
        url=link or feed_url,
        title=title,
        authors=_authors(raw),
        section=section,
        published_at=published,
        summary_html=summary,
        content_html=content,
    )


def _title(raw: feedparser.FeedParserDict) -> str:
    """Titles are text; one marked as HTML (Atom type="html") is reduced to its text."""
    title = raw.get("title") or ""
    if (raw.get("title_detail") or {}).get("type") in ("text/html", "application/xhtml+xml"):
        return html_to_text(title)
    return " ".join(title.split())


def _body_html(raw: feedparser.FeedParserDict) -> str:
    for content in raw.get("content") or []:
        if content.get("value"):
            return content["value"]
    return raw.get("summary") or raw.get("description") or ""


def _split_k2(html: str) -> tuple[str, str]:
    """K2 wraps the lead in K2FeedIntroText and the rest in K2FeedFullText; ('', '') if absent."""
    if "K2FeedIntroText" not in html:
        return "", ""
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    intro = root.xpath('.//div[contains(@class, "K2FeedIntroText")]')
    full = root.xpath('.//div[contains(@class, "K2FeedFullText")]')
    inner = lambda nodes: "".join(  # noqa: E731
        lxml.html.tostring(child, encoding="unicode") for node in nodes for child in node
    )
    return inner(intro), inner(full)


def _authors(raw: feedparser.FeedParserDict) -> str | None:
    names = [a.get("name") for a in raw.get("authors") or [] if a.get("name")]
    if not names and raw.get("author"):
        names = [raw["author"]]
    return ", ".join(names) or None


def _timestamp(value) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)


def _hash_key(title: str, published: dt.datetime) -> str:
    return "sha256:" + hashlib.sha256(f"{title}\0{published.isoformat()}".encode()).hexdigest()
