"""An id in an address or a form that no row can have (0, negative, past PostgreSQL's integer,
past any integer) names nothing: 404 (JSON under /api/), never a 500 from the database refusing
the number. Every route with an id in its path is tried, read from the app itself, so a route added
later cannot forget it."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from digest.subscribers.tokens import PREFERENCES, make_token
from digest.web.app import app
from tests.factories import draft_edition, polled_feed
from tests.web.editor_helpers import csrf, logged_in
from tests.web.routes import app_routes

OUT_OF_RANGE = ["2147483648", "9223372036854775808", "1" + "0" * 40, "0", "-1"]
ID_PARAM = re.compile(r"\{(\w+_id)\}")
# Values for the path's other parameters, so that only the id is wrong (a reader's link token:
# reader 1's, made when a test asks for it, under that test's SECRET_KEY).
OTHER_PARAMS = {"action": "pause", "token": lambda: make_token(PREFERENCES, 1)}


def _routes_with_ids() -> list[tuple[str, str, str]]:
    """(method, path template, id parameter) for every route of the app with an id in its path."""
    found = []
    for path, methods in app_routes():
        for name in ID_PARAM.findall(path):
            found += [(method, path, name) for method in sorted(methods)]
    return found


def _path(template: str, bad: str, value: str, good: int) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name == bad or name.endswith("_id"):
            return value if name == bad else str(good)
        other = OTHER_PARAMS[name]
        return other() if callable(other) else other
    return re.sub(r"\{(\w+)\}", fill, template)


@pytest.fixture
def client(settings, feed_server):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        logged_in(client, "publisher@example.org", "publisher")
        yield client


def test_every_route_with_an_id_in_its_path_is_found():
    paths = {path for _, path, _ in _routes_with_ids()}
    assert {"/archive/{edition_id}", "/editions/{edition_id}", "/subscribers/{subscriber_id}",
            "/editors/{editor_id}/remove", "/feeds/{feed_id}/poll", "/api/editions/{edition_id}/{action}",
            "/editions/{edition_id}/articles/{article_id}/move"} <= paths


def test_an_id_no_row_can_have_is_not_found_on_every_route(client, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    token = csrf(client)
    failures = []
    for method, template, name in _routes_with_ids():
        for value in OUT_OF_RANGE:
            path = _path(template, name, value, edition_id)
            answer = client.request(method, path, data={"csrf_token": token} if method == "POST" else None,
                                    headers={"X-CSRF-Token": token})
            if answer.status_code != 404:
                failures.append(f"{method} {path}: {answer.status_code}")
            elif path.startswith("/api/"):
                assert "error" in answer.json(), path
    assert not failures, "\n".join(failures)


def test_an_article_id_from_the_form_out_of_range_is_not_found(client, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    for value in OUT_OF_RANGE:
        answer = client.post(f"/editions/{edition_id}/articles/add", data={"csrf_token": csrf(client),
                                                                          "article_id": value})
        assert answer.status_code == 404, (value, answer.status_code)
        assert f"article {value} does not exist" in answer.text.lower()
    answer = client.post(f"/editions/{edition_id}/articles/add", data={"csrf_token": csrf(client), "article_id": "x1"})
    assert answer.status_code == 400 and "article &#39;x1&#39; is not a number" in answer.text.lower()


def test_a_session_cookie_naming_an_id_out_of_range_is_no_login(client):
    client.cookies.set("digest_session", "2147483648.1.nonce.signature")
    answer = client.get("/dashboard")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
