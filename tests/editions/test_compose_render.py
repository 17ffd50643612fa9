"""Composing a draft once, rendering it with placeholders, and approval pinning the content."""

from __future__ import annotations

import dataclasses
import datetime as dt

import lxml.html
import pytest
from sqlalchemy import func, select, update

from digest.clock import utcnow
from digest.delivery.plan import start_edition
from digest.editions.approve import approve_edition
from digest.editions.compose import compose_due_edition, compose_next_edition
from digest.editions.lookup import get_edition
from digest.editions.render import fill, render_edition
from digest.errors import Conflict
from digest.feeds.poll import poll_feed
from digest.store.db import unit_of_work
from digest.store.models import Article, Edition, EditionStatus
from tests.factories import approved_edition, draft_edition, polled_feed, serve_feed
from tests.feed_documents import recent_items


def test_composing_twice_makes_one_edition_in_section_order(settings, feed_server):
    items = recent_items(3)
    items[0] = dataclasses.replace(items[0], section="Field Reports")
    polled_feed(feed_server, items)
    first, second = draft_edition(), draft_edition()
    assert first == second
    with unit_of_work() as session:
        edition = get_edition(session, first)
        assert session.scalar(select(func.count()).select_from(Edition)) == 1
        titles = [item.article.title for item in edition.items]
    # Analytical Articles come before Field Reports; newest first within a section.
    assert titles == [items[1].title, items[2].title, items[0].title]


def test_no_articles_means_no_edition(settings):
    with unit_of_work() as session:
        assert compose_next_edition(session, utcnow()) is None
        assert compose_due_edition(session, utcnow()) is None


def test_articles_already_in_an_edition_are_not_composed_again(settings, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        # The next period's draft finds nothing new.
        later = edition.send_at + dt.timedelta(days=1)
        assert compose_next_edition(session, later) is None


def test_rendering_inlines_css_escapes_titles_and_fills_readers(settings, feed_server):
    hostile = dataclasses.replace(recent_items(1)[0], title='Talks <script>alert("x")</script> & "deals"')
    polled_feed(feed_server, [hostile])
    with unit_of_work() as session:
        rendered = render_edition(get_edition(session, draft_edition()))
    filled = fill(rendered, {"name": 'Zoë <b>"O\'Neil"</b>', "unsubscribe_url": "https://x.example/u/1.abc",
                             "preferences_url": "https://x.example/p/1.abc"})
    tree = lxml.html.fromstring(filled.html)
    assert not tree.xpath("//script"), "a title never becomes markup"
    assert tree.xpath("//h3[contains(@class,'article-title')]/a")[0].text_content() == hostile.title
    assert hostile.title in filled.text  # the text part is not HTML and is not escaped
    assert "Dear Zoë &lt;b&gt;&quot;O&#x27;Neil&quot;&lt;/b&gt;," in filled.html
    assert 'Dear Zoë <b>"O\'Neil"</b>,' in filled.text
    assert tree.xpath("//td[contains(@class,'content')]/@style"), "styles are inlined"
    assert "@media" in filled.html, "media queries are kept"
    hrefs = tree.xpath("//a/@href")
    assert "https://x.example/u/1.abc" in hrefs and "https://x.example/p/1.abc" in hrefs
    assert "Preferences (sections, format, pause): https://x.example/p/1.abc" in filled.text
    assert all(href.startswith(("http://", "https://")) for href in hrefs)
    assert all(len(line) <= 72 or "://" in line for line in filled.text.splitlines())
    assert "[%" not in filled.html + filled.text


def test_approval_pins_the_rendered_content(settings, feed_server):
    polled_feed(feed_server)
    edition_id = approved_edition("Publisher@Example.org")
    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        assert edition.status == EditionStatus.APPROVED
        assert edition.approved_by == "publisher@example.org"
        assert edition.approved_hash == render_edition(edition).content_hash
        with pytest.raises(Conflict):
            approve_edition(session, edition_id, "publisher@example.org")


def test_a_change_after_approval_sends_nothing_and_returns_to_draft(settings, feed_server):
    items = recent_items()
    polled_feed(feed_server, items)
    edition_id = approved_edition()
    # The feed corrects an article after the edition was approved.
    items[0] = dataclasses.replace(items[0], lead="A corrected lead paragraph.")
    serve_feed(feed_server, items)
    with unit_of_work() as session:
        poll_feed(session, session.scalar(select(Article.feed_id).limit(1)))
        session.execute(update(Edition).where(Edition.id == edition_id).values(send_at=utcnow()))
    with unit_of_work() as session:
        assert start_edition(session, edition_id) == []
    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        assert edition.status == EditionStatus.DRAFT and edition.approved_hash is None
        assert "changed after approval" in edition.note
