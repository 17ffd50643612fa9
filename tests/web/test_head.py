"""HEAD, as uptime monitors and link checkers send it, gets what GET would get, without the body:
the same status and headers on every GET route of the app (read from the app itself), for a
reader and for a logged-in editor, the routes with ids on a real sent edition; and reading any of
them writes nothing."""

from __future__ import annotations

import re

import anyio
import pytest
from sqlalchemy import func, select
from fastapi.testclient import TestClient

from digest.delivery.backends import get_sender
from digest.delivery.memory import MemorySender
from digest.store.db import unit_of_work
from digest.clock import utcnow
from digest.store.models import Base, Edition, EditionKind, EditionStatus, Topic, TopicKind
from digest.subscribers.imports import keep_upload
from digest.subscribers.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, alert_unfollow_tokens, make_token
from digest.web.app import app
from tests.factories import approved_edition, polled_feed, send_now, subscribers
from tests.web.editor_helpers import logged_in
from tests.web.routes import app_routes

# Differ from one answer to the next whatever the method: the date, a new CSRF cookie, the
# length of a body that changes (/metrics counts the GET before it).
VOLATILE = {"date", "set-cookie", "content-length"}


def _get_paths(values: dict[str, str]) -> list[str]:
    """Every GET route, its path parameters filled in from `values` (a new one fails here)."""
    paths = []
    for path, methods in app_routes():
        if "GET" in methods:
            paths.append(re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], path))
    return paths


def _headers(answer) -> dict[str, str]:
    return {name: value for name, value in answer.headers.items() if name not in VOLATILE}


def _sent(feed_server, sender) -> dict[str, str]:
    polled_feed(feed_server)
    reader = subscribers("reader@example.org")[0]
    edition_id = approved_edition()
    send_now(edition_id, sender)
    with unit_of_work() as session:  # an import waiting for a worker
        import_id = keep_upload(session, b"email\nnew@example.org\n", what="a test CSV", actor="test")
        topic = Topic(kind=TopicKind.TAG, key="georgia", name="Georgia")  # a "Follow Georgia" link's
        session.add(topic)
        session.flush()
        topic_id = topic.id
        alert = Edition(kind=EditionKind.ALERT, cutoff_at=utcnow(), send_at=utcnow(), status=EditionStatus.DRAFT,
                        subject="New on Georgia", preheader="", intro="", created_at=utcnow(), updated_at=utcnow())
        session.add(alert)  # an alert's "stop these alerts" link
        session.flush()
        alert_id = alert.id
    return {"edition_id": str(edition_id), "subscriber_id": str(reader), "import_id": str(import_id),
            "topic_id": str(topic_id),
            "token": make_token(PREFERENCES, reader), "confirm": make_token(CONFIRM, reader),
            "unsubscribe": make_token(UNSUBSCRIBE, reader), "alert_token": alert_unfollow_tokens(alert_id, [reader])[0]}


@pytest.fixture
def sent(settings, feed_server) -> dict[str, str]:
    return _sent(feed_server, MemorySender())


def _compare(client, paths: list[str]) -> list[str]:
    differences = []
    for path in paths:
        got, head = client.get(path), client.head(path)
        if head.status_code != got.status_code or _headers(head) != _headers(got) or head.content:
            differences.append(f"{path}: GET {got.status_code} HEAD {head.status_code} "
                               f"{set(_headers(got).items()) ^ set(_headers(head).items())} {len(head.content)} bytes")
    return differences


def test_head_answers_as_get_on_every_get_route(sent):
    paths = _get_paths(sent)
    # Each token route gets each kind of token it takes.
    paths += [f"/confirm/{sent['confirm']}", f"/u/{sent['unsubscribe']}"]
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert not _compare(client, paths), "\n".join(_compare(client, paths))
        public = client.head(f"/archive/{sent['edition_id']}")
        assert public.status_code == 200 and public.headers["content-type"].startswith("text/html")
        logged_in(client, "publisher@example.org", "publisher")
        assert not _compare(client, paths), "\n".join(_compare(client, paths))
        assert client.head("/dashboard").status_code == 200


def _asgi(method: str, path: str) -> tuple[int, bytes]:
    """The status and body bytes the app itself sends (an HTTP client drops a HEAD's body, and so
    does uvicorn: this is what any ASGI server would get)."""
    messages, requested = [], []

    async def receive():
        if requested:  # the client stays connected until the answer is complete
            await anyio.sleep_forever()
        requested.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 50000), "server": ("testserver", 443)}
    anyio.run(app, scope, receive, send)
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return messages[0]["status"], body


def test_the_app_sends_no_body_for_head(sent):
    for path in ["/", f"/archive/{sent['edition_id']}", "/archive/feed.atom", "/healthz", "/static/favicon.svg",
                 "/dashboard", "/no/such/page"]:
        got, head = _asgi("GET", path), _asgi("HEAD", path)
        assert head == (got[0], b""), path
        assert got[1] or got[0] == 303, path


def test_head_on_a_route_without_get_is_refused_as_get_is(settings):
    with TestClient(app, base_url="https://testserver") as client:
        head, got = client.head("/webhooks/sendgrid"), client.get("/webhooks/sendgrid")
        assert head.status_code == got.status_code == 405 and head.headers["allow"] == got.headers["allow"]


def _rows(session) -> dict[str, int]:
    return {table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables}


def test_reading_every_page_writes_nothing(standin, feed_server):
    """GET is safe: every route read, as a publisher and as a visitor, leaves every table as it
    was (the edition went to SendGrid whole: its reader is read from the batch's row, never
    written out by a page)."""
    sent = _sent(feed_server, get_sender())
    paths = _get_paths(sent) + [f"/confirm/{sent['confirm']}", f"/u/{sent['unsubscribe']}"]
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        logged_in(client, "publisher@example.org", "publisher")
        with unit_of_work() as session:
            before = _rows(session)
        for path in paths:
            client.get(path)
        client.cookies.clear()
        for path in paths:
            client.get(path)
    with unit_of_work() as session:
        assert _rows(session) == before
