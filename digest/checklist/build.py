"""One checklist for an edition, as the edition page, `digest editions check` and the approval
see it: every check run on the message a reader would receive (the edition rendered as sent,
filled for a sample reader, as MIME), the slow ones (links, spam score) cached per content.

The CLI waits for the slow ones; the edition page does not (a hanging link would hold it for
tens of seconds): it shows them pending while a worker runs `edition_checklist` to fill the cache."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from digest.checklist import cache
from digest.checklist.compliance import compliance_checks
from digest.checklist.content import (articles_check, article_name, bylines_check, images_check, preheader_check,
                                      size_check, subject_check)
from digest.checklist.links import LinkAnswer, check_links, deadline_seconds
from digest.checklist.model import PASSED, PENDING, SKIPPED, WARNING, Check, Checklist, Finding
from digest.checklist.spam import TIMEOUT_SECONDS as SPAM_TIMEOUT_SECONDS, SpamCheckUnavailable, SpamReport, spam_report
from digest.config import get_settings
from digest.delivery.message import Recipient
from digest.delivery.mime import build_mime
from digest.delivery import for_you
from digest.delivery.outgoing import FOR_YOU_MARKER, edition_batch, reader_recipient
from digest.editions.preview import preview_facts
from digest.editions.render import RenderedEdition, render_edition
from digest.feeds.links import http_url, rendered_url
from digest.store.models import Article, Edition, EditionKind

# The sample reader the message is built for: no subscriber, no delivery row, never sent.
SAMPLE_READER = "reader@example.org"
SAMPLE_ID = 0


def edition_checklist(edition: Edition, *, wait: bool = True) -> Checklist:
    """`wait`: run the slow checks whose results are not kept for this content; without it they
    are pending (claim_slow_checks tells the page to have a worker run them)."""
    settings = get_settings()
    rendered, recipient, raw = sample_message(edition)
    message: EmailMessage = message_from_bytes(raw, policy=policy.default)
    filled = rendered.fill(recipient.values)
    personal = for_you.MAX_BYTES if recipient.alike.for_you else 0
    checks = [size_check(len(filled.html.encode()), personal), subject_check(filled.subject),
              preheader_check(edition.preheader), articles_check(edition), bylines_check(edition),
              images_check(edition),
              *compliance_checks(message, recipient, settings.POSTAL_ADDRESS),
              links_check(edition, rendered.content_hash, filled, wait),
              spam_check(edition.id, rendered.content_hash, raw, settings.CHECKLIST_SPAM_SCORE_MAX, wait)]
    return Checklist(edition.id, rendered.content_hash, tuple(checks))


def sample_message(edition: Edition) -> tuple[RenderedEdition, Recipient, bytes]:
    """The edition as the sample reader would receive it: rendered, their recipient, the MIME bytes."""
    rendered = render_edition(edition)
    recipient = reader_recipient(edition.id, SAMPLE_ID, SAMPLE_ID, SAMPLE_READER, None,
                                 alert=edition.kind == EditionKind.ALERT, for_you=FOR_YOU_MARKER in rendered.text)
    return rendered, recipient, build_mime(edition_batch(edition, rendered, [recipient]), recipient).as_bytes()


def forget_checks(edition_id: int) -> None:
    """Run the slow checks again next time (a link was fixed at its site)."""
    cache.forget(edition_id)


def claim_slow_checks(checklist: Checklist) -> bool:
    """Whether the caller should have a worker run this checklist's pending checks: false while
    a run for the same content is already under way (every page view and poll asks)."""
    return bool(checklist.pending) and cache.claim_run(checklist.edition_id, checklist.content_hash,
                                                       deadline_seconds() + SPAM_TIMEOUT_SECONDS)


# -- links -------------------------------------------------------------------------------------

def links_check(edition: Edition, content_hash: str, filled, wait: bool = True) -> Check:
    """Every distinct link a reader can follow, but our own pages: the reader's unsubscribe and
    preferences links are checked above, and the archive page exists only once the edition is sent."""
    base = get_settings().base_url + "/"
    urls = [url for _, url in preview_facts(filled).links
            if http_url(url) == url and not url.startswith(base)]
    urls = list(dict.fromkeys(urls))
    stored = cache.cached(edition.id, content_hash, "links")
    if stored is not None and set(stored) == set(urls):
        answers = {url: LinkAnswer(**value) for url, value in stored.items()}
    elif not wait and urls:
        return Check("links", "Links", PENDING, f"Checking {len(urls)} link{'s' if len(urls) != 1 else ''}…")
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
        url = rendered_url(article.url)  # as the email's hrefs write it
        if url:
            places.setdefault(url, []).append(article_name(article))
    return places


# -- spam score --------------------------------------------------------------------------------

def spam_check(edition_id: int, content_hash: str, raw: bytes, threshold: float, wait: bool = True) -> Check:
    stored = cache.cached(edition_id, content_hash, "spam")
    if stored is None and not wait:
        return Check("spam", "Spam score", PENDING, "Scoring with SpamAssassin…")
    if stored is None:
        try:
            stored = spam_report(raw).as_dict()
        except SpamCheckUnavailable as exc:
            stored = {"unavailable": str(exc)}
        # Kept either way: a page waiting for the score must learn that it will not come.
        cache.store(edition_id, content_hash, "spam", stored)
    if "unavailable" in stored:
        return Check("spam", "Spam score", SKIPPED, f"Skipped: {stored['unavailable']}.")
    report = SpamReport.from_dict(stored)
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
