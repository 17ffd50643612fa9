"""Login under attack, over real HTTP to uvicorn: parallel guesses cannot slip past the lock-out,
a locked account answers as slowly as a wrong password, and one client address is rate-limited
before it can lock an editor out."""

from __future__ import annotations

import re
import statistics
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.accounts import add_editor
from digest.clock import utcnow
from digest.store.db import unit_of_work
from digest.store.models import Editor
from digest.web.app import app
from digest.web.csrf import CSRF_COOKIE
from tests.conftest import reset_caches, wait_for
from tests.live_app import app_in_thread, free_port
from tests.servers import start_redis_server

PASSWORD = "a long and careful password"
EMAIL = "ed@example.org"


@pytest.fixture
def live_app(settings):
    with app_in_thread() as base:
        yield base


@pytest.fixture
def many_attempts_per_ip(monkeypatch, settings):
    """Every request of these tests comes from 127.0.0.1: let that address try often, so that
    what is tested is the account's lock, not the per-IP limit."""
    monkeypatch.setenv("LOGIN_ATTEMPTS_PER_IP", "1000")
    reset_caches()


def _editor() -> int:
    with unit_of_work() as session:
        return add_editor(session, EMAIL, PASSWORD).id


def _csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)


def _account() -> Editor:
    with unit_of_work() as session:
        return session.scalar(select(Editor).where(Editor.email == EMAIL))


def test_parallel_wrong_passwords_all_count_and_the_lock_holds(live_app, many_attempts_per_ip, redis_client,
                                                               monkeypatch):
    _editor()
    wrong = 30  # more than twice LOGIN_MAX_FAILURES (12), all at once
    # Every guess checked as it comes, none turned away as too many at once: what is tested here
    # is the account's lock under parallel guesses (tests/web/test_login_load.py tests the bound).
    monkeypatch.setenv("LOGIN_CONCURRENT_CHECKS", str(wrong + 1))
    reset_caches()
    # Each guess is an argon2 check: on a machine busy with the rest of the suite, 30 at once can
    # take a minute, so the client waits longer than that.
    with httpx.Client(base_url=live_app, follow_redirects=False, timeout=180,
                      limits=httpx.Limits(max_connections=wrong + 5)) as browser:
        form = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        # The cookie is Secure (the public address is https); this test speaks plain http.
        browser.headers["Cookie"] = f"{CSRF_COOKIE}={form.cookies[CSRF_COOKIE]}"
        answers: list[int | str] = []
        start = threading.Barrier(wrong)

        def guess(n: int) -> None:
            start.wait()
            try:
                answer = browser.post("/login", data={"email": EMAIL, "password": f"wrong guess {n:03d}",
                                                      "csrf_token": token})
            except httpx.HTTPError as error:  # named in the assertion below, not lost in a thread
                answers.append(repr(error))
            else:
                answers.append(answer.status_code)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(wrong)]
        for thread in threads:
            thread.start()
        # The right password arrives while most guesses are still being checked.
        wait_for(lambda: (_account().locked_until or utcnow()) > utcnow(), timeout=180, interval=0.01,
                 what="the lock")
        right = browser.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
        for thread in threads:
            thread.join(180)
    assert right.status_code == 401, "locked, even to the right password"
    assert answers == [401] * wrong
    account = _account()
    assert account.locked_until > utcnow()
    assert account.failed_logins == wrong + 1, "every refused attempt is counted, none lost to a race"


def _timed_login(client, token: str, email: str, password: str) -> float:
    started = time.perf_counter()
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert answer.status_code == 401
    return time.perf_counter() - started


def test_a_locked_account_answers_as_slowly_as_an_unknown_address(settings, many_attempts_per_ip):
    _editor()
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        token = _csrf(client)
        for _ in range(settings.LOGIN_MAX_FAILURES):
            _timed_login(client, token, EMAIL, "wrong password!")
        assert _account().locked_until is not None
        unknown, locked = [], []
        for _ in range(7):
            unknown.append(_timed_login(client, token, "nobody@example.org", PASSWORD))
            locked.append(_timed_login(client, token, EMAIL, PASSWORD))
    # The hash check dominates both; a locked account that skipped it answered in a fraction.
    assert statistics.median(locked) > 0.6 * statistics.median(unknown), (locked, unknown)


def test_one_address_is_rate_limited_before_it_can_lock_the_editor_out(settings, redis_client):
    _editor()
    limit = settings.LOGIN_ATTEMPTS_PER_IP
    assert limit * 2 < settings.LOGIN_MAX_FAILURES, "one address can never lock an account alone"
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=("203.0.113.9", 4000)) as attacker:
        token = _csrf(attacker)
        for _ in range(limit):
            answer = attacker.post("/login", data={"email": EMAIL, "password": "wrong password!",
                                                   "csrf_token": token})
            assert answer.status_code == 401
        limited = attacker.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert "too many login attempts" in limited.text.lower()
    assert _account().failed_logins == limit and _account().locked_until is None
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=("198.51.100.7", 4000)) as editor:
        answer = editor.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": _csrf(editor)})
        assert answer.status_code == 303, "the editor, elsewhere, still gets in"


def test_with_redis_down_logins_fall_back_on_the_account_lock(settings, monkeypatch, tmp_path):
    """Fails open: editors must reach the ops page while Redis is down; the lock in the database
    still bounds guessing."""
    port = free_port()
    redis_process = start_redis_server(port, tmp_path)
    try:
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
        reset_caches()
        _editor()
    finally:
        redis_process.terminate()
        redis_process.wait(10)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        token = _csrf(client)
        answer = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
        assert answer.status_code == 303
        for _ in range(settings.LOGIN_MAX_FAILURES):
            client.post("/login", data={"email": EMAIL, "password": "wrong password!", "csrf_token": token})
        locked = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
        assert locked.status_code == 401
    assert _account().locked_until is not None


