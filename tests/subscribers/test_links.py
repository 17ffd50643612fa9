"""The pages behind the links in emails: confirm, preferences and unsubscribe. A signed token
is the only key; a tampered, expired or wrong-scope one gets a clear 400 and changes nothing."""

from __future__ import annotations

import datetime as dt
import html

import lxml.html
import pytest
import time_machine
from sqlalchemy import select

from digest.clock import utcnow
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Subscriber, SubscriberFormat, SubscriberStatus
from digest.subscribers.lifecycle import sign_up
from digest.subscribers.suppressions import suppression_for
from digest.subscribers.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, make_token
from tests.delivery.batches import planned_readers
from tests.factories import approved_edition, planned, polled_feed, subscribers


def _pending(address: str = "reader@example.org") -> int:
    with unit_of_work() as session:
        return sign_up(session, address, source="web", ip="192.0.2.10").subscriber_id


def _subscriber(subscriber_id: int) -> Subscriber:
    with unit_of_work() as session:
        return session.get(Subscriber, subscriber_id)


def _actions(subscriber_id: int) -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry.action).where(AuditEntry.subscriber_id == subscriber_id)
                                    .order_by(AuditEntry.id)))


def test_confirming_takes_a_button_press_records_consent_and_repeats_harmlessly(client):
    subscriber_id = _pending()
    url = f"/confirm/{make_token(CONFIRM, subscriber_id)}"
    page = client.get(url)
    # Opening the link (as a mail scanner does) subscribes nobody: a button posts the confirmation.
    assert page.status_code == 200 and f'<form method="post" action="{url}">' in page.text
    assert _subscriber(subscriber_id).status == SubscriberStatus.PENDING
    done = client.post(url)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert 'href="/p/' in done.text, "the confirmed page links to the preferences"
    first = _subscriber(subscriber_id)
    assert (first.status, first.confirm_ip, first.signup_ip, first.source) == \
        (SubscriberStatus.CONFIRMED, "testclient", "192.0.2.10", "web")
    assert client.post(url).status_code == 200
    assert _subscriber(subscriber_id).confirmed_at == first.confirmed_at
    assert _actions(subscriber_id) == ["signup", "confirm"]


def test_an_expired_confirmation_link_gets_a_clear_400_and_changes_nothing(client):
    subscriber_id = _pending()
    with time_machine.travel(utcnow() - dt.timedelta(days=7, minutes=1), tick=False):
        url = f"/confirm/{make_token(CONFIRM, subscriber_id)}"
    for answer in (client.get(url), client.post(url)):
        assert answer.status_code == 400
        assert "Link expired" in answer.text and "valid for 7 days" in answer.text
        assert 'href="/subscribe"' in answer.text
    assert _subscriber(subscriber_id).status == SubscriberStatus.PENDING


def test_tampered_and_wrong_scope_links_get_a_clear_400_and_change_nothing(client):
    [reader] = subscribers("reader@example.org")
    pending = _pending("pending@example.org")
    unsubscribe_token = make_token(UNSUBSCRIBE, reader)
    confirm_token = make_token(CONFIRM, pending)
    preferences_token = make_token(PREFERENCES, reader)
    tampered = f"{reader + 1:x}.{unsubscribe_token.split('.')[1]}"
    wrong = [f"/u/{confirm_token}", f"/u/{preferences_token}", f"/confirm/{unsubscribe_token}",
             f"/confirm/{preferences_token}", f"/p/{unsubscribe_token}", f"/p/{confirm_token}",
             f"/u/{tampered}", f"/u/{unsubscribe_token[:-3]}", f"/confirm/{confirm_token}x", "/p/garbage"]
    for url in wrong:
        for answer in (client.get(url), client.post(url, data={"List-Unsubscribe": "One-Click",
                                                              "sections": "Field Reports", "paused": "yes"})):
            assert answer.status_code == 400, url
            assert "Link not valid" in answer.text and "altered" in answer.text
    assert _subscriber(reader).status == SubscriberStatus.CONFIRMED and not _subscriber(reader).paused
    assert _subscriber(pending).status == SubscriberStatus.PENDING
    assert _actions(reader) == ["add"]


def test_the_unsubscribe_page_has_one_button_and_pressing_it_suppresses(client):
    [reader] = subscribers("reader@example.org")
    url = f"/u/{make_token(UNSUBSCRIBE, reader)}"
    tree = lxml.html.fromstring(client.get(url).text)
    assert len(tree.xpath("//button")) == 1 and tree.xpath("//form/@action") == [url]
    assert _subscriber(reader).status == SubscriberStatus.CONFIRMED
    assert client.post(url).status_code == 200
    assert _subscriber(reader).status == SubscriberStatus.UNSUBSCRIBED
    with unit_of_work() as session:
        assert suppression_for(session, "reader@example.org").reason.value == "unsubscribe"
    assert _actions(reader) == ["add", "unsubscribe", "suppress"]


def test_an_old_confirmation_link_cannot_bring_back_someone_who_left(client):
    subscriber_id = _pending()
    old = f"/confirm/{make_token(CONFIRM, subscriber_id, utcnow() - dt.timedelta(minutes=5))}"
    assert client.post(old).status_code == 200
    assert client.post(f"/u/{make_token(UNSUBSCRIBE, subscriber_id)}").status_code == 200
    refused = client.post(old)
    assert refused.status_code == 400 and "sign up again" in refused.text
    assert _subscriber(subscriber_id).status == SubscriberStatus.UNSUBSCRIBED
    # A new sign-up, confirmed by its new link, is the way back; it lifts the suppression.
    assert _pending() == subscriber_id
    assert client.post(f"/confirm/{make_token(CONFIRM, subscriber_id)}").status_code == 200
    assert _subscriber(subscriber_id).status == SubscriberStatus.CONFIRMED
    with unit_of_work() as session:
        assert suppression_for(session, "reader@example.org") is None


def test_the_preferences_page_saves_sections_format_and_pause(client, settings):
    [reader] = subscribers("reader@example.org")
    url = f"/p/{make_token(PREFERENCES, reader)}"
    tree = lxml.html.fromstring(client.get(url).text)
    boxes = tree.xpath("//input[@name='sections']")
    assert [b.get("value") for b in boxes] == settings.SECTION_ORDER
    assert all(b.get("checked") is not None for b in boxes), "stored empty means every section"
    assert tree.xpath("//input[@name='format'][@checked]/@value") == ["html"]
    for field in tree.xpath("//form//input"):
        assert tree.xpath(f"//label[@for='{field.get('id')}']"), field.get("name")
    saved = client.post(url, data={"sections": ["Field Reports", "Analytical Articles"], "format": "text",
                                   "paused": "yes"})
    assert saved.status_code == 200 and "Saved" in saved.text
    after = _subscriber(reader)
    assert (after.sections, after.format, after.paused) == \
        (["Analytical Articles", "Field Reports"], SubscriberFormat.TEXT, True)
    with unit_of_work() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "preferences"))
    assert entry.details["changes"]["paused"] == [False, True] and entry.ip == "testclient"
    # Every section ticked is stored as "all", so sections added later reach the reader too.
    client.post(url, data={"sections": settings.SECTION_ORDER, "format": "html"})
    assert (_subscriber(reader).sections, _subscriber(reader).paused) == ([], False)


@pytest.mark.parametrize("data, message", [
    ({"sections": ["Poetry"], "format": "html"}, "section 'Poetry' is not one of"),
    ({"format": "html"}, "choose at least one section"),
    ({"sections": ["Field Reports"], "format": "pdf"}, "format 'pdf' must be html or text"),
])
def test_bad_preferences_are_refused_and_change_nothing(client, data, message):
    [reader] = subscribers("reader@example.org")
    answer = client.post(f"/p/{make_token(PREFERENCES, reader)}", data=data)
    assert answer.status_code == 400 and message in html.unescape(answer.text)
    after = _subscriber(reader)
    assert (after.sections, after.format, after.paused) == ([], SubscriberFormat.HTML, False)


def test_a_pause_applies_to_the_next_edition(client, feed_server):
    polled_feed(feed_server)
    paused, active = subscribers("paused@example.org", "active@example.org")
    client.post(f"/p/{make_token(PREFERENCES, paused)}",
                data={"sections": ["Analytical Articles"], "format": "html", "paused": "yes"})
    edition_id = approved_edition()
    planned(edition_id)
    assert planned_readers(edition_id) == {"active@example.org"}
