"""Per-reader placeholders: marked once in the rendered edition, filled per reader cheaply.

Markers differ per part (`[%name%]` in text, `[%name:html%]` in HTML) so that one substitution
table serves both parts, SendGrid's `substitutions` included, with each value escaped for where
it lands. A document is cut at its markers once; filling it for a reader is one join.

Only the templates make markers. Every other value a template outputs (a feed's title, link or
summary, an editor's subject or intro) goes through `neutralize`, so text that looks like a
marker is shown as written and never filled with a reader's name or never-expiring links,
neither by our own fill nor by SendGrid's (which replaces a key anywhere in the message).
"""

from __future__ import annotations

import re
from html import escape

READER_FIELDS = ("name", "unsubscribe_url", "preferences_url", "unfollow_url", "for_you")
# Fields only some messages carry (an alert's "stop these alerts" link, a digest's "For you"
# block): in a reader's table only when given, so that other readers' SendGrid personalizations
# do not grow.
OPTIONAL_FIELDS = frozenset({"unfollow_url", "for_you"})
# Fields whose HTML marker takes ready-made markup (`<field>_html` in a reader's values, built by
# our own code from escaped parts) rather than the text value escaped.
MARKUP_FIELDS = frozenset({"for_you"})
# The name a reader without one is greeted by ("Dear reader,"): in sends, previews and the archive.
NAMELESS_READER = "reader"
_MARKER = re.compile(r"\[%(\w+)(:html)?%\]")
# Every marker starts with "[%". An invisible WORD JOINER between the two characters reads the
# same to a person, survives HTML escaping, CSS inlining and text wrapping, and matches no key.
_OPENING = "[%"
_BROKEN_OPENING = "[\u2060%"


class Marker(str):
    """A placeholder a template outputs: the one kind of value `neutralize` lets through."""


def markers(part: str) -> dict[str, Marker]:
    """The template variables of a part ('html' or 'text'): field -> its marker."""
    suffix = ":html" if part == "html" else ""
    return {field: Marker(f"[%{field}{suffix}%]") for field in READER_FIELDS}


def neutralize(text: str) -> str:
    """`text` with no way to become a marker, alone or next to what a template puts around it
    (a leading "%" could complete a "[" before it)."""
    text = text.replace(_OPENING, _BROKEN_OPENING)
    return "\u2060" + text if text.startswith("%") else text


_TEXT_KEYS = [(field, f"[%{field}%]", f"[%{field}:html%]") for field in READER_FIELDS]
# What html.escape changes; a value without any (most links and names) is its own escape.
_ESCAPED = re.compile("[&<>\"']")


def substitutions(values: dict[str, str]) -> dict[str, str]:
    """Marker -> value for one reader, HTML-escaped where the marker sits in HTML."""
    table = {}
    for field, text_key, html_key in _TEXT_KEYS:
        if field in OPTIONAL_FIELDS and field not in values:
            continue
        value = values.get(field, "")
        table[text_key] = value
        table[html_key] = values.get(f"{field}_html", "") if field in MARKUP_FIELDS else html_escaped(value)
    return table


def html_escaped(value: str) -> str:
    """A reader's value as its HTML marker is filled: `value` itself when escaping changes nothing."""
    return escape(value, quote=True) if _ESCAPED.search(value) else value


class Segments:
    """A document cut at its markers."""

    __slots__ = ("pieces", "marker_positions")

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
