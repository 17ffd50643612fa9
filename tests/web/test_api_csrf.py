"""The JSON API under a cross-site request: a page on another site can make a logged-in
editor's browser POST with the session cookie (a text/plain body needs no CORS preflight), so a
cookie-authenticated state change needs the CSRF token; an API token needs none."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from digest.accounts import issue_api_token
from digest.store.db import unit_of_work
from digest.store.models import Subscriber
from digest.web.app import app
from tests.web.editor_helpers import csrf, logged_in

CSV = b"email,name\nplanted@example.org,Planted\n"


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _subscribers() -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Subscriber))


def test_a_cross_site_import_riding_the_session_cookie_is_refused(client):
    logged_in(client, "ed@example.org", "publisher")
    # What a form on evil.example with enctype="text/plain" sends.
    answer = client.post("/api/subscribers/import", content=CSV,
                         headers={"Content-Type": "text/plain", "Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert "X-CSRF-Token" in answer.json()["error"]
    assert _subscribers() == 0


def test_a_wrong_csrf_token_is_refused_too(client):
    logged_in(client, "ed@example.org", "publisher")
    csrf(client)  # the browser has its CSRF cookie; the attacker cannot read the token
    answer = client.post("/api/subscribers/import", content=CSV,
                         headers={"Content-Type": "text/csv", "X-CSRF-Token": "guessed"})
    assert answer.status_code == 403
    assert _subscribers() == 0


def test_our_own_page_with_its_token_may_import(client):
    logged_in(client, "ed@example.org", "publisher")
    answer = client.post("/api/subscribers/import", content=CSV,
                         headers={"Content-Type": "text/csv", "X-CSRF-Token": csrf(client)})
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "queued"  # kept for a worker (tests/subscribers/test_import_worker.py)


def test_a_bearer_token_needs_no_csrf_token(client):
    logged_in(client, "ed@example.org", "publisher")
    with unit_of_work() as session:
        token = issue_api_token(session, "ed@example.org")
    client.cookies.clear()
    answer = client.post("/api/subscribers/import", content=CSV,
                         headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] == "queued"  # kept for a worker (tests/subscribers/test_import_worker.py)
    # Reading needs no token either way: another site cannot read the answer.
    assert client.get("/api/subscribers/export", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_every_state_changing_api_route_refuses_a_cookie_without_the_token(client):
    """Every POST/PUT/PATCH/DELETE under /api/ that an editor's cookie can reach, present and future."""
    from digest.web import api, editor, editor_accounts, editor_feeds, editor_subscribers, ops

    logged_in(client, "ed@example.org", "publisher")
    csrf(client)
    routers = (api, editor, editor_accounts, editor_feeds, editor_subscribers, ops)
    routes = [(route.path, method) for module in routers for route in module.router.routes
              if route.path.startswith("/api/") and route.path != "/api/subscribers/signup"  # public
              for method in route.methods - {"GET", "HEAD", "OPTIONS"}]
    assert len(routes) >= 2
    for path, method in routes:
        url = path.replace("{edition_id}", "1").replace("{action}", "pause")
        answer = client.request(method, url, content=b"x", headers={"Content-Type": "text/plain"})
        assert answer.status_code == 403, (method, path, answer.status_code)
