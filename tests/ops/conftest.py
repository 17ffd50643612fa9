"""Fixtures for operations tests: a clean Redis database, thresholds set per test, and the
status as the service computes it."""

from __future__ import annotations

import pytest

from tests.conftest import reset_caches


@pytest.fixture
def clean_redis(redis_client):
    redis_client.flushdb()
    yield redis_client
    redis_client.flushdb()


@pytest.fixture
def thresholds(settings, monkeypatch):
    """Set OPS_* settings for this test: thresholds(OPS_QUEUE_WAITING_MAX=2)."""
    def set_thresholds(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reset_caches()
    return set_thresholds


def warnings_of(status: dict, check: str) -> list[str]:
    return [w["subject"] for w in status["warnings"] if w["check"] == check]


def queue(status: dict, name: str) -> dict:
    return next(q for q in status["queues"] if q["queue"] == name)


def task(status: dict, name: str) -> dict | None:
    return next((t for t in status["tasks"] if t["name"] == name), None)

