"""The lead an email shows for an article: its first paragraph(s) as plain paragraphs (no images,
no labels, no markup from the feed), bounded to about LEAD_WORDS words and cut at a sentence end,
never inside a word. The article itself is a click away ("Read the article")."""

from __future__ import annotations

import re
from html import escape

LEAD_WORDS = 90
# A sentence ends at . ! ? (and a closing quote or bracket) before a space and what can start one.
_SENTENCE_END = re.compile(r"""[.!?][”"’')\]]*(?=\s+[“"‘'(\[]?[A-Z0-9]|$)""")
# Words whose full stop does not end a sentence: initials (U.S., S.), titles, months.
_ABBREVIATION = re.compile(r"(?:^|\s)(?:[A-Z]\.)+[A-Z]?\.?$|(?:^|\s)(?:Dr|Mr|Mrs|Ms|Prof|St|Gen|Col|Lt|Sen|Rep|"
                           r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|No|vs|etc|approx|e\.g|i\.e)\.$")


def bounded_paragraphs(paragraphs: list[str], limit: int = LEAD_WORDS) -> list[str]:
    """The leading paragraphs of `paragraphs` (plain text) within `limit` words: whole ones while
    they fit, then the next one cut at its last sentence end that fits. A first sentence longer
    than the bound is cut at a word and marked with an ellipsis."""
    kept: list[str] = []
    used = 0
    for paragraph in (" ".join(p.split()) for p in paragraphs):
        if not paragraph:
            continue
        words = len(paragraph.split())
        if used + words <= limit:
            kept.append(paragraph)
            used += words
            continue
        cut = _cut_at_sentence(paragraph, limit - used)
        if cut:
            kept.append(cut)
        elif not kept:
            kept.append(" ".join(paragraph.split()[:limit]).rstrip(",;:–—-") + "…")
        break
    return kept


def lead_html(paragraphs: list[str], limit: int = LEAD_WORDS) -> str:
    """The bounded lead as HTML paragraphs of escaped text."""
    return "".join(f"<p>{escape(p, quote=False)}</p>" for p in bounded_paragraphs(paragraphs, limit))


def _cut_at_sentence(paragraph: str, room: int) -> str | None:
    best = None
    for match in _SENTENCE_END.finditer(paragraph):
        head = paragraph[:match.end()]
        if len(head.split()) > room:
            break
        if not _ABBREVIATION.search(head.rstrip("”\"’')]")):
            best = head
    return best
