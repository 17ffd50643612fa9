"""Editor logins: sessions, CSRF, lock-out, roles and API tokens."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.accounts import add_editor, issue_api_token
from digest.store.db import unit_of_work
from digest.store.models import Editor
from digest.web.app import app
from digest.web.auth import SESSION_COOKIE
from tests.conftest import reset_caches
from tests.factories import draft_edition, polled_feed
from tests.web.editor_helpers import login_as

PASSWORD = "a long and careful password"


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _editor(email: str = "ed@example.org", role: str = "editor") -> Editor:
    with unit_of_work() as session:
        return add_editor(session, email, PASSWORD, role)


def _csrf(client, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def test_pages_need_a_login_and_come_back_after_it(client, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    _editor()
    answer = client.get(f"/editions/{edition_id}/preview?format=text")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next=/editions/{edition_id}/preview%3Fformat%3Dtext"
    logged_in = client.post("/login", data={"email": "ED@example.org", "password": PASSWORD,
                                            "csrf_token": _csrf(client), "next": f"/editions/{edition_id}/preview"})
    assert logged_in.status_code == 303 and logged_in.headers["location"] == f"/editions/{edition_id}/preview"
    cookie = logged_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie  # https base URL
    assert client.get(f"/editions/{edition_id}/preview").status_code == 200
    client.post("/logout", data={"csrf_token": _csrf(client)})
    assert client.get(f"/editions/{edition_id}/preview").status_code == 303


@pytest.mark.parametrize("cookie", ["2147483648.{now}.nonce.signature", "1.{huge}.nonce.signature"])
def test_a_forged_session_cookie_with_huge_numbers_is_no_login(client, cookie):
    """An editor id of 2^31 made PostgreSQL raise "integer out of range", an issue time of 400
    digits made the float arithmetic overflow: a 500 for every page, before any signature check."""
    import time

    client.cookies.set(SESSION_COOKIE, cookie.format(now=int(time.time()), huge="9" * 400))
    answer = client.get("/dashboard")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_a_form_without_its_csrf_token_is_refused(client):
    _editor()
    assert client.post("/login", data={"email": "ed@example.org", "password": PASSWORD}).status_code == 400
    other = TestClient(app, base_url="https://testserver", follow_redirects=False)
    token = _csrf(other)  # a token from another browser
    answer = client.post("/login", data={"email": "ed@example.org", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 400 and SESSION_COOKIE not in answer.headers.get("set-cookie", "")


def test_repeated_failures_lock_the_account(client, settings, monkeypatch):
    monkeypatch.setenv("LOGIN_ATTEMPTS_PER_IP", "100")  # the account's lock, not the address's limit
    reset_caches()
    _editor()
    for _ in range(settings.LOGIN_MAX_FAILURES):
        wrong = client.post("/login", data={"email": "ed@example.org", "password": "wrong password!",
                                            "csrf_token": _csrf(client)})
        assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    right = client.post("/login", data={"email": "ed@example.org", "password": PASSWORD, "csrf_token": _csrf(client)})
    assert right.status_code == 401, "locked, even to the right password"
    with unit_of_work() as session:
        assert session.scalar(select(Editor.locked_until)) is not None
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": PASSWORD,
                                          "csrf_token": _csrf(client)})
    assert unknown.text.count("Wrong email or password.") == 1  # the same answer for an unknown address


def test_an_offsite_next_is_ignored(client):
    _editor()
    answer = client.post("/login", data={"email": "ed@example.org", "password": PASSWORD,
                                         "csrf_token": _csrf(client), "next": "//evil.example/"})
    assert answer.headers["location"] == "/dashboard"


def test_a_changed_password_ends_sessions(client, feed_server):
    from digest.accounts import _hasher

    polled_feed(feed_server)
    edition_id = draft_edition()
    editor = _editor()
    login_as(client, editor)
    assert client.get(f"/editions/{edition_id}/preview").status_code == 200
    with unit_of_work() as session:
        session.get(Editor, editor.id).password_hash = _hasher.hash("a different password")
    assert client.get(f"/editions/{edition_id}/preview").status_code == 303


def test_api_tokens_authenticate_and_bad_ones_get_401(client, feed_server):
    polled_feed(feed_server)
    edition_id = draft_edition()
    _editor()
    with unit_of_work() as session:
        token = issue_api_token(session, "ed@example.org")
    ok = client.get(f"/editions/{edition_id}/preview", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    bad = client.get(f"/editions/{edition_id}/preview", headers={"Authorization": "Bearer dgt_forged"})
    assert bad.status_code == 303  # a page: to the login form
