"""Render an edition once, with per-reader placeholders, and fill them per reader cheaply.

Rendering (Jinja2 plus CSS inlining) costs milliseconds; filling a rendered edition for one
reader is a single regex pass. Markers differ per part (`[%name%]` in text, `[%name:html%]` in
HTML) so one substitution table serves both and each value is escaped for where it lands.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from dataclasses import dataclass
from functools import cached_property, lru_cache
from html import escape

import css_inline

from digest.config import get_settings
from digest.feeds.sanitize import html_to_text
from digest.store.models import Edition
from digest.templating import email_environment

READER_FIELDS = ("name", "unsubscribe_url", "preferences_url")
_MARKER = re.compile(r"\[%(\w+)(:html)?%\]")
TEXT_WIDTH = 72


def _markers(part: str) -> dict[str, str]:
    suffix = ":html" if part == "html" else ""
    return {field: f"[%{field}{suffix}%]" for field in READER_FIELDS}


@dataclass(frozen=True)
class RenderedEdition:
    subject: str
    html: str
    text: str

    @cached_property
    def segments(self) -> tuple[_Segments, _Segments]:
        return _Segments(self.html), _Segments(self.text)

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.subject, self.html, self.text):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()


@dataclass(frozen=True)
class Filled:
    subject: str
    html: str
    text: str


def substitutions(values: dict[str, str]) -> dict[str, str]:
    """Marker -> value for one reader, escaped for HTML where the marker sits in HTML."""
    table = {}
    for field in READER_FIELDS:
        value = values.get(field, "")
        table[f"[%{field}%]"] = value
        table[f"[%{field}:html%]"] = escape(value, quote=True)
    return table


class _Segments:
    """A document cut at its markers once, so each reader costs one join, not a scan."""

    def __init__(self, document: str):
        self.pieces: list[str] = []
        self.marker_positions: list[int] = []
        position = 0
        for match in _MARKER.finditer(document):
            self.pieces.append(document[position:match.start()])
            self.marker_positions.append(len(self.pieces))
            self.pieces.append(match.group(0))
            position = match.end()
        self.pieces.append(document[position:])

    def fill(self, table: dict[str, str]) -> str:
        pieces = self.pieces.copy()
        for index in self.marker_positions:
            pieces[index] = table.get(pieces[index], "")
        return "".join(pieces)


def fill(rendered: RenderedEdition, values: dict[str, str]) -> Filled:
    table = substitutions(values)
    html, text = rendered.segments
    return Filled(rendered.subject, html.fill(table), text.fill(table))


@lru_cache(maxsize=1)
def _inliner() -> css_inline.CSSInliner:
    # Media queries (mobile and dark mode) cannot be inlined: keep the <style> block too.
    return css_inline.CSSInliner(keep_style_tags=True, keep_at_rules=True, load_remote_stylesheets=False)


def _wrap(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if len(line) <= TEXT_WIDTH or "://" in line:
            lines.append(line)
        else:
            lines.extend(textwrap.wrap(line, TEXT_WIDTH, break_long_words=False, break_on_hyphens=False))
    return "\n".join(lines).strip() + "\n"


def edition_context(edition: Edition) -> dict:
    settings = get_settings()
    articles = [
        {
            "title": item.article.title,
            "url": item.article.url,
            "authors": item.article.authors,
            "section": item.article.section,
            "published_at": item.article.published_at,
            "summary_html": item.article.summary_html,
            "summary_text": html_to_text(item.article.summary_html),
        }
        for item in edition.items
    ]
    sections: list[dict] = []
    for article in articles:
        if not sections or sections[-1]["name"] != article["section"]:
            sections.append({"name": article["section"], "articles": []})
        sections[-1]["articles"].append(article)
    return {
        "edition": edition,
        "sections": sections,
        "article_count": len(articles),
        "tz": settings.tz,
        "from_name": settings.FROM_NAME,
        "postal_address": settings.POSTAL_ADDRESS,
        "archive_url": f"{settings.base_url}/archive/{edition.id}",
        "intro_paragraphs": [p.strip() for p in edition.intro.split("\n\n") if p.strip()],
    }


def render_edition(edition: Edition) -> RenderedEdition:
    """The edition as email parts with reader placeholders; the same input renders the same bytes."""
    env = email_environment()
    context = edition_context(edition)
    subject = " ".join(env.get_template("edition/subject.txt").render(context).split())
    html = env.get_template("edition/body.html").render(context, reader=_markers("html"), subject=subject)
    text = env.get_template("edition/body.txt").render(context, reader=_markers("text"), subject=subject)
    return RenderedEdition(subject=subject, html=_inliner().inline(html), text=_wrap(text))


def render_message(name: str, context: dict) -> RenderedEdition:
    """A one-off email from templates/email/<name>/ (laid out on the editions' base, CSS inlined
    the same way), rendered for its one reader: no placeholders."""
    env = email_environment()
    subject = " ".join(env.get_template(f"{name}/subject.txt").render(context).split())
    html = env.get_template(f"{name}/body.html").render(context, subject=subject)
    text = env.get_template(f"{name}/body.txt").render(context, subject=subject)
    return RenderedEdition(subject=subject, html=_inliner().inline(html), text=_wrap(text))
