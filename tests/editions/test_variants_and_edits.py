"""Variants rendered once per edition and shared; editors' changes; the Gmail size warning."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import lxml.html
import pytest
from sqlalchemy import func, select, update

from digest.clock import utcnow
from digest.delivery.outbox import OutboxSender
from digest.delivery.send import send_batch
from digest.editions.approve import approve_edition
from digest.editions.edit import add_article, move_article, remove_article, update_text
from digest.editions.lookup import get_edition
from digest.editions.render import render_edition
from digest.errors import Conflict, InputError, NotFound
from digest.store.db import unit_of_work
from digest.store.models import Article, Delivery, EditionRender, EditionStatus, Subscriber
from tests.factories import approved_edition, draft_edition, planned, stored_articles, subscribers
from tests.delivery.batches import sizes

DAY = dt.timedelta(days=1)


def _two_section_edition() -> int:
    now = utcnow()
    stored_articles(now - DAY, now - 2 * DAY, section="Analytical Articles", prefix="Analysis")
    stored_articles(now - 3 * DAY, section="Field Reports", prefix="Report")
    return draft_edition()


def _choose(email_address: str, sections: list[str]) -> None:
    with unit_of_work() as session:
        session.execute(update(Subscriber).where(Subscriber.email == email_address).values(sections=sections))


def test_readers_with_the_same_choice_share_one_render(settings):
    edition_id = _two_section_edition()
    readers = ["a@example.org", "b@example.org", "c@example.org", "d@example.org", "e@example.org"]
    subscribers(*readers)
    _choose("a@example.org", ["Field Reports"])
    _choose("b@example.org", ["field reports"])  # same choice, other spelling
    _choose("c@example.org", ["Field Reports", "News Digest"])  # selects the same articles here
    _choose("d@example.org", ["News Digest"])  # nothing of that section in this edition
    with unit_of_work() as session:
        approve_edition(session, edition_id, "p@example.org")
    batches = planned(edition_id)
    assert sorted(sizes(batches)) == [1, 3]
    outbox = OutboxSender(settings.OUTBOX_DIR)
    for batch in batches:
        with unit_of_work() as session:
            send_batch(session, edition_id, batch, outbox)
    with unit_of_work() as session:
        variants = dict(session.execute(select(Delivery.email, Delivery.variant)).all())
        # One stored render per variant readers chose (Field Reports; all sections), whatever the
        # number of readers: what each message is filled from.
        assert session.scalar(select(func.count()).select_from(EditionRender)) == 2
        assert get_edition(session, edition_id).status == EditionStatus.SENT
    assert variants == {"a@example.org": "Field Reports:html", "b@example.org": "Field Reports:html",
                        "c@example.org": "Field Reports:html", "e@example.org": "all:html"}
    texts = {}
    for path in settings.OUTBOX_DIR.rglob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        texts[message["To"]] = message.get_body(("plain",)).get_content()
    assert "Report 2" in texts["a@example.org"] and "Analysis" not in texts["a@example.org"]
    assert "Report 2" in texts["e@example.org"] and "Analysis 0" in texts["e@example.org"]


def test_a_text_only_variant_has_no_html_part(settings):
    edition_id = _two_section_edition()
    with unit_of_work() as session:
        from digest.editions.render import Variant

        rendered = render_edition(get_edition(session, edition_id), Variant(text_only=True))
    assert rendered.html == "" and "Analysis 0" in rendered.text


def test_the_email_structure_holds(settings):
    edition_id = _two_section_edition()
    with unit_of_work() as session:
        update_text(session, edition_id, preheader="Ports, water and committees",
                    intro="Welcome to **this** issue. <script>alert(1)</script> [bad](javascript:alert(2))")
        edition = get_edition(session, edition_id)
        rendered = render_edition(edition)
        titles = [(i.article.title, i.article.url) for i in edition.items]
    tree = lxml.html.fromstring(rendered.html)
    body = tree.body
    assert body[0].get("class") == "preheader" and body[0].text_content().startswith("Ports, water")
    assert tree.get("lang") == "en"
    assert tree.xpath("//meta[@name='color-scheme']")
    assert all(t.get("role") == "presentation" for t in tree.xpath("//table"))
    assert "prefers-color-scheme: dark" in rendered.html
    assert not tree.xpath("//script")
    assert not [h for h in tree.xpath("//a/@href") if not h.startswith(("https://", "http://", "[%"))]
    assert tree.xpath("//strong[text()='this']")
    for title, url in titles:
        assert tree.xpath(f"//h3[contains(@class,'article-title')]/a[@href='{url}']")
        assert title in rendered.text and url in rendered.text
    assert "[%unsubscribe_url:html%]" in tree.xpath("//td[contains(@class,'footer')]//a/@href")
    assert "Unsubscribe: [%unsubscribe_url%]" in rendered.text


def test_an_oversized_edition_is_flagged_for_gmail_clipping(settings):
    now = utcnow()
    ids = stored_articles(*[now - DAY] * 40)
    with unit_of_work() as session:
        for article in session.scalars(select(Article).where(Article.id.in_(ids))):
            article.summary_html = "<p>" + "A long lead sentence about the region. " * 80 + "</p>"
    edition_id = draft_edition()
    with unit_of_work() as session:
        rendered = render_edition(get_edition(session, edition_id))
    assert rendered.html_bytes > 102 * 1024 and rendered.clipped_by_gmail


def test_any_edit_returns_an_approved_edition_to_draft(settings):
    _two_section_edition()
    with unit_of_work() as session:
        edition = get_edition(session, approved_edition())
        first, second, third = [i.article_id for i in edition.items]
    edits = [
        lambda s, e: update_text(s, e, subject="A new subject"),
        lambda s, e: update_text(s, e, preheader="New preheader"),
        lambda s, e: update_text(s, e, intro="An *intro*."),
        lambda s, e: move_article(s, e, third, 1),
        lambda s, e: remove_article(s, e, second),
        lambda s, e: add_article(s, e, second, position=2),
    ]
    for edit in edits:
        with unit_of_work() as session:
            edit(session, edition.id)
        with unit_of_work() as session:
            current = get_edition(session, edition.id)
            assert current.status == EditionStatus.DRAFT and current.approved_hash is None
            assert "changed after approval" in current.note
            approve_edition(session, edition.id, "p@example.org")
    assert [i.article_id for i in current.items] == [third, second, first]
    assert current.subject == "A new subject"


def test_bad_edits_change_nothing(settings):
    edition_id = _two_section_edition()
    with unit_of_work() as session:
        article_ids = [i.article_id for i in get_edition(session, edition_id).items]
    bad = [
        (lambda s: update_text(s, edition_id, subject="  "), InputError, "subject"),
        (lambda s: update_text(s, edition_id, subject="x" * 201), InputError, "subject"),
        (lambda s: move_article(s, edition_id, article_ids[0], 9), InputError, "position 9"),
        (lambda s: remove_article(s, edition_id, 999), NotFound, "article 999"),
        (lambda s: add_article(s, edition_id, 999), NotFound, "article 999"),
        (lambda s: add_article(s, edition_id, article_ids[0]), Conflict, "already in edition"),
        (lambda s: update_text(s, 999, subject="x"), NotFound, "edition 999"),
    ]
    for edit, error, words in bad:
        with pytest.raises(error, match=words), unit_of_work() as session:
            edit(session)
    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        assert [i.article_id for i in edition.items] == article_ids
        assert edition.subject.startswith("Central Asia-Caucasus Analyst")


def test_a_sent_edition_cannot_be_changed(settings):
    edition_id = _two_section_edition()
    with unit_of_work() as session:
        approve_edition(session, edition_id, "p@example.org")
    planned(edition_id)  # no readers: sent at once
    with pytest.raises(Conflict, match="can no longer be changed"), unit_of_work() as session:
        update_text(session, edition_id, subject="Too late")


def test_a_reader_who_chose_text_only_gets_one_plain_part(settings):
    from digest.delivery.memory import MemorySender
    from digest.store.models import SubscriberFormat
    from tests.factories import send_now

    edition_id = _two_section_edition()
    subscribers("plain@example.org", "rich@example.org")
    with unit_of_work() as session:
        session.execute(update(Subscriber).where(Subscriber.email == "plain@example.org")
                        .values(format=SubscriberFormat.TEXT))
        approve_edition(session, edition_id, "p@example.org")
    sender = MemorySender()
    send_now(edition_id, sender)
    kinds = {m["To"]: m.get_content_type() for m in sender.messages}
    assert kinds == {"plain@example.org": "text/plain", "rich@example.org": "multipart/alternative"}
    with unit_of_work() as session:
        variants = dict(session.execute(select(Delivery.email, Delivery.variant)).all())
    assert variants == {"plain@example.org": "all:text", "rich@example.org": "all:html"}


def test_a_render_verified_once_is_not_read_again_and_what_no_longer_matches_is_refused(settings):
    """Every send batch asks for its variant's render: the parts come back only when their hash
    is not the one this process verified (some 150 KB a batch); the approved hash is checked
    every time, and parts that do not match their hash are refused when read."""
    from digest.editions import approve

    stored_articles(utcnow() - DAY)
    edition_id = approved_edition()
    with unit_of_work() as session:
        first = approve.approved_render(session, get_edition(session, edition_id))
    with unit_of_work() as session:
        assert approve.approved_render(session, get_edition(session, edition_id)) is first  # not read again
        session.execute(update(EditionRender).values(html=EditionRender.html + "<p>changed</p>"))
    approve._verified.clear()  # a process that has not read it yet
    with unit_of_work() as session, pytest.raises(Conflict, match="no longer matches its stored hash"):
        approve.approved_render(session, get_edition(session, edition_id))
    with unit_of_work() as session:
        session.execute(update(EditionRender).values(html=first.html))
        assert approve.approved_render(session, get_edition(session, edition_id)).html == first.html
        get_edition(session, edition_id).approved_hash = "0" * 64
    with unit_of_work() as session, pytest.raises(Conflict, match="no longer matches what was approved"):
        approve.approved_render(session, get_edition(session, edition_id))
