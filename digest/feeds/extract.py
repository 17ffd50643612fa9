"""The Analyst's article structure, from a K2 feed description or from the article page: byline
(authors, place, issue date), lead, BACKGROUND / IMPLICATIONS / CONCLUSIONS, author's bio, tags;
the site's boilerplate dropped. Everything returned is sanitized HTML or plain text."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import lxml.html
from lxml import etree

from digest.feeds.sanitize import sanitize_html

PARTS = ("background", "implications", "conclusions", "author_bio")
_LABELS = re.compile(
    r"^\s*(?P<label>BACKGROUND|IMPLICATIONS|CONCLUSIONS?|AUTHOR[’'`]?S\s+BIO(?:GRAPHY)?)\s*:\s*", re.I)
_LABEL_HTML = re.compile(
    r"^\s*(?:<(?P<tag>strong|b|em|i|span)\b[^>]*>\s*)?(?:BACKGROUND|IMPLICATIONS|CONCLUSIONS?|"
    r"AUTHOR[’'`]?S\s+BIO(?:GRAPHY)?)\s*:?\s*(?(tag)</(?P=tag)>)\s*:?\s*", re.I)
# Where the article ends and the site begins: nothing after one of these is the article's.
_BOILERPLATE = re.compile(
    r"^(read\s+[\d,.]+\s+times|last\s+modified\s+on\b|visit\s+also\b|staff\s+publications\b|"
    r"sign\s+up\s+for\b|tagged\s+under\b|the\s+central\s+asia-caucasus\s+analyst\s+is\s+a\s+"
    r"(bi-?weekly\s+)?publication)", re.I)
_MONTH_DATE = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
# by Author (03/20/2013 issue of the CACI Analyst) | By Author, Place (3/13/2002 issue ...)
_BYLINE_ISSUE = re.compile(r"^by\s+(?P<who>.+?)\s*\(\s*(?P<date>\d{1,2}/\d{1,2}/\d{4})\s+issue\b[^)]*\)\s*\.?$", re.I)
# November 16th, 2015, The CACI Analyst | March 20, 2025 | By Author, March 20, 2025
_BYLINE_DATED = re.compile(
    rf"^(?:by\s+(?P<who>.+?),\s*)?(?P<date>{_MONTH_DATE})(?:\s*,\s*(?:the\s+)?CACI\s+Analyst)?\s*\.?$", re.I)
_BYLINE_PLAIN = re.compile(r"^by\s+(?P<who>[^()\d]{3,200})$", re.I)


@dataclass
class Structure:
    lead_html: str = ""
    body_html: str = ""  # everything after the lead, labels kept, boilerplate removed
    parts: dict[str, str] = field(default_factory=dict)
    authors: list[str] = field(default_factory=list)
    place: str | None = None
    byline: str | None = None
    issue_date: dt.date | None = None
    # Known only from the article page:
    title: str | None = None
    section: str | None = None
    published_on: dt.date | None = None
    tags: list[str] = field(default_factory=list)


def extract_from_blocks(blocks: list[etree._Element], base_url: str) -> Structure:
    """Walk an article's blocks (paragraphs) in order: byline, lead, labelled parts, then stop
    at the first piece of site boilerplate."""
    found = Structure()
    current = "lead"
    collected: dict[str, list[str]] = {"lead": [], **{part: [] for part in PARTS}}
    body: list[str] = []
    for block in blocks:
        text = " ".join(block.text_content().split())
        if not text and block.tag != "img" and not block.xpath(".//img"):
            continue
        if _BOILERPLATE.match(text):
            break
        if current == "lead" and not collected["lead"] and found.byline is None and _read_byline(text, found):
            continue
        markup = lxml.html.tostring(block, encoding="unicode", with_tail=False)
        if label := _LABELS.match(text):
            current = _part_name(label.group("label"))
        if current != "lead":
            body.append(markup)
            markup = _strip_label(block) if label else markup
        collected[current].append(markup)
    found.lead_html = sanitize_html("".join(collected["lead"]), base_url)
    found.body_html = sanitize_html("".join(body), base_url)
    found.parts = {part: sanitize_html("".join(collected[part]), base_url) for part in PARTS
                   if collected[part]}
    return found


def extract_from_feed_html(intro: etree._Element | str, full: etree._Element | str | None,
                           base_url: str) -> Structure:
    """The structure of a K2 feed description: its intro and full text (elements or HTML)."""
    return extract_from_blocks(_blocks(intro) + _blocks(full), base_url)


def extract_from_page(content: str, base_url: str) -> Structure:
    """The structure of a K2 item page: header fields by K2's classes, body by its blocks."""
    root = lxml.html.document_fromstring(content)
    for node in root.xpath("//script | //style | //noscript"):
        node.drop_tree()
    item = _first(root, "//*[contains(concat(' ', normalize-space(@class), ' '), ' itemView ')]")
    item = root if item is None else item
    parts = [*_by_class(item, "itemIntroText"), *_by_class(item, "itemFullText")]
    if parts:
        blocks = [block for part in parts for block in _children(part)]
    else:  # not K2's layout: the paragraphs of the page, in order
        blocks = item.xpath(".//p | .//h2 | .//h3 | .//blockquote | .//ul | .//ol")
    found = extract_from_blocks(blocks, base_url)
    title = _by_class(item, "itemTitle") or root.xpath("//h1") or root.xpath("//title")
    found.title = " ".join(title[0].text_content().split()) or None if title else None
    category = _by_class(item, "itemCategory")
    if category:
        found.section = " ".join(category[0].text_content().split()).removeprefix("Published in").strip() or None
    created = _by_class(item, "itemDateCreated")
    found.published_on = _page_date(" ".join(created[0].text_content().split())) if created else None
    found.tags = [" ".join(a.text_content().split()) for tags in _by_class(item, "itemTags")
                  for a in tags.xpath(".//a") if a.text_content().strip()]
    return found


def _read_byline(text: str, found: Structure) -> bool:
    """Fill authors, place and issue date from a byline; False when `text` is not one."""
    if len(text) > 250:
        return False
    match = _BYLINE_ISSUE.match(text) or _BYLINE_DATED.match(text) or _BYLINE_PLAIN.match(text)
    if not match:
        return False
    found.byline = text
    groups = match.groupdict()
    if groups.get("date"):
        found.issue_date = _byline_date(groups["date"])
    if groups.get("who"):
        found.authors, found.place = _people_and_place(groups["who"])
    return True


def _people_and_place(who: str) -> tuple[list[str], str | None]:
    """'A and B, Tbilisi' -> ([A, B], 'Tbilisi'). A last comma part without 'and' and of at
    most three words is a place, as in the Analyst's older bylines."""
    place = None
    head, comma, tail = who.rpartition(",")
    if comma and " and " not in tail and len(tail.split()) <= 3 and "&" not in tail:
        who, place = head, tail.strip()
    names = re.split(r"\s*(?:,|\band\b|&)\s*", who)
    return [name.strip() for name in names if name.strip()], place


def _byline_date(value: str) -> dt.date | None:
    value = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", value.replace(",", " "))
    value = " ".join(value.split())
    for pattern in ("%m/%d/%Y", "%B %d %Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


def _page_date(value: str) -> dt.date | None:
    """K2's item date line, e.g. 'Wednesday, 27 March 2013'."""
    value = " ".join(value.replace(",", " ").split())
    for pattern in ("%A %d %B %Y", "%d %B %Y", "%A %B %d %Y", "%B %d %Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


def _part_name(label: str) -> str:
    label = label.upper()
    if label.startswith("AUTHOR"):
        return "author_bio"
    return "conclusions" if label.startswith("CONCLUSION") else label.lower()


def _strip_label(block: etree._Element) -> str:
    """The block's HTML without its leading 'BACKGROUND:'-style label (bold or not)."""
    inner = (block.text and _escape(block.text) or "") + "".join(
        lxml.html.tostring(child, encoding="unicode") for child in block)
    return f"<{block.tag}>{_LABEL_HTML.sub('', inner, count=1)}</{block.tag}>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _blocks(html: etree._Element | str | None) -> list[etree._Element]:
    if html is None or isinstance(html, str) and not html.strip():
        return []
    if isinstance(html, str):
        html = lxml.html.fragment_fromstring(html, create_parent="div")
    return _children(html)


def _children(container: etree._Element) -> list[etree._Element]:
    """Block-level children; a bare text run or inline run becomes a paragraph of its own, and
    a wrapping div is looked into."""
    blocks: list[etree._Element] = []
    pending = lxml.html.Element("p")
    pending.text = container.text

    def flush() -> None:
        nonlocal pending
        if pending.text_content().strip() or pending.xpath(".//img"):
            blocks.append(pending)
        pending = lxml.html.Element("p")

    for child in list(container):
        if not isinstance(child.tag, str):  # comments, processing instructions
            _append_text(pending, child.tail)
            continue
        if child.tag in ("div", "section", "article"):
            flush()
            blocks.extend(_children(child))
            _append_text(pending, child.tail)
        elif child.tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "table", "figure", "pre", "hr"):
            flush()
            tail, child.tail = child.tail, None
            blocks.append(child)
            _append_text(pending, tail)
        elif child.tag == "br" and len(pending) and pending[-1].tag == "br":
            flush()  # <br><br> separates paragraphs in some older items
            _append_text(pending, child.tail)
        else:
            pending.append(child)
    flush()
    return blocks


def _append_text(element: etree._Element, text: str | None) -> None:
    if not text:
        return
    if len(element):
        element[-1].tail = (element[-1].tail or "") + text
    else:
        element.text = (element.text or "") + text


def _by_class(root: etree._Element, name: str) -> list[etree._Element]:
    return root.xpath(f".//*[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]")


def _first(root: etree._Element, path: str) -> etree._Element | None:
    found = root.xpath(path)
    return found[0] if found else None
