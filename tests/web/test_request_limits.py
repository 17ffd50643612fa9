"""Oversized request bodies are refused with 413 while they stream, never read whole first:
against `digest serve` over a real socket (chunked, with the server's memory watched), and
against the ASGI app itself (counting how much of the body it pulled)."""

from __future__ import annotations

import asyncio
import os
import select
import socket

import pytest

from digest.store.db import unit_of_work
from digest.web.app import app
from tests.conftest import reset_caches
from tests.live_app import LiveApp
from tests.sendgrid_standin import SendGridStandIn

KB, MB = 1024, 1024 * 1024
LIMITS = {"WEBHOOK_MAX_BYTES": str(1 * MB), "IMPORT_MAX_BYTES": str(1 * MB), "REQUEST_MAX_BYTES": str(64 * KB)}
CHUNK = b"x" * (64 * KB)


@pytest.fixture
def limited(settings, monkeypatch):
    """Small limits, a webhook key (without one the webhook answers 503 before reading) and an
    editor's API token for the import API."""
    from digest.accounts import add_editor, issue_api_token

    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", SendGridStandIn().public_key)
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    with unit_of_work() as session:
        add_editor(session, "ed@example.org", "a long enough password", role="publisher")
    with unit_of_work() as session:
        token = issue_api_token(session, "ed@example.org")
    return token


def _routes(token: str) -> dict[str, dict[str, str]]:
    return {"/webhooks/sendgrid": {"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": "AA==",
                                   "X-Twilio-Email-Event-Webhook-Timestamp": "1"},
            "/api/subscribers/signup": {"Content-Type": "application/json"},
            "/api/subscribers/import": {"Content-Type": "text/csv", "Authorization": f"Bearer {token}"}}


def _stream_chunked(server: LiveApp, path: str, headers: dict[str, str], total: int) -> tuple[int, int, int]:
    """Send up to `total` bytes chunked, stopping as soon as the server answers. Returns the
    status, the bytes sent and the most the server's resident memory grew meanwhile."""
    baseline = peak = server.rss_bytes()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        sent = 0
        frame = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(frame)
                sent += len(CHUNK)
                if sent % (4 * MB) == 0:
                    peak = max(peak, server.rss_bytes())
            else:
                if sent >= total:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: the answer is waiting to be read
        peak = max(peak, server.rss_bytes())
        answer = sock.recv(4096)
    return int(answer.split(b" ", 2)[1]), sent, peak - baseline


@pytest.mark.slow
def test_a_huge_chunked_body_is_refused_while_it_streams(limited, service_env, tmp_path):
    env = dict(service_env, **LIMITS, SENDGRID_WEBHOOK_PUBLIC_KEY=os.environ["SENDGRID_WEBHOOK_PUBLIC_KEY"])
    total = 200 * MB
    with LiveApp(env, tmp_path / "web.log") as server:
        for path, headers in _routes(limited).items():
            status, sent, grew = _stream_chunked(server, path, headers, total)
            assert status == 413, path
            # What was sent before the answer is what the socket buffers hold, not the body.
            assert sent < 32 * MB, (path, sent)
            assert grew < 40 * MB, (path, grew)


def test_a_declared_length_over_the_limit_is_refused_before_reading(limited, service_env, tmp_path):
    env = dict(service_env, **LIMITS, SENDGRID_WEBHOOK_PUBLIC_KEY=os.environ["SENDGRID_WEBHOOK_PUBLIC_KEY"])
    with LiveApp(env, tmp_path / "web.log") as server:
        for path, headers in _routes(limited).items():
            head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {400 * MB}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(head.encode())  # and not one byte of the body
                assert sock.recv(4096).startswith(b"HTTP/1.1 413 "), path


def _pulled_by_the_app(path: str, headers: dict[str, str], total: int) -> tuple[int, int]:
    """Call the ASGI app directly with a chunked body of `total` bytes; returns the status and
    how many bytes the app asked for."""
    pulled = 0
    answers = []

    async def receive():
        nonlocal pulled
        if pulled >= total:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(CHUNK)
        return {"type": "http.request", "body": CHUNK, "more_body": True}

    async def send(message):
        answers.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 40000), "server": ("testserver", 443)}
    asyncio.run(app(scope, receive, send))
    return answers[0]["status"], pulled


@pytest.mark.parametrize("path", ["/webhooks/sendgrid", "/api/subscribers/signup", "/api/subscribers/import"])
def test_the_app_stops_pulling_a_body_at_its_limit(limited, path):
    limit = 64 * KB if path == "/api/subscribers/signup" else 1 * MB
    status, pulled = _pulled_by_the_app(path, _routes(limited)[path], 64 * MB)
    assert status == 413
    assert pulled <= limit + len(CHUNK)


def test_a_body_within_the_limit_still_works(limited):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        answer = client.post("/api/subscribers/import", content=b"email\nreader@example.org\n",
                             headers={"Content-Type": "text/csv", "Authorization": f"Bearer {limited}"})
    assert answer.status_code == 202, answer.text


def test_the_subscribers_page_refuses_an_oversized_upload(limited):
    from fastapi.testclient import TestClient

    from tests.web.editor_helpers import csrf, logged_in

    with TestClient(app, base_url="https://testserver") as client:
        logged_in(client, "other@example.org", "publisher")
        token = csrf(client, "/subscribers")
        big = b"email\n" + b"reader@example.org\n" * (2 * MB // 19)
        answer = client.post("/subscribers/import", data={"csrf_token": token},
                             files={"file": ("big.csv", big, "text/csv")})
    # The browser declares the length, so the answer comes before the upload is read.
    assert answer.status_code == 413 and "larger than this address accepts" in answer.text
