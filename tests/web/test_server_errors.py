"""An answer the app could not give (a 500) is still one of ours: the security headers every
answer carries, our error page (JSON under /api/), and the traceback in the log. The 500 is a real
one: the database is on a local port nothing listens on."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from digest.web.app import app
from digest.web.headers import DEFAULTS
from tests.conftest import reset_caches
from tests.live_app import free_port


@pytest.fixture
def no_database(settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://digest@127.0.0.1:{free_port()}/digest")
    reset_caches()
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_500_page_carries_every_security_header_and_is_logged(no_database, caplog):
    with caplog.at_level(logging.ERROR, logger="digest.web.app"):
        answer = no_database.get("/archive")
    assert answer.status_code == 500
    for name, value in DEFAULTS.items():
        assert answer.headers.get(name) == value, name
    assert answer.headers["content-type"].startswith("text/html") and "<h1>Something went wrong</h1>" in answer.text
    logged = [record for record in caplog.records if "GET /archive" in record.getMessage()]
    assert logged and logged[0].exc_info, caplog.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_500_under_api_is_json_with_every_security_header(no_database):
    answer = no_database.get("/api/ops/status", headers={"Authorization": "Bearer dgt_anything"})
    assert answer.status_code == 500
    for name, value in DEFAULTS.items():
        assert answer.headers.get(name) == value, name
    assert "error" in answer.json()
