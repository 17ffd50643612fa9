"""The checklist's checks on an edition as a reader would receive it: size, subject, preheader,
articles, alt text, the parts every bulk message must carry, and SpamAssassin's score."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import update

from digest.checklist.build import edition_checklist
from digest.checklist.spam import spam_report
from digest.editions.edit import update_text
from digest.editions.lookup import get_edition
from digest.store.db import unit_of_work
from digest.store.models import Article
from tests.checklist.conftest import edition_linking_to
from tests.conftest import reset_caches


def checklist_of(edition_id: int):
    with unit_of_work() as session:
        return edition_checklist(get_edition(session, edition_id))


def check(edition_id: int, key: str):
    return next(c for c in checklist_of(edition_id).checks if c.key == key)


def test_a_sound_edition_passes_every_check(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/a", "/item/b")
    checklist = checklist_of(edition_id)
    assert [c.key for c in checklist.checks] == [
        "size", "subject", "preheader", "articles", "bylines", "images", "unsubscribe", "preferences", "postal_address",
        "list_unsubscribe", "links", "spam"]
    assert {c.level for c in checklist.checks} == {"passed"}


def test_blocking_problems_come_first_then_warnings_then_what_passed(settings, feed_server, monkeypatch):
    monkeypatch.setenv("POSTAL_ADDRESS", "")
    reset_caches()
    edition_id = edition_linking_to(feed_server, "/item/a", answers={"/item/a": 503})
    with unit_of_work() as session:
        update_text(session, edition_id, preheader="")
    checklist = checklist_of(edition_id)
    assert [(c.key, c.level) for c in checklist.checks[:3]] == [
        ("postal_address", "blocking"), ("preheader", "warning"), ("links", "warning")]
    assert {c.level for c in checklist.checks[3:]} == {"passed"}


def test_an_oversize_edition_is_a_warning_with_its_size(settings, feed_server):
    # A feed that carries whole articles where a lead belongs.
    edition_id = edition_linking_to(feed_server, "/item/a", summary_html="<p>The corridor grows. </p>" * 5000)
    size = check(edition_id, "size")
    assert size.level == "warning"
    assert size.data["html_bytes"] > 102 * 1024
    assert "over Gmail's 102 KB, so Gmail clips it" in size.summary


def test_an_image_without_alt_text_is_a_warning_naming_its_article(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/a", "/item/b")
    with unit_of_work() as session:
        article = get_edition(session, edition_id).items[1].article
        session.execute(update(Article).where(Article.id == article.id).values(
            summary_html='<p>A map of the new ferry routes across the Caspian, with the ports named.</p>'
                         '<p><img src="https://example.org/map.png"><img src="https://example.org/b.png" alt="Baku"></p>'))
        title = article.title
    images = check(edition_id, "images")
    assert images.level == "warning"
    assert images.summary.startswith("Images without alt text: 1 of 2.")
    assert [(f.text, f.url) for f in images.findings] == [(f"“{title}”: an image without alt text",
                                                          "https://example.org/map.png")]


def test_articles_with_a_stub_lead_are_named(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/a", summary_html="<p>Read more.</p>")
    articles = check(edition_id, "articles")
    assert articles.level == "warning"
    assert articles.findings[0].text == "“Corridor report 0”: a lead of 2 words (fewer than 10)"


def test_a_long_subject_is_a_warning(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/a")
    with unit_of_work() as session:
        update_text(session, edition_id, subject="Ports, pipelines, ferries, border crossings, budgets and "
                                                 "parliaments across the Caucasus and Central Asia")
    assert check(edition_id, "subject").level == "warning"


def test_a_missing_unsubscribe_link_blocks(settings, feed_server, templates_without_unsubscribe):
    edition_id = edition_linking_to(feed_server, "/item/a")
    checklist = checklist_of(edition_id)
    assert [c.key for c in checklist.blocking] == ["unsubscribe"]
    assert checklist.blocking[0].summary.startswith("Missing from the HTML part and the plain-text part")


def test_an_empty_postal_address_blocks(settings, feed_server, monkeypatch):
    monkeypatch.setenv("POSTAL_ADDRESS", " ")
    reset_caches()
    edition_id = edition_linking_to(feed_server, "/item/a")
    assert [c.key for c in checklist_of(edition_id).blocking] == ["postal_address"]


def test_the_spam_score_is_read_from_a_real_spamassassin_run():
    message = EmailMessage()
    message["Subject"] = "Hello"
    message["From"] = "someone@example.org"
    message["To"] = "reader@example.org"
    message.set_content("A message with neither Date nor Message-ID.")
    report = spam_report(message.as_bytes())
    rules = {rule.name: rule for rule in report.rules}
    assert rules["MISSING_DATE"].points > 0 and rules["MISSING_DATE"].description == "Missing Date: header"
    assert "MISSING_MID" in rules
    assert report.score == pytest.approx(sum(rule.points for rule in report.rules), abs=0.11)


def test_the_edition_spam_score_warns_above_the_setting_and_is_skipped_without_spamassassin(
        settings, feed_server, monkeypatch):
    edition_id = edition_linking_to(feed_server, "/item/a")
    spam = check(edition_id, "spam")
    assert spam.level == "passed" and spam.data["spam"]["score"] < 1.0
    assert spam.summary.startswith(f"SpamAssassin scores it {spam.data['spam']['score']:g} points")

    # A message SpamAssassin dislikes: every word shouted, and a threshold just under its score.
    with unit_of_work() as session:
        update_text(session, edition_id, subject="FREE!!! ACT NOW, LIMITED TIME, 100% GUARANTEED",
                    intro="**CLICK HERE** to claim your FREE gift! $$$ Buy now, limited time offer!!!")
    shouted = check(edition_id, "spam")
    score = shouted.data["spam"]["score"]
    assert score > spam.data["spam"]["score"]
    monkeypatch.setenv("CHECKLIST_SPAM_SCORE_MAX", str(max(0.0, score - 0.1)))
    reset_caches()
    warned = check(edition_id, "spam")
    assert warned.level == "warning" and "above the" in warned.summary
    assert any(f.level == "warning" and f.text.split()[1].isupper() for f in warned.findings)

    monkeypatch.setenv("PATH", "/nonexistent")  # SpamAssassin missing: skipped, never failed
    with unit_of_work() as session:
        update_text(session, edition_id, preheader="New content, not yet scored")
    skipped = check(edition_id, "spam")
    assert skipped.level == "skipped" and "not installed" in skipped.summary
