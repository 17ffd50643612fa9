"""Sessions end server-side at logout, and publishers manage editor accounts from a page:
reset a password, revoke an API token, remove an account; every change audited."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.accounts import add_editor, issue_api_token
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Editor
from digest.web.app import app
from digest.web.auth import SESSION_COOKIE
from tests.web.editor_helpers import login_as

PASSWORD = "a long and careful password"


def _client() -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def _add(email: str, role: str = "editor") -> Editor:
    with unit_of_work() as session:
        return add_editor(session, email, PASSWORD, role)


def _csrf(client, path: str = "/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def _log_in(client, email: str, password: str = PASSWORD) -> str:
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": _csrf(client)})
    assert answer.status_code == 303, answer.text
    return answer.cookies[SESSION_COOKIE]


def _with_cookie(value: str) -> TestClient:
    client = _client()
    client.cookies.set(SESSION_COOKIE, value)
    return client


def _audit(action: str) -> list[AuditEntry]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == f"editors:{action}")))


def test_a_session_cookie_stops_working_after_logout(settings):
    _add("ed@example.org")
    with _client() as browser, _client() as laptop:
        cookie = _log_in(browser, "ed@example.org")
        other = _log_in(laptop, "ed@example.org")
        assert browser.get("/dashboard").status_code == 200
        browser.post("/logout", data={"csrf_token": _csrf(browser, "/dashboard")})
    # A copy of the cookie taken before logout (a shared computer, a stolen cookie) is dead,
    # and logging out ends the editor's other sessions too.
    assert _with_cookie(cookie).get("/dashboard").status_code == 303
    assert _with_cookie(other).get("/dashboard").status_code == 303
    with _client() as again:
        _log_in(again, "ed@example.org")
        assert again.get("/dashboard").status_code == 200


@pytest.fixture
def publisher(settings):
    editor = _add("pub@example.org", "publisher")
    with _client() as client:
        login_as(client, editor)
        yield client


def test_only_a_logged_in_publisher_sees_the_editors_page(settings, publisher):
    editor = _add("ed@example.org")
    with _client() as anonymous:
        assert anonymous.get("/editors").status_code == 303
    with _client() as plain:
        login_as(plain, editor)
        assert plain.get("/editors").status_code == 403
        token = _csrf(plain, "/dashboard")
        answer = plain.post(f"/editors/{editor.id}/remove", data={"csrf_token": token})
        assert answer.status_code == 403
    listing = publisher.get("/editors")
    assert listing.status_code == 200 and "ed@example.org" in listing.text and "pub@example.org" in listing.text
    forged = publisher.post(f"/editors/{editor.id}/remove", data={})
    assert forged.status_code == 400, "no CSRF token, no change"
    with unit_of_work() as session:
        assert session.get(Editor, editor.id) is not None


def test_a_publisher_resets_a_password_which_ends_the_editors_sessions(settings, publisher):
    editor = _add("ed@example.org")
    with _client() as browser:
        cookie = _log_in(browser, "ed@example.org")
    short = publisher.post(f"/editors/{editor.id}/password",
                           data={"password": "short", "csrf_token": _csrf(publisher, "/editors")})
    assert short.status_code == 400 and "at least 10 characters" in short.text
    answer = publisher.post(f"/editors/{editor.id}/password",
                            data={"password": "another careful password", "csrf_token": _csrf(publisher, "/editors")})
    assert answer.status_code == 303 and answer.headers["location"] == "/editors?notice=password"
    assert _with_cookie(cookie).get("/dashboard").status_code == 303
    with _client() as browser:
        _log_in(browser, "ed@example.org", "another careful password")
    [entry] = _audit("passwd")
    assert entry.details == {"editor": "ed@example.org", "by": "pub@example.org"} and entry.source.startswith("editor:")
    assert "another careful password" not in publisher.get("/editors").text


def test_a_publisher_revokes_a_token_and_removes_an_editor(settings, publisher):
    editor = _add("ed@example.org")
    with unit_of_work() as session:
        token = issue_api_token(session, "ed@example.org")
    bearer = {"Authorization": f"Bearer {token}"}
    with _client() as api:
        assert api.get("/api/subscribers/export", headers=bearer).status_code == 200
        revoked = publisher.post(f"/editors/{editor.id}/revoke-token", data={"csrf_token": _csrf(publisher, "/editors")})
        assert revoked.status_code == 303
        assert api.get("/api/subscribers/export", headers=bearer).status_code == 401
    with _client() as browser:
        cookie = _log_in(browser, "ed@example.org")
    removed = publisher.post(f"/editors/{editor.id}/remove", data={"csrf_token": _csrf(publisher, "/editors")})
    assert removed.status_code == 303
    assert _with_cookie(cookie).get("/dashboard").status_code == 303
    assert "ed@example.org" not in publisher.get("/editors").text.split("Recent account changes")[0]
    assert [e.details["editor"] for e in _audit("revoke_token") + _audit("remove")] == ["ed@example.org"] * 2


def test_the_last_publisher_cannot_be_removed(settings, publisher):
    with unit_of_work() as session:
        me = session.scalar(select(Editor).where(Editor.email == "pub@example.org"))
    answer = publisher.post(f"/editors/{me.id}/remove", data={"csrf_token": _csrf(publisher, "/editors")})
    assert answer.status_code == 400 and "last publisher" in answer.text
    assert publisher.get("/editors").status_code == 200
    assert publisher.post("/editors/999/remove", data={"csrf_token": _csrf(publisher, "/editors")}).status_code == 404
