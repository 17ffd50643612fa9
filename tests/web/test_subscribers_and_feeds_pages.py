"""The editors' subscribers and feeds pages over HTTP."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from digest.clock import utcnow
from digest.delivery.memory import MemorySender
from digest.store.db import unit_of_work
from digest.store.models import Feed, FeedStatus, Subscriber, SubscriberStatus, Suppression
from digest.web.app import app
from tests.factories import approved_edition, polled_feed, send_now, serve_feed, subscribers
from tests.web.editor_helpers import csrf, logged_in

SUBSCRIBER_POSTS = ["/subscribers/{s}/suppress", "/subscribers/{s}/unsubscribe", "/subscribers/{s}/forget",
                    "/subscribers/import"]
FEED_POSTS = ["/feeds", "/feeds/{f}/pause", "/feeds/{f}/resume", "/feeds/{f}/poll"]


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _subscriber(subscriber_id: int) -> Subscriber | None:
    with unit_of_work() as session:
        return session.get(Subscriber, subscriber_id)


def _counts() -> tuple[int, int, int]:
    with unit_of_work() as session:
        return tuple(session.scalar(select(func.count()).select_from(table)) for table in (Subscriber, Suppression, Feed))


def _paths(templates, subscriber_id, feed_id):
    return [template.format(s=subscriber_id, f=feed_id) for template in templates]


def test_ids_that_name_nothing_get_the_404_page(client):
    """Logins and CSRF tokens for these pages: tests/web/test_editor_routes.py, for every editor route."""
    logged_in(client, "publisher@example.org", "publisher")
    for path in ["/subscribers/999", "/subscribers/abc", "/feeds/abc/pause"]:
        assert client.get(path).status_code in (404, 405)
    assert client.get("/subscribers/999").status_code == 404
    token = csrf(client, "/feeds")
    for path in _paths(SUBSCRIBER_POSTS[:3] + FEED_POSTS[1:], 999, 999):
        answer = client.post(path, data={"csrf_token": token})
        assert answer.status_code == 404 and "Not found" in answer.text, path


def test_only_a_publisher_may_forget_and_only_with_the_address_typed(client):
    [subscriber_id] = subscribers("reader@example.org")
    logged_in(client, "editor@example.org", "editor")
    token = csrf(client, f"/subscribers/{subscriber_id}")
    assert client.post(f"/subscribers/{subscriber_id}/forget",
                       data={"csrf_token": token, "confirm": "reader@example.org"}).status_code == 403
    logged_in(client, "publisher@example.org", "publisher")
    token = csrf(client, f"/subscribers/{subscriber_id}")
    wrong = client.post(f"/subscribers/{subscriber_id}/forget", data={"csrf_token": token, "confirm": "someone@else.org"})
    assert wrong.status_code == 400 and "type the subscriber's address exactly" in wrong.text.replace("&#39;", "'")
    assert _subscriber(subscriber_id) is not None
    done = client.post(f"/subscribers/{subscriber_id}/forget", data={"csrf_token": token, "confirm": "Reader@Example.org"})
    assert done.headers["location"] == "/subscribers?notice=forgotten"
    assert _subscriber(subscriber_id) is None
    with unit_of_work() as session:
        assert session.scalar(select(Suppression.email)) is None  # only the hash is kept


def test_search_by_address_status_and_section(client):
    ids = subscribers("anna@example.org", "bakhyt@example.org", "clara@example.net")
    subscribers("pending@example.org", confirmed=False)
    with unit_of_work() as session:
        session.execute(update(Subscriber).where(Subscriber.id == ids[1]).values(sections=["Field Reports"]))
    logged_in(client)

    def found(**params) -> list[str]:
        return re.findall(r'<a href="/subscribers/\d+">([^<]+)</a>', client.get("/subscribers", params=params).text)

    assert found() == ["anna@example.org", "bakhyt@example.org", "clara@example.net", "pending@example.org"]
    assert found(q="example.net") == ["clara@example.net"]
    assert found(status="pending") == ["pending@example.org"]
    assert found(section="Field Reports", status="confirmed") == ["anna@example.org", "bakhyt@example.org", "clara@example.net"]
    assert "bakhyt@example.org" not in found(section="News Digest")
    for bad in ({"status": "asleep"}, {"section": "Sports"}):
        answer = client.get("/subscribers", params=bad)
        assert answer.status_code == 400 and 'role="alert"' in answer.text


def test_a_subscribers_history_shows_deliveries_and_events(client, feed_server):
    polled_feed(feed_server)
    [subscriber_id] = subscribers("reader@example.org")
    edition_id = approved_edition()
    send_now(edition_id, MemorySender())
    logged_in(client)
    page = client.get(f"/subscribers/{subscriber_id}").text
    assert f'<a href="/editions/{edition_id}">Edition {edition_id}</a>' in page and "<td>accepted</td>" in page
    assert "add" in page.split("<h2>Events</h2>")[1]  # the audit log's first entry


def test_suppress_and_unsubscribe_from_the_page(client):
    [first, second] = subscribers("one@example.org", "two@example.org")
    logged_in(client)
    token = csrf(client, f"/subscribers/{first}")
    client.post(f"/subscribers/{first}/suppress", data={"csrf_token": token, "detail": "asked by phone"})
    page = client.get(f"/subscribers/{first}?notice=suppressed").text
    assert 'id="suppressed"' in page and "asked by phone" in page and "nothing more is sent" in page
    client.post(f"/subscribers/{second}/unsubscribe", data={"csrf_token": token})
    assert _subscriber(second).status == SubscriberStatus.UNSUBSCRIBED


def test_import_and_export_csv(client):
    logged_in(client)
    token = csrf(client, "/subscribers")
    csv = b"email,name,sections\nnew.reader@example.org,New Reader,Field Reports\nnot-an-address,Nobody,\n"
    answer = client.post("/subscribers/import", data={"csrf_token": token},
                         files={"file": ("readers.csv", csv, "text/csv")})
    # Kept for a worker, whose progress the import's page shows (tests/subscribers/test_import_worker.py).
    assert answer.status_code == 303 and re.fullmatch(r"/subscribers/imports/\d+", answer.headers["location"])
    assert "Waiting for a worker" in client.get(answer.headers["location"]).text
    subscribers("reader@example.org")
    exported = client.get("/subscribers/export")
    assert exported.headers["content-type"].startswith("text/csv") and "reader@example.org" in exported.text
    before = _counts()
    for bad in (b"",):
        answer = client.post("/subscribers/import", data={"csrf_token": token}, files={"file": ("bad.csv", bad, "text/csv")})
        assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert _counts() == before


def test_the_feeds_page_shows_health_and_adds_pauses_resumes_and_polls(client, feed_server, redis_client):
    feed_id = polled_feed(feed_server)
    with unit_of_work() as session:
        broken = Feed(url="https://feeds.example.org/broken", last_error="HTTP 500 from the server",
                      consecutive_failures=3)
        stale = Feed(url="https://feeds.example.org/quiet", last_success_at=utcnow(),
                     last_new_at=utcnow() - dt.timedelta(days=90))
        session.add_all([broken, stale])
    logged_in(client)
    page = client.get("/feeds").text
    assert "HTTP 500 from the server" in page and "3 failures in a row" in page
    assert page.count("Stale: nothing new") == 1 and "never" in page
    token = csrf(client, "/feeds")
    redis_client.delete("feeds")

    bad = client.post("/feeds", data={"csrf_token": token, "url": "ftp://example.org/feed"})
    assert bad.status_code == 400 and "is not an http(s) URL" in bad.text and 'value="ftp://example.org/feed"' in bad.text
    taken = client.post("/feeds", data={"csrf_token": token, "url": serve_feed(feed_server)})
    assert taken.status_code == 400 and "already registered" in taken.text
    assert redis_client.llen("feeds") == 0
    added = client.post("/feeds", data={"csrf_token": token, "url": "https://feeds.example.org/new", "section": "News Digest"})
    assert added.headers["location"] == "/feeds?notice=added" and redis_client.llen("feeds") == 1

    client.post(f"/feeds/{feed_id}/pause", data={"csrf_token": token})
    with unit_of_work() as session:
        assert session.get(Feed, feed_id).status == FeedStatus.PAUSED
    again = client.post(f"/feeds/{feed_id}/pause", data={"csrf_token": token})
    assert again.status_code == 400 and "already paused" in again.text
    client.post(f"/feeds/{feed_id}/resume", data={"csrf_token": token})
    client.post(f"/feeds/{feed_id}/poll", data={"csrf_token": token})
    with unit_of_work() as session:
        assert session.get(Feed, feed_id).status == FeedStatus.ACTIVE
    assert redis_client.llen("feeds") == 3
    redis_client.delete("feeds")
