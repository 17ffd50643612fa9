"""Logins in a crowd: against `digest serve` over real sockets, twenty logins at once for
addresses nobody has, from four client addresses (each within its own allowance), keep the
server's memory within LOGIN_CONCURRENT_CHECKS password checks (argon2 takes 64 MiB for each),
and every answer is a refusal, never a 500. And IPv6 clients are counted by their /64, as one
home or server is given a whole /64 to pick addresses from."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from digest.accounts import add_editor
from digest.store.db import unit_of_work
from digest.web.app import app
from digest.web.csrf import CSRF_COOKIE
from tests.live_app import LiveApp

MB = 1024 * 1024
CHECKS = 2  # LOGIN_CONCURRENT_CHECKS for the crowd: small, so that a crowd let through shows
CLIENTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
PASSWORD = "a long and careful password"


def _peak_rss(pid: int) -> int:
    """The most resident memory the process has had (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM for the server process")


def _login_form(browser: httpx.Client) -> dict[str, str]:
    form = browser.get("/login")
    # The cookie is Secure (the public address is https); this test speaks plain http.
    browser.headers["Cookie"] = f"{CSRF_COOKIE}={form.cookies[CSRF_COOKIE]}"
    return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)}


@pytest.mark.postgresql_only
def test_twenty_logins_at_once_stay_within_the_password_checks_memory(settings, service_env, tmp_path):
    per_client = settings.LOGIN_ATTEMPTS_PER_IP
    assert per_client * len(CLIENTS) >= 20, "every attempt is within its address's allowance"
    env = dict(service_env, LOGIN_CONCURRENT_CHECKS=str(CHECKS))
    with LiveApp(env, tmp_path / "web.log") as server:
        browsers = [httpx.Client(base_url=server.url, timeout=60, transport=httpx.HTTPTransport(local_address=ip))
                    for ip in CLIENTS]
        forms = [_login_form(browser) for browser in browsers]
        baseline = server.rss_bytes()
        start = threading.Barrier(20)
        answers: list[httpx.Response] = []

        def log_in(n: int) -> None:
            browser, form = browsers[n % len(CLIENTS)], forms[n % len(CLIENTS)]
            start.wait()
            answers.append(browser.post("/login", data={**form, "email": f"nobody{n}@example.org",
                                                        "password": f"guess number {n}"}))

        threads = [threading.Thread(target=log_in, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        peak = _peak_rss(server.process.pid)
        for browser in browsers:
            browser.close()
    statuses = sorted(answer.status_code for answer in answers)
    assert len(statuses) == 20 and set(statuses) <= {401, 429, 503}, statuses
    assert peak - baseline < (CHECKS + 2) * 70 * MB, f"grew {(peak - baseline) // MB} MB, answers {statuses}"
    for busy in (answer for answer in answers if answer.status_code == 503):
        assert "too many logins at once" in busy.text.lower() and int(busy.headers["retry-after"]) > 0


def _attempt(client_address: str, password: str = "wrong password!") -> int:
    with TestClient(app, base_url="https://testserver", follow_redirects=False,
                    client=(client_address, 4000)) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
        return browser.post("/login", data={"email": "ed@example.org", "password": password,
                                            "csrf_token": token}).status_code


def test_addresses_of_one_ipv6_64_share_one_allowance(settings):
    with unit_of_work() as session:
        add_editor(session, "ed@example.org", PASSWORD)
    limit = settings.LOGIN_ATTEMPTS_PER_IP
    answers = [_attempt(f"2001:db8::{n + 1:x}") for n in range(limit)]
    assert answers == [401] * limit
    assert _attempt("2001:db8::ffff:1") == 429, "another address of the same /64"
    assert _attempt("2001:db8:0:1::1") == 401, "the next /64 has its own allowance"
    assert _attempt("2001:db8:0:1::2", PASSWORD) == 303


def test_an_ipv4_mapped_address_is_its_ipv4_address(settings):
    with unit_of_work() as session:
        add_editor(session, "ed@example.org", PASSWORD)
    limit = settings.LOGIN_ATTEMPTS_PER_IP
    answers = [_attempt("::ffff:203.0.113.9" if n % 2 else "203.0.113.9") for n in range(limit)]
    assert answers == [401] * limit
    assert _attempt("::ffff:203.0.113.9") == 429 and _attempt("203.0.113.9") == 429
    assert _attempt("203.0.113.10", PASSWORD) == 303, "IPv4 addresses are counted one by one"
