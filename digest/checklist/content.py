"""The checks of what an edition says and how big it is: the HTML size Gmail judges, the subject,
the preheader, each article's title, date and lead, its byline (author, issue), and the images'
alt text."""

from __future__ import annotations

from html.parser import HTMLParser

from digest.checklist.model import BLOCKING, PASSED, WARNING, Check, Finding
from digest.config import get_settings
from digest.editions.render import GMAIL_CLIP_BYTES, intro_html
from digest.feeds.lead import LEAD_WORDS
from digest.feeds.links import rendered_url
from digest.feeds.sanitize import html_to_paragraphs, sanitize_html
from digest.store.models import Article, Edition
from digest.templating import long_date

# Phones show about 40 characters of a subject, desktop inboxes 60 to 70.
SUBJECT_MAX_CHARS = 70
# The preview line after the subject: inboxes show some 90 to 140 characters of it (a longer one
# is harmless, only cut).
PREHEADER_SHOWN_CHARS = 140
# A lead shorter than this tells a reader nothing (a stray "Read more."); the poller cuts leads
# at LEAD_WORDS, so a longer one was written by hand or by an old rule.
LEAD_MIN_WORDS = 10
# An issue date this far from the day its item went online was misread or mistyped: the journal
# puts an article online within days of its issue (a back-catalogue item is never in an edition).
ISSUE_DRIFT_DAYS = 45
# The most of a byline a finding quotes (bylines run to three lines of up to 250 characters).
BYLINE_QUOTED_CHARS = 160


def size_check(html_bytes: int, personal_bytes: int = 0) -> Check:
    """`personal_bytes`: the most a reader's own part (their "For you" list) may add."""
    size = f"{html_bytes / 1024:.1f} KB of HTML"
    if personal_bytes:
        size += f" and up to {personal_bytes / 1024:.1f} KB of a reader's own list"
    html_bytes += personal_bytes
    if html_bytes > GMAIL_CLIP_BYTES:
        return Check("size", "HTML size", WARNING,
                     f"{size}: over Gmail's {GMAIL_CLIP_BYTES // 1024} KB, so Gmail clips it and hides its end, "
                     "the unsubscribe link included. Remove an article or shorten the intro.",
                     data={"html_bytes": html_bytes})
    return Check("size", "HTML size", PASSED, f"{size}, under Gmail's {GMAIL_CLIP_BYTES // 1024} KB clipping size",
                 data={"html_bytes": html_bytes})


def subject_check(subject: str) -> Check:
    length = len(subject)
    if not subject.strip():
        return Check("subject", "Subject", BLOCKING, "The subject is empty.")
    if length > SUBJECT_MAX_CHARS:
        return Check("subject", "Subject", WARNING,
                     f"{length} characters: inboxes cut a subject after about {SUBJECT_MAX_CHARS} "
                     "(phones after 40). Put what matters first or shorten it.")
    return Check("subject", "Subject", PASSED, f"{length} characters")


def preheader_check(preheader: str) -> Check:
    if not preheader.strip():
        return Check("preheader", "Preheader", WARNING,
                     "None: inboxes show the email's first words (the masthead) after the subject instead.")
    shown = "" if len(preheader) <= PREHEADER_SHOWN_CHARS else f"; inboxes show about the first {PREHEADER_SHOWN_CHARS}"
    return Check("preheader", "Preheader", PASSED, f"{len(preheader)} characters{shown}")


def article_name(article: Article) -> str:
    return f"“{article.title}”" if article.title and article.title.strip() else f"article {article.id} (untitled)"


def articles_check(edition: Edition) -> Check:
    if not edition.items:
        return Check("articles", "Articles", BLOCKING, "The edition has no articles.")
    findings = []
    for item in edition.items:
        article = item.article
        missing = [what for what, present in (("title", article.title and article.title.strip()),
                                              ("date", article.published_at)) if not present]
        words = len(html_to_paragraphs(article.summary_html or "").split())
        problems = [f"no {what}" for what in missing]
        if words < LEAD_MIN_WORDS:
            problems.append(f"a lead of {words} words (fewer than {LEAD_MIN_WORDS})")
        elif words > LEAD_WORDS:
            problems.append(f"a lead of {words} words (more than {LEAD_WORDS})")
        if problems:
            findings.append(Finding(WARNING, f"{article_name(article)}: {', '.join(problems)}", _link(article)))
    count = len(edition.items)
    if findings:
        return Check("articles", "Articles", WARNING,
                     f"{len(findings)} of {count} articles lack a title, date or a lead of "
                     f"{LEAD_MIN_WORDS} to {LEAD_WORDS} words.", tuple(findings))
    return Check("articles", "Articles", PASSED,
                 f"{count} articles, each with a title, date and a lead of {LEAD_MIN_WORDS} to {LEAD_WORDS} words")


def bylines_check(edition: Edition) -> Check:
    """What each article's byline gave: an author, and the issue it names near the day the item
    went online. Each finding quotes the byline as read, so the editor sees what was misread."""
    if not edition.items:
        return Check("bylines", "Bylines", PASSED, "No articles")
    tz = get_settings().tz
    findings = []
    for item in edition.items:
        article = item.article
        problems = []
        if not (article.authors and article.authors.strip()):
            problems.append("no author")
        if article.issue_date is None:
            problems.append("no issue date")
        elif article.published_at is not None:
            online = article.published_at.astimezone(tz).date()
            days = (article.issue_date - online).days
            if abs(days) > ISSUE_DRIFT_DAYS:
                problems.append(f"the issue of {long_date(article.issue_date)}, {abs(days)} days "
                                f"{'after' if days > 0 else 'before'} it went online ({long_date(online)})")
        if problems:
            findings.append(Finding(WARNING, f"{article_name(article)}: {', '.join(problems)}; {_byline_read(article)}",
                                    _link(article)))
    count = len(edition.items)
    if findings:
        return Check("bylines", "Bylines", WARNING,
                     f"{len(findings)} of {count} articles have no author, no issue date or an issue more than "
                     f"{ISSUE_DRIFT_DAYS} days from the day they went online. Readers see the byline's author "
                     "and issue under each title: check the article on the journal's site.", tuple(findings))
    return Check("bylines", "Bylines", PASSED,
                 f"{count} articles, each with an author and an issue within {ISSUE_DRIFT_DAYS} days of going online")


def _link(article: Article) -> str | None:
    """The article's link as the email writes it (a terminal opens it whole), or None."""
    return rendered_url(article.url) or None


def _byline_read(article: Article) -> str:
    structure = article.structure if isinstance(article.structure, dict) else {}
    byline = structure.get("byline")
    if not isinstance(byline, str) or not byline.strip():
        return "no byline was found at the start of its text"
    byline = " ".join(byline.split())
    if len(byline) > BYLINE_QUOTED_CHARS:
        byline = byline[:BYLINE_QUOTED_CHARS - 1].rstrip() + "…"
    return f"the byline read: “{byline}”"


class _Images(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.without_alt: list[str] = []
        self.count = 0

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.count += 1
            values = dict(attrs)
            if not (values.get("alt") or "").strip():
                self.without_alt.append(values.get("src") or "(no src)")


def images_check(edition: Edition) -> Check:
    """Images in the intro and the articles' leads, as the email shows them (sanitized again)."""
    parts = [("the intro", intro_html(edition.intro))]
    parts += [(article_name(item.article), sanitize_html(item.article.summary_html or "")) for item in edition.items]
    findings, count = [], 0
    for where, html in parts:
        parser = _Images()
        parser.feed(html)
        count += parser.count
        findings += [Finding(WARNING, f"{where}: an image without alt text", src) for src in parser.without_alt]
    if findings:
        return Check("images", "Image alt text", WARNING,
                     f"Images without alt text: {len(findings)} of {count}. Readers who block images or use a "
                     "screen reader get nothing in their place.", tuple(findings))
    return Check("images", "Image alt text", PASSED,
                 f"{count} images, each with alt text" if count else "No images")
