"""Helpers for tests of the editors' pages: accounts, logging in, and forms with their CSRF token."""

from __future__ import annotations

import re

from digest.accounts import add_editor
from digest.checklist.build import edition_checklist
from digest.editions.lookup import get_edition
from digest.store.db import unit_of_work
from digest.store.models import Editor
from digest.web.auth import SESSION_COOKIE, session_value

PASSWORD = "a long enough password"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_as(client, editor: Editor) -> None:
    """Log an HTTP client in as `editor` (a stored Editor row), as the login form would."""
    client.cookies.set(SESSION_COOKIE, session_value(editor))


def make_editor(email: str, role: str) -> Editor:
    with unit_of_work() as session:
        return add_editor(session, email, PASSWORD, role)


def logged_in(client, email: str = "editor@example.org", role: str = "editor"):
    login_as(client, make_editor(email, role))
    return client


def csrf(client, path: str = "/dashboard") -> str:
    """The CSRF token of a page's forms (fetching the page sets the browser's CSRF cookie)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return _TOKEN.search(page.text).group(1)


def post_form(client, path: str, data: dict | None = None, page: str = "/dashboard"):
    return client.post(path, data={"csrf_token": csrf(client, page), **(data or {})})


def run_slow_checks(edition_id: int) -> None:
    """The checklist's links and spam score, run here as workers.tasks.check_edition would, for
    tests of the page rather than of the worker (tests/checklist/test_checklist_worker.py)."""
    with unit_of_work() as session:
        edition_checklist(get_edition(session, edition_id))


_CHECKLIST = re.compile(r'name="checklist" value="([0-9a-f]+)"')


def approve_form(client, edition_id: int) -> dict[str, str]:
    """The approve form as a publisher sends it who read the checklist and ticked its box, once
    its slow checks are done."""
    run_slow_checks(edition_id)
    page = client.get(f"/editions/{edition_id}")
    return {"csrf_token": _TOKEN.search(page.text).group(1), "checklist": _CHECKLIST.search(page.text).group(1),
            "confirm_warnings": "yes"}
