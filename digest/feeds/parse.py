"""Turn fetched feed bytes into entries: our own charset decision and entity guard, feedparser
for the format (RSS 0.9x/1.0/2.0, Atom), then each entry's identity and structure."""

from __future__ import annotations

import calendar
import codecs
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field

import feedparser
import lxml.html
from lxml import etree

from digest.feeds.debris import clean_text, xml_safe_markup
from digest.feeds.extract import Structure, email_lead, extract_from_feed_html
from digest.feeds.identity import entry_key, k2_item_key
from digest.feeds.links import http_url
from digest.feeds.sanitize import html_to_text, sanitize_html

_XML_DECLARATION = re.compile(rb"^(\s*<\?xml\b[^>]*?)\s+encoding\s*=\s*([\"'])([A-Za-z0-9._:-]*)\2", re.I)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[", re.I)
_BOMS = [(codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]


class ParseError(Exception):
    """The document is not a feed we can read (no entries, not RSS/Atom, hostile)."""


@dataclass(frozen=True)
class Entry:
    key: str
    url: str
    title: str
    authors: str | None
    section: str | None
    published_at: dt.datetime | None  # None when the feed gives no date
    summary_html: str  # the lead (the Analyst's) or the entry's summary
    content_html: str
    issue_date: dt.date | None = None
    tags: list[str] = field(default_factory=list)
    structure: dict = field(default_factory=dict)
    # A K2 item whose feed carries only the intro: the rest is on the article page.
    needs_page: bool = False
    # For an entry completed from its page: the hash of the feed's version, which is what a
    # later poll compares (so an unchanged entry never costs a page fetch).
    source_hash: str = ""

    @property
    def feed_hash(self) -> str:
        return self.source_hash or self.content_hash

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.url, self.title, self.authors or "", self.section or "",
                     self.summary_html, self.content_html,
                     self.published_at.isoformat() if self.published_at else "",
                     self.issue_date.isoformat() if self.issue_date else "",
                     json.dumps(self.tags), json.dumps(self.structure, sort_keys=True)):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    entries: list[Entry]
    warning: str | None


def decode_document(content: bytes, content_type: str | None) -> str:
    """The document's text. Valid UTF-8 is taken as UTF-8 whatever a header or declaration
    claims (servers often label UTF-8 as ISO-8859-1); otherwise the declared charset, else
    Windows-1252, which decodes any byte."""
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content[len(bom):].decode(codec, errors="replace")
    declared = _declared_charset(content, content_type)
    if declared and declared.startswith(("utf-16", "utf-32")):
        return content.decode(declared, errors="replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared and declared not in ("utf-8", "utf8", "us-ascii", "ascii"):
        try:
            return content.decode(declared, errors="replace")
        except LookupError:
            pass
    return content.decode("windows-1252", errors="replace")


def _declared_charset(content: bytes, content_type: str | None) -> str | None:
    match = _CHARSET.search(content_type or "")
    if match:
        name = match.group(1)
    else:
        declaration = _XML_DECLARATION.match(content[:200])
        name = declaration.group(3).decode("ascii") if declaration else None
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def parse_feed(content: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Raises ParseError for a document with no entries, one that is not a feed, or one that
    declares XML entities (an entity-expansion attack needs them; real feeds do not)."""
    text = decode_document(content, content_type)
    document = _XML_DECLARATION.sub(rb"\1", xml_safe_markup(text).encode("utf-8"), count=1)
    if _declares_entities(document):
        raise ParseError(f"{url} declares XML entities in its DOCTYPE; refused unparsed")
    media_type = (content_type or "application/xml").split(";")[0].strip() or "application/xml"
    # No content-location: feedparser would resolve an opaque guid against the feed's address
    # and make it look like a permalink; links are resolved here, in `_link`.
    try:
        parsed = feedparser.parse(
            document,
            response_headers={"content-type": f"{media_type}; charset=utf-8"},
            sanitize_html=False, resolve_relative_uris=False,
        )
    except ValueError as exc:
        # Python's SAX reader splits a namespace URI at any blank, a no-break space included, and
        # feedparser then fails to unpack the name: a document no parser reads, not a crash.
        raise ParseError(f"{url} could not be parsed: {exc}") from None
    problem = parsed.get("bozo_exception")
    if not parsed.entries:
        if not parsed.get("version") and re.search(r"<html\b", text[:4096], re.I):
            raise ParseError(f"{url} is an HTML page, not an RSS or Atom feed")
        reason = f": {problem}" if problem else ""
        raise ParseError(f"{url} holds no feed entries{reason}")
    entries = [_entry(raw, url) for raw in parsed.entries]
    warning = f"parsed with errors: {problem}" if parsed.get("bozo") and problem else None
    return ParsedFeed(parsed.feed.get("title"), [e for e in entries if e is not None], warning)


def _declares_entities(document: bytes) -> bool:
    """A DOCTYPE with an internal subset that declares entities (before the root element)."""
    match = _DOCTYPE_SUBSET.search(document, 0, 65536)
    if not match:
        return False
    end = document.find(b"]", match.end())
    subset = document[match.end():end if end != -1 else len(document)]
    return b"<!ENTITY" in subset.upper()


def _entry(raw: feedparser.FeedParserDict, feed_url: str) -> Entry | None:
    link = _link(raw, feed_url)
    title = _title(raw) or link
    if not title:
        return None
    published = _timestamp(raw.get("published_parsed") or raw.get("updated_parsed"))
    base = link or feed_url
    terms = [t.get("term").strip() for t in raw.get("tags") or [] if (t.get("term") or "").strip()]
    key = entry_key(_guid(raw, feed_url), link, title, published)
    intro, full, item_tags = _split_k2(_body_html(raw))
    if intro is None and k2_item_key(link) is None:
        # Not the Analyst's markup: keep what any feed has, a bounded lead and a link. Its
        # categories are tags; its section is the one the editor gave the feed, if any.
        summary, content = _generic_bodies(raw)
        lead, shown_whole = email_lead(summary)
        whole = content if content and content != summary else ("" if shown_whole else summary)
        return Entry(key=key, url=link, title=title, section=None, published_at=published,
                     authors=_authors(raw), tags=terms, summary_html=lead,
                     content_html=sanitize_html(whole, base) if whole else "")
    # The Analyst's K2: the item's category is its section; K2's tags, else its other categories.
    fields = dict(key=key, url=link, title=title, section=terms[0] if terms else None,
                  published_at=published, authors=_authors(raw), tags=item_tags or terms[1:])
    if intro is None:  # a K2 item link without K2's markup (an Atom export): a bounded summary
        summary, content = _generic_bodies(raw)
        lead, _ = email_lead(summary)
        return Entry(**fields, summary_html=lead,
                     content_html=sanitize_html(content, base) if content != summary else "")
    structure = extract_from_feed_html(intro, full, base, published.date() if published else None)
    needs_page = (full is None or not full.text_content().strip()) and k2_item_key(link) is not None
    return analyst_entry(Entry(**fields, summary_html="", content_html="", needs_page=needs_page), structure)


def _guid(raw: feedparser.FeedParserDict, feed_url: str) -> str | None:
    """The guid resolved against the feed, as it always was for identity (so keys stay stable);
    one no URL parser reads ("http://[::1") is an opaque guid, kept as the feed wrote it."""
    guid = (raw.get("id") or "").strip()
    if not guid:
        return None
    try:
        return lxml.html.urljoin(feed_url, guid)
    except ValueError:
        return guid


def _link(raw: feedparser.FeedParserDict, feed_url: str) -> str:
    """The item's link; without one, its guid when that is a permalink (an absolute http(s)
    URL), else no link at all: never the feed's own address."""
    link = (raw.get("link") or "").strip()
    if not link:
        return ""
    if raw.get("guidislink") and link == (raw.get("id") or "").strip():
        # feedparser took the guid for the link: only an absolute http(s) URL is a permalink.
        return http_url(link) or ""
    # Only an http(s) link is kept (a relative one made absolute against the feed): a
    # `javascript:` or `data:` link, however spelled, is dropped and the item keeps no link.
    return http_url(link, base=feed_url) or ""


def analyst_entry(entry: Entry, found: Structure) -> Entry:
    """`entry` with the Analyst's structure: byline authors win over the feed's author field,
    which on the Analyst's site names whoever posted the item (so a byline naming the site's
    placeholder author leaves the article without one)."""
    structure = {part: html for part, html in found.parts.items() if html}
    if found.byline:
        structure["byline"] = found.byline
    if found.place:
        structure["place"] = found.place
    if found.affiliation:
        structure["affiliation"] = found.affiliation
    return Entry(
        key=entry.key, url=entry.url,
        title=entry.title or found.title or entry.url,
        authors=", ".join(found.authors) or (None if found.placeholder_author else entry.authors),
        section=entry.section or found.section,
        published_at=entry.published_at or _midnight(found.published_on),
        summary_html=found.lead_html, content_html=found.body_html,
        issue_date=found.issue_date, tags=found.tags or entry.tags,
        structure=structure, needs_page=entry.needs_page,
    )


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(day, dt.time(), dt.UTC) if day else None


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


def _generic_bodies(raw: feedparser.FeedParserDict) -> tuple[str, str]:
    content = next((c["value"] for c in raw.get("content") or [] if c.get("value")), "")
    summary = raw.get("summary") or content
    return _as_html(summary, raw.get("summary_detail")), _as_html(content, None)


def _as_html(value: str, detail) -> str:
    if detail and detail.get("type") == "text/plain":
        return "<p>" + value.replace("&", "&amp;").replace("<", "&lt;") + "</p>"
    return value


def _split_k2(html: str) -> tuple[etree._Element | None, etree._Element | None, list[str]]:
    """K2 wraps the lead in K2FeedIntroText, the rest in K2FeedFullText and the tags in
    K2FeedTags: those two elements, parsed once, and the tags; (None, None, []) for other markup."""
    if "K2FeedIntroText" not in html:
        return None, None, []
    root = lxml.html.fragment_fromstring(xml_safe_markup(html), create_parent="div")
    intro = root.xpath('.//div[contains(@class, "K2FeedIntroText")]')
    full = root.xpath('.//div[contains(@class, "K2FeedFullText")]')
    tags = root.xpath('.//div[contains(@class, "K2FeedTags")]')
    return (intro[0] if intro else None), (full[0] if full else None), (k2_tags(tags[0]) if tags else [])


def k2_tags(element: etree._Element) -> list[str]:
    """K2's tags: `#Tag_Name` text in current K2, a list (of links) in older versions."""
    items = [" ".join(li.text_content().split()) for li in element.xpath(".//li")]
    if not items:
        items = [name.replace("_", " ") for name in re.findall(r"#([^\s#]+)", element.text_content())]
    tags: list[str] = []
    for name in (clean_text(item).strip() for item in items):
        if name and name not in tags:
            tags.append(name[:100])
    return tags


def _authors(raw: feedparser.FeedParserDict) -> str | None:
    names = [a.get("name") for a in raw.get("authors") or [] if a.get("name")]
    if not names and raw.get("author"):
        names = [raw["author"]]
    return ", ".join(names) or None


def _timestamp(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromtimestamp(calendar.timegm(value), dt.UTC)
    except (OverflowError, ValueError, OSError):
        return None
