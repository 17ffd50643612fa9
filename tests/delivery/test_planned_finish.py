"""Before approval the edition page says how many readers an edition goes to and, under the
sending limits (flat, or the day's caps of an IP warm-up plan), when the send would finish."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from digest.accounts import add_editor
from digest.store.db import unit_of_work
from digest.store.models import Edition
from digest.templating import _local_time
from digest.web.app import app
from tests.conftest import reset_caches
from tests.factories import draft_edition, many_subscribers, polled_feed
from tests.web.editor_helpers import login_as


@pytest.fixture
def client(settings, redis_client):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        with unit_of_work() as session:
            login_as(client, add_editor(session, "publisher@example.org", "a long and careful password",
                                        "publisher"))
        yield client


def _expected(html: str) -> str:
    return re.sub(r"\s+", " ", re.search(r'id="expected-finish">(.*?)</p>', html, re.S).group(1)).strip()


def test_the_draft_page_shows_when_a_warm_up_send_would_finish(client, feed_server, monkeypatch, settings):
    polled_feed(feed_server)
    many_subscribers(2500)
    edition_id = draft_edition()
    unlimited = _expected(client.get(f"/editions/{edition_id}").text)
    assert unlimited.startswith("2500 readers.") and "No sending limit is set" in unlimited

    # Noon (UTC) two days ahead: the first day's hourly cap leaves the first batch well inside that
    # day, whatever the time the test runs (from 22:00 UTC on it would spill past midnight).
    send_at = dt.datetime.combine(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2), dt.time(12), dt.UTC)
    with unit_of_work() as session:
        session.get(Edition, edition_id).send_at = send_at
    monkeypatch.setenv("SEND_WARMUP_START", send_at.date().isoformat())
    monkeypatch.setenv("SEND_WARMUP_PLAN", '[{"daily": 1000, "hourly": 500}, {"daily": 5000}]')
    monkeypatch.setenv("SEND_RATE_PER_HOUR", "2000")
    reset_caches()
    planned = _expected(client.get(f"/editions/{edition_id}").text)
    # Day 1 of the plan takes one batch; day 2 the other two, half an hour apart.
    day_two = dt.datetime.combine(send_at.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    finish = _local_time(day_two + dt.timedelta(minutes=30), settings.tz)
    assert f"expected to finish by <strong>{finish}</strong>" in planned, planned
