"""A sign-up while Redis is down (its rate limits live there, and the confirmation queue): a clear
page asking to try again, nothing half-written, the outage logged."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from digest.store.db import unit_of_work
from digest.store.models import Subscriber
from digest.web.app import app
from tests.conftest import reset_caches
from tests.live_app import free_port
from tests.servers import start_redis_server


@pytest.fixture
def private_redis(settings, monkeypatch, tmp_path):
    """A redis-server of this test's own, that the test may stop (never the shared one)."""
    port = free_port()
    process = start_redis_server(port, tmp_path)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    reset_caches()
    yield process
    process.terminate()
    process.wait(10)


def _subscribers() -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Subscriber))


def test_the_sign_up_form_asks_to_try_again_while_redis_is_down(private_redis, caplog):
    private_redis.terminate()
    private_redis.wait(10)
    with TestClient(app, follow_redirects=False) as browser, caplog.at_level(logging.ERROR):
        answer = browser.post("/subscribe", data={"email": "leyla@example.org", "name": "Leyla"})
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0
    assert "try again in a few minutes" in answer.text
    assert 'value="leyla@example.org"' in answer.text, "what the reader typed is kept in the form"
    assert _subscribers() == 0, "refused, so nothing is stored half-done"
    assert any("sign-up refused" in record.getMessage() for record in caplog.records)


def test_the_sign_up_api_answers_503_json_while_redis_is_down(private_redis):
    private_redis.terminate()
    private_redis.wait(10)
    with TestClient(app, follow_redirects=False) as client:
        answer = client.post("/api/subscribers/signup", json={"email": "leyla@example.org"})
    assert answer.status_code == 503 and "try again" in answer.json()["error"]
    assert _subscribers() == 0
