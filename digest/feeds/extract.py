"""The Analyst's article structure, from a K2 feed description or from the article page: byline
(authors, place, issue date), lead, BACKGROUND / IMPLICATIONS / CONCLUSIONS, author's bio, tags;
the site's boilerplate dropped. Everything returned is sanitized HTML or plain text."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import lxml.html
from lxml import etree

from digest.feeds.byline import MAX_BYLINE_LINES, read_byline
from digest.feeds.debris import clean_tree, xml_safe_markup
from digest.feeds.lead import bounded_paragraphs, lead_html
from digest.feeds.sanitize import html_to_text, sanitize_html

PARTS = ("background", "implications", "conclusions", "author_bio")
_LABELS = re.compile(
    r"^\s*(?P<label>BACKGROUND|IMPLICATIONS|CONCLUSIONS?|AUTHOR[’'`]?S\s+BIO(?:GRAPHY)?)\s*:\s*", re.I)
_LABEL_HTML = re.compile(
    r"^(?P<images>\s*(?:<img\b[^>]*>\s*)*)\s*(?:<(?P<tag>strong|b|em|i|span)\b[^>]*>\s*)?(?:BACKGROUND|IMPLICATIONS|CONCLUSIONS?|"
    r"AUTHOR[’'`]?S\s+BIO(?:GRAPHY)?)\s*:?\s*(?(tag)</(?P=tag)>)\s*:?\s*", re.I)
# Where the article ends and the site begins: nothing after one of these is the article's.
_BOILERPLATE = re.compile(
    r"^(read\s+[\d,.]+\s+times|last\s+modified\s+on\b|visit\s+also\b|staff\s+publications\b|"
    r"sign\s+up\s+for\b|tagged\s+under\b|the\s+central\s+asia-caucasus\s+analyst\s+is\s+a\s+"
    r"(bi-?weekly\s+)?publication)", re.I)


@dataclass
class Structure:
    lead_html: str = ""
    body_html: str = ""  # everything after the lead, labels kept, boilerplate removed
    parts: dict[str, str] = field(default_factory=dict)
    authors: list[str] = field(default_factory=list)
    place: str | None = None
    affiliation: str | None = None  # the author's, as an older byline names it
    placeholder_author: bool = False  # the byline names the site's placeholder ("By empty")
    byline: str | None = None
    issue_date: dt.date | None = None
    # Known only from the article page:
    title: str | None = None
    section: str | None = None
    published_on: dt.date | None = None
    tags: list[str] = field(default_factory=list)


def extract_from_blocks(intro: list[etree._Element], rest: list[etree._Element], base_url: str,
                        published: dt.date | None = None) -> Structure:
    """Walk an article's blocks (paragraphs) in order: the byline at the start of the intro,
    the lead (the intro's unlabelled paragraphs), the labelled parts, and stop at the first
    piece of site boilerplate. `published` (the item's date) completes a byline without a year."""
    found = Structure()
    intro = _split_byline_lines(intro)
    texts = [_text(block) for block in intro]
    lines = [text for text in texts if text][:MAX_BYLINE_LINES]
    byline = read_byline(lines, published) if lines else None
    if byline:
        found.byline, found.authors, found.place = byline.text, byline.authors, byline.place
        found.issue_date, found.affiliation = byline.issue_date, byline.affiliation
        found.placeholder_author = byline.placeholder_author
        intro = _without_first_lines(intro, texts, byline.lines)
    current = "lead"
    collected: dict[str, list[str]] = {part: [] for part in PARTS}
    lead: list[str] = []  # the text of the intro's unlabelled paragraphs
    body: list[tuple[str, str]] = []  # (text, markup) after the lead
    for position, block in enumerate([*intro, *rest]):
        text = _text(block)
        if not text and block.tag != "img" and not block.xpath(".//img"):
            continue
        if _BOILERPLATE.match(text):
            break
        if label := _LABELS.match(text):
            current = _part_name(label.group("label"))
        if current == "lead" and position < len(intro):
            if shown := _safe_text(block):
                lead.append(shown)
            continue
        if current == "lead" and text and _safe_text(block) in lead:
            continue  # older Field Reports repeat their first paragraph in the full text
        markup = lxml.html.tostring(block, encoding="unicode", with_tail=False)
        body.append((text, markup))
        if current != "lead":
            collected[current].append(_strip_label(block) if label else markup)
    if not lead and body:
        # No unlabelled intro (the article opens with BACKGROUND:): its first paragraph leads.
        lead = [_LABELS.sub("", html_to_text(sanitize_html(body[0][1])))]
    shown = bounded_paragraphs(lead)
    whole = sum(1 for kept, text in zip(shown, lead) if kept == " ".join(text.split()))
    # A lead paragraph the email shows only in part stays in the body, so nothing is lost.
    cut_off = [f"<p>{_escape(text)}</p>" for text in lead[whole:]]
    found.lead_html = lead_html(lead)
    found.body_html = sanitize_html("".join(cut_off) + "".join(markup for _, markup in body), base_url)
    found.parts = {part: sanitize_html("".join(collected[part]), base_url) for part in PARTS
                   if collected[part]}
    return found


def extract_from_feed_html(intro: etree._Element | str, full: etree._Element | str | None,
                           base_url: str, published: dt.date | None = None) -> Structure:
    """The structure of a K2 feed description: its intro and full text (elements or HTML)."""
    return extract_from_blocks(_blocks(intro), _blocks(full), base_url, published)


def extract_from_page(content: str, base_url: str) -> Structure:
    """The structure of a K2 item page: header fields by K2's classes, body by its blocks (an
    empty structure for a page with no elements at all)."""
    try:
        root = lxml.html.document_fromstring(xml_safe_markup(content))
    except etree.ParserError:  # "Document is empty": blanks, a comment, nothing
        return Structure()
    for node in root.xpath("//script | //style | //noscript"):
        node.drop_tree()
    item = _first(root, "//*[contains(concat(' ', normalize-space(@class), ' '), ' itemView ')]")
    item = root if item is None else item
    clean_tree(item)
    intro_parts, full_parts = _by_class(item, "itemIntroText"), _by_class(item, "itemFullText")
    created = _by_class(item, "itemDateCreated")
    published = _page_date(" ".join(created[0].text_content().split())) if created else None
    if intro_parts or full_parts:
        intro = [block for part in intro_parts for block in _children(part)]
        rest = [block for part in full_parts for block in _children(part)]
    else:  # not K2's layout: the paragraphs of the page, in order
        intro, rest = item.xpath(".//p | .//h2 | .//h3 | .//blockquote | .//ul | .//ol"), []
    found = extract_from_blocks(intro, rest, base_url, published)
    title = _by_class(item, "itemTitle") or root.xpath("//h1") or root.xpath("//title")
    found.title = " ".join(title[0].text_content().split()) or None if title else None
    category = _by_class(item, "itemCategory")
    if category:
        found.section = " ".join(category[0].text_content().split()).removeprefix("Published in").strip() or None
    found.published_on = published
    found.tags = [" ".join(a.text_content().split()) for tags in _by_class(item, "itemTags")
                  for a in tags.xpath(".//a") if a.text_content().strip()]
    return found


def _text(block: etree._Element) -> str:
    return " ".join(block.text_content().split())


def _safe_text(block: etree._Element) -> str:
    """What a reader would see of `block`: its sanitized HTML's text (no script or style)."""
    return html_to_text(sanitize_html(lxml.html.tostring(block, encoding="unicode", with_tail=False)))


_BREAK = re.compile(r"<br\b[^>]*>", re.I)


def _split_byline_lines(intro: list[etree._Element]) -> list[etree._Element]:
    """The intro with its first text-bearing blocks (as many as a byline has lines) split at their
    line breaks: editors type the byline, its place and date lines either as paragraphs of their
    own or as one paragraph split by <br>, sometimes with the lead after another <br>."""
    split: list[etree._Element] = []
    seen = 0
    for block in intro:
        if seen >= MAX_BYLINE_LINES or not _text(block) or not block.xpath(".//br"):
            seen += bool(_text(block))
            split.append(block)
            continue
        seen += 1
        inner = (_escape(block.text or "")) + "".join(
            lxml.html.tostring(child, encoding="unicode") for child in block)
        for piece in _BREAK.split(inner):
            if piece.strip():
                split.extend(_children(lxml.html.fragment_fromstring(piece, create_parent="p")))
    return split


def _without_first_lines(intro: list[etree._Element], texts: list[str], count: int) -> list[etree._Element]:
    """`intro` without its first `count` text-bearing blocks (the byline's lines); image-only
    blocks before them go too, since the lead never shows an image."""
    for position, text in enumerate(texts):
        count -= bool(text)
        if count == 0:
            return intro[position + 1:]
    return []


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
    return f"<{block.tag}>{_LABEL_HTML.sub(lambda m: m.group('images'), inner, count=1)}</{block.tag}>"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _blocks(html: etree._Element | str | None) -> list[etree._Element]:
    if html is None or isinstance(html, str) and not html.strip():
        return []
    if isinstance(html, str):
        html = lxml.html.fragment_fromstring(xml_safe_markup(html), create_parent="div")
    return _children(clean_tree(html))


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


def email_lead(html: str) -> tuple[str, bool]:
    """The bounded lead of any feed's summary or post (see `lead`), and whether it shows the
    text whole (so nothing more needs keeping)."""
    paragraphs = [text for text in (_safe_text(block) for block in _blocks(html)) if text]
    shown = bounded_paragraphs(paragraphs)
    return lead_html(paragraphs), shown == [" ".join(p.split()) for p in paragraphs]
