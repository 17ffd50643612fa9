"""Feed HTML is untrusted: keep an allow-list of tags and attributes and make every link absolute."""

from __future__ import annotations

import re
from html import unescape
import nh3

from digest.feeds.links import http_url

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "em", "figcaption", "figure",
    "h2", "h3", "h4", "hr", "i", "img", "li", "ol", "p", "pre", "q", "s", "small", "strong",
    "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "*": {"lang"},
}
# No mailto: the journal's articles link to pages, and a reader's mail client is not ours to open.
URL_SCHEMES = {"http", "https"}
_URL_ATTRIBUTES = {"href", "src"}


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Clean `html` with nh3; relative href/src are resolved against `base_url`, and any that
    is not then an absolute http(s) URL is removed (links.http_url)."""

    def absolutize(element: str, attribute: str, value: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return value
        # A link that stays relative would point at our own site once it is in an email.
        return http_url(value, base=base_url)

    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=absolutize,
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


# Where one block ends and the next begins: text on either side is never glued together.
_BLOCK_BOUNDARY = re.compile(
    r"</?(?:p|div|h[1-6]|li|ul|ol|blockquote|table|tr|td|th|figure|figcaption|pre|section|article)\b[^>]*>|<hr\b[^>]*>",
    re.I)
_LINE_BREAK = re.compile(r"<br\b[^>]*>", re.I)
_PARAGRAPH = "\n\n"


def html_to_text(html: str) -> str:
    """The visible text of sanitized HTML on one line (for summaries and listings)."""
    return " ".join(html_to_paragraphs(html).split())


def html_to_paragraphs(html: str) -> str:
    """The visible text of sanitized HTML for a plain-text part: one line per paragraph, a blank
    line between paragraphs, and a space wherever two blocks (or a <br>) meet."""
    marked = _LINE_BREAK.sub(" ", _BLOCK_BOUNDARY.sub(_PARAGRAPH, html))
    text = unescape(nh3.clean(marked, tags=set()))
    paragraphs = (" ".join(part.split()) for part in text.split(_PARAGRAPH))
    return _PARAGRAPH.join(part for part in paragraphs if part)
