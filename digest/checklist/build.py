"""One checklist for an edition, as the edition page, `digest editions check` and the approval
see it: every check run on the message a reader would receive (the edition rendered as sent,
filled for a sample reader, as MIME), the slow ones (links, spam score) cached per content."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from digest.checklist import cache
from digest.checklist.compliance import compliance_checks
from digest.checklist.content import (articles_check, article_name, images_check, preheader_check, size_check,
                                      subject_check)
from digest.checklist.links import LinkAnswer, check_links
from digest.checklist.model import PASSED, SKIPPED, WARNING, Check, Checklist, Finding
from digest.checklist.spam import SpamCheckUnavailable, SpamReport, spam_report
from digest.config import get_settings
from digest.delivery.mime import build_mime
from digest.delivery.send import edition_batch, reader_recipient
from digest.editions.preview import preview_facts
from digest.editions.render import render_edition
from digest.feeds.links import http_url
from digest.store.models import Article, Edition

# The sample reader the message is built for: no subscriber, no delivery row, never sent.
SAMPLE_READER = "reader@example.org"
SAMPLE_ID = 0


def edition_checklist(edition: Edition) -> Checklist:
    settings = get_settings()
    rendered = render_edition(edition)
    recipient = reader_recipient(edition.id, SAMPLE_ID, SAMPLE_ID, SAMPLE_READER, None)
    raw = build_mime(edition_batch(edition, rendered, [recipient]), recipient).as_bytes()
    message: EmailMessage = message_from_bytes(raw, policy=policy.default)
    filled = rendered.fill(recipient.values)
    checks = [size_check(len(filled.html.encode())), subject_check(filled.subject),
              preheader_check(edition.preheader), articles_check(edition), images_check(edition),
              *compliance_checks(message, recipient, settings.POSTAL_ADDRESS),
              links_check(edition, rendered.content_hash, filled),
              spam_check(edition.id, rendered.content_hash, raw, settings.CHECKLIST_SPAM_SCORE_MAX)]
    return Checklist(edition.id, rendered.content_hash, tuple(checks))


def forget_checks(edition_id: int) -> None:
    """Run the slow checks again next time (a link was fixed at its site)."""
    cache.forget(edition_id)


# -- links -------------------------------------------------------------------------------------

def links_check(edition: Edition, content_hash: str, filled) -> Check:
    """Every distinct link a reader can follow, but our own pages: the reader's unsubscribe and
    preferences links are checked above, and the archive page exists only once the edition is sent."""
    base = get_settings().base_url + "/"
    urls = [url for _, url in preview_facts(filled).links
            if http_url(url) == url and not url.startswith(base)]
    urls = list(dict.fromkeys(urls))
    stored = cache.cached(edition.id, content_hash, "links")
    if stored is not None and set(stored) == set(urls):
        answers = {url: LinkAnswer(**value) for url, value in stored.items()}
    else:
        answers = check_links(urls)
        cache.store(edition.id, content_hash, "links", {url: answer.as_dict() for url, answer in answers.items()})
    where = _link_places(edition)
    findings = []
    for url in urls:
        answer = answers[url]
        findings.append(Finding(PASSED if answer.ok else WARNING,
                                f"{answer.note} · {', '.join(where.get(url, ['the intro']))}", url))
    broken = [f for f in findings if f.level == WARNING]
    findings.sort(key=lambda f: f.level != WARNING)
    data = {"links": [dict(answers[url].as_dict(), articles=where.get(url, ["the intro"])) for url in urls]}
    if not urls:
        return Check("links", "Links", PASSED, "No links to check", data=data)
    if broken:
        return Check("links", "Links", WARNING,
                     f"Links that fail: {len(broken)} of {len(urls)}. Readers would land on an error: correct or "
                     "remove the article, or check again later.", tuple(findings), data)
    return Check("links", "Links", PASSED, f"All {len(urls)} links answer", tuple(findings), data)


def _link_places(edition: Edition) -> dict[str, list[str]]:
    """URL -> the articles that link to it, by name."""
    places: dict[str, list[str]] = {}
    for item in edition.items:
        article: Article = item.article
        url = http_url(article.url)
        if url:
            places.setdefault(url, []).append(article_name(article))
    return places


# -- spam score --------------------------------------------------------------------------------

def spam_check(edition_id: int, content_hash: str, raw: bytes, threshold: float) -> Check:
    stored = cache.cached(edition_id, content_hash, "spam")
    if stored is not None:
        report = SpamReport.from_dict(stored)
    else:
        try:
            report = spam_report(raw)
        except SpamCheckUnavailable as exc:
            return Check("spam", "Spam score", SKIPPED, f"Skipped: {exc}.")
        cache.store(edition_id, content_hash, "spam", report.as_dict())
    findings = tuple(Finding(WARNING if rule.points > 0 and report.score > threshold else PASSED,
                             f"{rule.points:+.1f} {rule.name}: {rule.description}") for rule in report.rules)
    data = {"spam": report.as_dict(), "threshold": threshold}
    if report.score > threshold:
        return Check("spam", "Spam score", WARNING,
                     f"SpamAssassin scores it {report.score:g} points, above the {threshold:g} set "
                     "(CHECKLIST_SPAM_SCORE_MAX); filters may file it as spam. The rules hit say why.",
                     findings, data)
    return Check("spam", "Spam score", PASSED,
                 f"SpamAssassin scores it {report.score:g} points (warning above {threshold:g})", findings, data)
