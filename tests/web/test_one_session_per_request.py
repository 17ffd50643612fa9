"""A logged-in request uses one database session: the one `current_editor` opened (the `db`
dependency) is the one the route reads and writes with. Counted as the distinct sessions that
begin a transaction while each request runs. And a request that changes something stores it
before it answers (tests/web/answered.py)."""

from __future__ import annotations

import contextlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from digest.errors import InputError, NotFound
from digest.store.db import unit_of_work
from digest.store.models import Edition, Feed, FeedStatus
from digest.web.app import app
from tests.factories import draft_edition, polled_feed, subscribers
from tests.web.answered import AnswerWatch
from tests.web.editor_helpers import csrf, logged_in


@pytest.fixture
def watch():
    watch = AnswerWatch(app)
    yield watch
    watch.close()


@pytest.fixture
def client(settings, watch):
    with TestClient(watch, base_url="https://testserver", follow_redirects=False) as client:
        yield client


@contextlib.contextmanager
def sessions():
    seen: set[int] = set()

    def begun(session, _transaction, _connection):
        seen.add(id(session))
    event.listen(Session, "after_begin", begun)
    try:
        yield seen
    finally:
        event.remove(Session, "after_begin", begun)


def test_every_editor_route_uses_one_session(client, watch, feed_server):
    feed_id = polled_feed(feed_server)
    edition_id = draft_edition()
    [reader] = subscribers("reader@example.org")
    logged_in(client, "publisher@example.org", "publisher")
    token = csrf(client, "/dashboard")
    gets = ["/dashboard", f"/editions/{edition_id}", f"/editions/{edition_id}/preview", "/feeds", "/subscribers",
            f"/subscribers/{reader}", "/editors", "/ops", f"/api/editions/{edition_id}/progress",
            "/subscribers/export"]
    posts = [(f"/editions/{edition_id}/text", {"subject": "One session", "preheader": "", "intro": ""}, 303),
             (f"/editions/{edition_id}/text", {"subject": "", "preheader": "", "intro": ""}, 400),
             (f"/editions/{edition_id}/intro-preview", {"intro": "*hi*"}, 200),
             (f"/editions/{edition_id + 99}/approve", {}, 404),
             (f"/feeds/{feed_id}/pause", {}, 303),
             ("/feeds", {"url": "ftp://example.org/feed", "section": ""}, 400),
             (f"/subscribers/{reader}/suppress", {"detail": "asked by phone"}, 303),
             (f"/subscribers/{reader}/forget", {"confirm": "someone else"}, 400)]
    for path in gets:
        with sessions() as taken:
            answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert len(taken) == 1, f"GET {path} used {len(taken)} sessions"
    for path, data, status in posts:
        with sessions() as taken:
            answer = client.post(path, data={"csrf_token": token, **data})
        assert answer.status_code == status, (path, answer.text[:300])
        assert len(taken) == 1, f"POST {path} used {len(taken)} sessions"
    assert watch.late == [], "committed after answering"
    with unit_of_work() as session:
        assert session.get(Edition, edition_id).subject == "One session"
        assert session.get(Feed, feed_id).status == FeedStatus.PAUSED


def test_every_public_route_uses_one_session(client, watch):
    from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token

    [reader] = subscribers("reader@example.org")
    calls = [("GET", f"/p/{make_token(PREFERENCES, reader)}", {}, 200),
             ("POST", f"/p/{make_token(PREFERENCES, reader)}", {"format": "html", "sections": "Field Reports"}, 200),
             ("POST", f"/p/{make_token(PREFERENCES, reader)}", {"format": "pdf"}, 400),
             ("POST", f"/u/{make_token(UNSUBSCRIBE, reader)}", {}, 200),
             ("POST", "/subscribe", {"email": "new@example.org"}, 200),
             ("POST", "/subscribe", {"email": "not an address"}, 400),
             ("GET", "/archive", {}, 200)]
    for method, path, data, status in calls:
        with sessions() as taken:
            answer = client.request(method, path, data=data or None)
        assert answer.status_code == status, (path, answer.text[:300])
        # Refused before any query (a malformed address): no session at all.
        assert len(taken) <= 1, f"{method} {path} used {len(taken)} sessions"
    assert watch.late == [], "committed after answering"


def test_not_found_is_not_bad_input():
    assert not issubclass(NotFound, InputError), "a missing object is a 404, never the form again with an error"
