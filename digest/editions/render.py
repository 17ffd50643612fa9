"""Render an edition variant once: Jinja2 templates, CSS inlined once, text wrapped once.

A variant is what a group of readers shares (the sections they chose, HTML or text only, the
articles an alert already brought them); what differs per reader (their name and links, the
"For you" list of the articles on topics they follow) is left as placeholders (see
`placeholders`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import textwrap
from dataclasses import dataclass
from functools import cached_property, lru_cache

import css_inline
from markdown_it import MarkdownIt
from sqlalchemy.orm import object_session

from digest.config import get_settings
from digest.editions.placeholders import Segments, markers, substitutions
from digest.editions.templates import email_environment
from digest.errors import InputError
from digest.feeds.byline import MAX_AFFILIATION, MAX_PLACE
from digest.feeds.links import rendered_url
from digest.feeds.sanitize import html_to_paragraphs, sanitize_html
from digest.store.models import Edition, EditionKind
from digest.topics.offers import follow_offers

TEXT_WIDTH = 72
# The longest subject an alert stores (its topics' names may be long).
MAX_ALERT_SUBJECT = 300
GMAIL_CLIP_BYTES = 102 * 1024


@dataclass(frozen=True)
class Variant:
    """The sections a group of readers sees (empty: all of the edition's) and the format. In an
    alert, the articles they see instead (their ids; empty: all of the alert's). In a digest, the
    articles listed under "Already sent to you" with the local date of the alert that brought them
    (`already_sent`: (article id, ISO date)); without any, the key is the sections' and format's
    alone."""

    sections: tuple[str, ...] = ()
    text_only: bool = False
    articles: tuple[int, ...] = ()
    already_sent: tuple[tuple[int, str], ...] = ()

    @property
    def key(self) -> str:
        if self.articles:
            shown = "#" + ",".join(str(article_id) for article_id in self.articles)
        else:
            shown = "all" if not self.sections else "|".join(self.sections)
        if self.already_sent:
            # By date: a key stays short (under the column's 300 characters) with all 12 sent.
            days: dict[str, list[str]] = {}
            for article_id, day in self.already_sent:
                days.setdefault(day, []).append(str(article_id))
            shown += ">sent=" + "+".join(",".join(ids) + "@" + day for day, ids in days.items())
        return shown + (":text" if self.text_only else ":html")

    @classmethod
    def from_key(cls, key: str) -> "Variant":
        """The variant a key names ('all:html', 'Field Reports|News Digest:text', '#12,15:html',
        'all>sent=15,16@2026-12-01+17@2026-12-02:html')."""
        shown, _, kind = key.rpartition(":")
        sections, *personal = shown.split(">")
        if kind not in ("html", "text") or not sections:
            raise InputError(f"variant {key!r} is not of the form SECTIONS:html or SECTIONS:text")
        text_only = kind == "text"
        if sections.startswith("#"):
            return cls(text_only=text_only, articles=_ids(key, sections[1:] or "none"))
        chosen = () if sections == "all" else tuple(sections.split("|"))
        parts = dict(part.partition("=")[::2] for part in personal)
        if set(parts) - {"sent"}:
            raise InputError(f"variant {key!r}: after the sections comes only '>sent=id@date'")
        sent = [group.partition("@") for group in parts.get("sent", "").split("+") if group]
        return cls(chosen, text_only,
                   already_sent=tuple((article_id, day) for ids, _, day in sent for article_id in _ids(key, ids)))


def _ids(key: str, listed: str) -> tuple[int, ...]:
    ids = [part for part in listed.split(",") if part]
    if not all(part.isdigit() for part in ids):
        raise InputError(f"variant {key!r}: articles are named by their ids, '#12,15:html'")
    return tuple(int(part) for part in ids)


DEFAULT_VARIANT = Variant()


def variant_for(edition_sections: list[str], chosen: list[str] | None, text_only: bool = False) -> Variant | None:
    """The variant for a reader who chose `chosen` sections (empty: all); None if it shows nothing.

    Readers whose choices select the same articles of this edition share one variant."""
    wanted = {name.casefold() for name in chosen or []}
    shown = [name for name in edition_sections if not wanted or name.casefold() in wanted]
    if not shown:
        return None
    return Variant(() if shown == edition_sections else tuple(shown), text_only)


@dataclass(frozen=True)
class RenderedEdition:
    subject: str
    html: str  # empty for a text-only variant
    text: str

    @cached_property
    def segments(self) -> tuple[Segments, Segments]:
        return Segments(self.html), Segments(self.text)

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode())

    @property
    def clipped_by_gmail(self) -> bool:
        return self.html_bytes > GMAIL_CLIP_BYTES

    def fill(self, values: dict[str, str]) -> Filled:
        return fill(self, values)

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


def fill(rendered: RenderedEdition, values: dict[str, str]) -> Filled:
    table = substitutions(values)
    html, text = rendered.segments
    return Filled(rendered.subject, html.fill(table), text.fill(table))


@dataclass(frozen=True)
class TransactionalMail:
    """A one-off email (the sign-up confirmation), rendered for its one reader: it has no
    placeholders, no variant and no content hash to approve, so it is not an edition."""
    subject: str
    html: str
    text: str

    def fill(self, values: dict[str, str]) -> Filled:
        return Filled(self.subject, self.html, self.text)


@lru_cache(maxsize=1)
def _inliner() -> css_inline.CSSInliner:
    # Every rule is inlined (clients that drop <style> get the whole design); the media queries
    # (phones, dark mode), which cannot be inlined, stay in a <style> of their own.
    return css_inline.CSSInliner(keep_style_tags=False, keep_at_rules=True, load_remote_stylesheets=False)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # Raw HTML in the intro is shown as text; what Markdown makes is sanitized like feed HTML.
    return MarkdownIt("commonmark", {"html": False, "linkify": False})


def intro_html(markdown: str) -> str:
    return sanitize_html(_markdown().render(markdown)) if markdown.strip() else ""


def wrap_text(text: str) -> str:
    lines = []
    for line in text.splitlines():
        # A line with a link is kept whole, a reader's own (a marker until filled) as any other.
        if len(line) <= TEXT_WIDTH or "://" in line or "[%" in line:
            lines.append(line)
        else:
            indent = line[: len(line) - len(line.lstrip())]
            lines.extend(textwrap.wrap(line, TEXT_WIDTH, subsequent_indent=indent,
                                       break_long_words=False, break_on_hyphens=False))
    return "\n".join(lines).strip() + "\n"


def edition_sections(edition: Edition) -> list[str]:
    names: list[str] = []
    for item in edition.items:
        name = item.article.section or "Articles"
        if name not in names:
            names.append(name)
    return names


def edition_context(edition: Edition, variant: Variant = DEFAULT_VARIANT) -> dict:
    """The edition's articles by section as the variant shows them, its already sent ones listed
    apart, not repeated in a section. The "For you" list is a reader's own (a placeholder,
    `delivery/for_you.py`)."""
    settings = get_settings()
    sections: list[dict] = []
    sent_on = dict(variant.already_sent)
    already_sent: list[dict] = []
    offers = _follow_offers(edition)
    for item in edition.items:
        article = item.article
        name = article.section or "Articles"
        if variant.sections and name not in variant.sections:
            continue
        shown = _article_context(article) | {"follow": offers.get(article.id, [])}
        if article.id in sent_on:
            already_sent.append(shown | {"alerted_on": dt.date.fromisoformat(sent_on[article.id])})
            continue
        if not sections or sections[-1]["name"] != name:
            sections.append({"name": name, "articles": []})
        sections[-1]["articles"].append(shown)
    return {
        "edition": edition,
        "sections": sections,
        "already_sent": already_sent,
        "tz": settings.tz,
        "from_name": settings.FROM_NAME,
        # "the CACI Analyst digest", whether FROM_NAME starts with "The" or not.
        "publication": _without_article(settings.FROM_NAME),
        "postal_address": settings.POSTAL_ADDRESS,
        "archive_url": f"{settings.base_url}/archive/{edition.id}",
        "intro_html": intro_html(edition.intro),
        "intro_text": edition.intro.strip(),
    }


def _follow_offers(edition: Edition) -> dict[int, list[dict]]:
    """The topics offered under each article ("Follow Georgia"), as they are filed now: renamed,
    merged or hidden before the send, the edition is no longer what was approved (plan.py)."""
    session = object_session(edition)
    if session is None:
        raise RuntimeError(f"edition {edition.id} is rendered outside a session: its topics cannot be read")
    return follow_offers(session, [item.article_id for item in edition.items])


def _article_context(article) -> dict:
    structure = article.structure or {}
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "authors": article.authors,
        "published_at": article.published_at,
        # What the byline named, for the line under the title: the issue (else the date the item
        # went online), a Field Report's place, the author's affiliation in an older byline.
        "issue_date": article.issue_date,
        "place": _bounded(structure.get("place"), MAX_PLACE),
        "affiliation": _bounded(structure.get("affiliation"), MAX_AFFILIATION),
        # Sanitized when stored, and again here: only http(s) links and images reach a reader
        # even from a row written before a rule was tightened.
        "summary_html": sanitize_html(article.summary_html),
        "summary_text": html_to_paragraphs(article.summary_html),
    }


def _bounded(value, limit: int) -> str | None:
    """A byline's text as the line under a title shows it: one line, at most `limit` characters
    (a row written before a bound was set, or edited by hand, is held to it here too)."""
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return (value if len(value) <= limit else value[:limit - 1].rstrip() + "…") or None


def edition_links(edition: Edition) -> list[dict]:
    """Each article link the edition shows, as the templates' `http_url` filter writes it (so as
    SendGrid's click event reports it), with its article, section and 1-based position. A URL two
    articles share maps to the first, since a click on it cannot say which was meant."""
    links: dict[str, dict] = {}
    position = 0
    for section in edition_context(edition)["sections"]:
        for article in section["articles"]:
            position += 1
            url = rendered_url(article["url"])
            if url and url not in links:
                links[url] = {"url": url, "article_id": article["id"], "section": section["name"],
                              "position": position}
    return list(links.values())


def _without_article(name: str) -> str:
    words = name.split(maxsplit=1)
    return words[1] if len(words) == 2 and words[0].casefold() == "the" else name


def prepare_rendering() -> None:
    """Compile every email template and make the inliner and the Markdown parser now: a worker
    does it before its pool forks, so that no child's first edition waits for them (they were
    most of the 20 ms a process's first render took more than the next)."""
    env = email_environment()
    for name in env.list_templates():
        env.get_template(name)
    _inliner().inline("<style>p { color: #000 }</style><p>.</p>")
    _markdown().render("*.*")


def render_edition(edition: Edition, variant: Variant = DEFAULT_VARIANT) -> RenderedEdition:
    """The variant as email parts with reader placeholders; the same input renders the same bytes.
    An alert is laid out by its own templates (templates/email/alert/)."""
    if edition.kind == EditionKind.ALERT:
        return render_parts("alert", alert_context(edition, variant), variant.text_only)
    return render_parts("edition", edition_context(edition, variant), variant.text_only)


def render_parts(name: str, context: dict, text_only: bool) -> RenderedEdition:
    env = email_environment()
    subject = " ".join(env.get_template(f"{name}/subject.txt").render(context).split())
    text = env.get_template(f"{name}/body.txt").render(context, reader=markers("text"), subject=subject)
    html = ""
    if not text_only:
        html = _inliner().inline(
            env.get_template(f"{name}/body.html").render(context, reader=markers("html"), subject=subject))
    return RenderedEdition(subject=subject, html=html, text=wrap_text(text))


def alert_context(edition: Edition, variant: Variant = DEFAULT_VARIANT) -> dict:
    """An alert's articles (those of the variant), each with the topics it is new on, and the
    subject: 'New on Georgia: <title>', 'New on Georgia and Energy: 2 articles'. The topics are
    set on the item when the alert is composed (EditionItem.topics), so the render depends on
    nothing that changes after."""
    context = edition_context(edition)
    shown = set(variant.articles)
    articles, topics = _alert_articles(edition, context, shown)
    subject = _alert_subject(articles, topics)
    if alert_subject_edited(edition, context):
        subject = edition.subject  # an editor's subject: every reader's, whatever their articles
    return context | {"articles": articles, "topics": topics, "alert_subject": subject,
                      "archive_url": f"{get_settings().base_url}/archive"}


def default_alert_subject(edition: Edition, context: dict | None = None) -> str:
    """The subject of an alert's whole set of articles, as it is stored until an editor edits it."""
    return _alert_subject(*_alert_articles(edition, context or edition_context(edition), set()))[:MAX_ALERT_SUBJECT]


def alert_subject_edited(edition: Edition, context: dict | None = None) -> bool:
    """Whether an editor wrote the alert's subject: it is no longer its default (compose keeps the
    stored subject the default until then, digest.alerts.compose)."""
    return bool(edition.items) and edition.subject != default_alert_subject(edition, context)


def _alert_articles(edition: Edition, context: dict, shown: set[int]) -> tuple[list[dict], list[str]]:
    items = [item for item in edition.items if not shown or item.article_id in shown]
    articles = [dict(article, topics=item.topics, carried=item.carried) for item in items
                for article in _articles_of(context) if article["id"] == item.article_id]
    topics: list[str] = []
    for article in articles:
        topics += [name for name in article["topics"] if name not in topics]
    return articles, topics


def _alert_subject(articles: list[dict], topics: list[str]) -> str:
    about = " and ".join([", ".join(topics[:-1]), topics[-1]] if len(topics) > 1 else topics) or "the Analyst"
    what = articles[0]["title"] if len(articles) == 1 else f"{len(articles)} articles"
    return f"New on {about}: {what}"


def _articles_of(context: dict) -> list[dict]:
    return [article for section in context["sections"] for article in section["articles"]]


def render_message(name: str, context: dict) -> TransactionalMail:
    """A one-off email from templates/email/<name>/ (laid out on the editions' base, CSS inlined
    the same way), rendered for its one reader: no placeholders."""
    env = email_environment()
    subject = " ".join(env.get_template(f"{name}/subject.txt").render(context).split())
    html = env.get_template(f"{name}/body.html").render(context, subject=subject)
    text = env.get_template(f"{name}/body.txt").render(context, subject=subject)
    return TransactionalMail(subject=subject, html=_inliner().inline(html), text=wrap_text(text))
