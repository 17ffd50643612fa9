"""The web app over HTTP: health, previews, the archive and one-click unsubscribe."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from digest.delivery.memory import MemorySender
from digest.store.db import unit_of_work
from digest.store.models import Subscriber, SubscriberStatus
from digest.subscribers.tokens import UNSUBSCRIBE, make_token
from digest.web.app import app
from tests.factories import approved_edition, draft_edition, polled_feed, send_now, subscribers
from tests.web.editor_helpers import login_as


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _sent_edition() -> int:
    edition_id = approved_edition()
    send_now(edition_id, MemorySender())
    return edition_id


def test_health(client):
    assert client.get("/healthz").text == "ok"


def test_the_preview_shows_the_email_and_its_text(client, feed_server):
    from digest.accounts import add_editor
    
    with unit_of_work() as session:
        login_as(client, add_editor(session, "ed@example.org", "a long enough password"))
    polled_feed(feed_server)
    edition_id = draft_edition()
    html = client.get(f"/editions/{edition_id}/preview")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Port Capacity Shapes the Middle Corridor" in html.text and "[%" not in html.text
    text = client.get(f"/editions/{edition_id}/preview", params={"format": "text"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("Subject: Central Asia-Caucasus Analyst")
    assert client.get("/editions/999/preview").status_code == 404
    assert client.get(f"/editions/{edition_id}/preview", params={"format": "pdf"}).status_code == 400


def test_the_archive_lists_only_sent_editions(client, feed_server):
    polled_feed(feed_server)
    subscribers("a@example.org")
    assert "No edition has been published yet" in client.get("/archive").text
    draft = draft_edition()
    assert client.get(f"/archive/{draft}").status_code == 404
    sent = _sent_edition()
    assert sent == draft
    index = client.get("/archive").text
    assert f'href="/archive/{sent}"' in index
    page = client.get(f"/archive/{sent}").text
    # The site around the edition: its heading, the way to the other editions and to sign up.
    assert re.search(r"<main id=\"main\"[^>]*>", page) and '<a class="skip" href="#main">' in page
    assert re.search(r"<h1>[^<]+</h1>", page)
    assert '<a href="/archive">All editions</a>' in page and 'href="/subscribe"' in page
    assert f'src="/archive/{sent}/email"' in page
    email = client.get(f"/archive/{sent}/email").text
    assert "Port Capacity Shapes the Middle Corridor" in email
    assert "/u/" not in email  # the web version carries no reader's unsubscribe link
    assert "<head><base target=\"_top\">" in email  # its links leave the frame for the reader's window
    assert client.get(f"/archive/{draft + 100}/email").status_code == 404


def _subscriber_status(subscriber_id: int) -> SubscriberStatus:
    with unit_of_work() as session:
        return session.get(Subscriber, subscriber_id).status


def test_one_click_unsubscribe_needs_no_cookie_and_repeats_harmlessly(client):
    [subscriber_id] = subscribers("a@example.org")
    url = f"/u/{make_token(UNSUBSCRIBE, subscriber_id)}"
    page = client.get(url)
    assert page.status_code == 200 and 'method="post"' in page.text
    assert _subscriber_status(subscriber_id) == SubscriberStatus.CONFIRMED
    for _ in range(2):
        answer = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200 and "You are unsubscribed" in answer.text
        assert _subscriber_status(subscriber_id) == SubscriberStatus.UNSUBSCRIBED
    multipart = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200


def test_a_tampered_token_changes_nothing(client):
    [subscriber_id] = subscribers("a@example.org")
    token = make_token(UNSUBSCRIBE, subscriber_id)
    forged = f"{subscriber_id + 1:x}.{token.split('.')[1]}"
    for url in (f"/u/{forged}", f"/u/{token[:-2]}", "/u/garbage"):
        assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 400
        assert client.get(url).status_code == 400
    assert _subscriber_status(subscriber_id) == SubscriberStatus.CONFIRMED


def test_the_archive_feed_lists_sent_editions(client, feed_server):
    import feedparser

    polled_feed(feed_server)
    subscribers("a@example.org")
    empty = feedparser.parse(client.get("/archive/feed.atom").content)
    assert not empty.bozo and empty.entries == []
    sent = _sent_edition()
    answer = client.get("/archive/feed.atom")
    assert answer.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo
    [entry] = parsed.entries
    assert entry.link == f"https://digest.example.org/archive/{sent}"
    assert entry.title.startswith("Central Asia-Caucasus Analyst")
    assert "Port Capacity Shapes the Middle Corridor" in entry.summary
