"""What an editor sees before approving: the edition filled for a sample reader, in any of the
variants readers may receive, with its size and its links."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from digest.config import get_settings
from digest.editions.placeholders import NAMELESS_READER
from digest.editions.render import DEFAULT_VARIANT, GMAIL_CLIP_BYTES, Filled, Variant, edition_sections, fill, render_edition
from digest.errors import InputError
from digest.store.models import Edition

def preview_values(edition_id: int) -> dict[str, str]:
    """A reader without a name, and links to the pages that explain unsubscribing and
    preferences: what the preview, a test send and the public archive fill in (none is one
    reader's). The preferences link carries `?e=` as a reader's does (reports.attribution.edition_query), so that the "Follow
    <topic>" links the templates append to it (`&follow=<id>`) are well formed and lead to the
    public follow page."""
    base = get_settings().base_url
    return {"name": NAMELESS_READER, "unsubscribe_url": f"{base}/unsubscribe",
            "preferences_url": f"{base}/preferences?e={edition_id}", "unfollow_url": f"{base}/preferences"}


def preview_edition(edition: Edition, variant: Variant = DEFAULT_VARIANT) -> Filled:
    shown = set(edition_sections(edition))
    unknown = [name for name in variant.sections if name not in shown]
    if unknown:
        raise InputError(f"variant section {unknown[0]!r} is not in edition {edition.id}")
    return fill(render_edition(edition, variant), preview_values(edition.id))


def preview_variants(edition: Edition) -> list[tuple[str, str]]:
    """(key, label) of what readers may receive: every section, each section alone, text only."""
    sections = edition_sections(edition)
    choices = [(Variant().key, "All sections")]
    if len(sections) > 1:
        choices += [(Variant((name,)).key, f"{name} only") for name in sections]
    choices.append((Variant(text_only=True).key, "All sections, plain text only"))
    return choices


@dataclass(frozen=True)
class PreviewFacts:
    html_bytes: int
    clipped_by_gmail: bool
    links: list[tuple[str, str]]  # (link text, URL) in document order


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[list[str]] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self._open = [" ", href]
            self.links.append(self._open)

    def handle_data(self, data):
        if self._open is not None:
            self._open[0] += data

    def handle_endtag(self, tag):
        if tag == "a":
            self._open = None


def preview_facts(filled: Filled) -> PreviewFacts:
    """The size Gmail judges (it clips HTML over 102 KB) and every link a reader can follow."""
    parser = _Links()
    parser.feed(filled.html)
    links = [(" ".join(text.split()) or url, url) for text, url in parser.links]
    size = len(filled.html.encode())
    return PreviewFacts(html_bytes=size, clipped_by_gmail=size > GMAIL_CLIP_BYTES, links=links)
