"""Waiting is not failing: sends held back by our own rate limit (flat, or an IP warm-up over
hours on a scaled clock) through real worker processes, Redis and the SendGrid stand-in."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time

import pytest

from digest.delivery.ratelimit import SCHEDULE_KEY, SLOT_KEY
from digest.ledger.states import reader_counts
from digest.delivery.sendrate import Limits, expected_finish
from digest.store.db import unit_of_work
from digest.store.models import Edition, EditionStatus
from tests.conftest import Worker, reset_caches, standin_fixture, wait_for
from tests.delivery.real.support import approved_for
from tests.scaled_clock import BOOT, ORIGIN_ENV, SCALE_ENV, scaled_now
from workers.app import app
from workers.tasks import start_edition

pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]


standin = standin_fixture("module")


@pytest.fixture
def sending_env(settings, service_env, standin, redis_client, monkeypatch):
    redis_client.delete(SCHEDULE_KEY, *redis_client.keys(f"{SLOT_KEY}*"))
    env = dict(service_env, **standin.settings(), SEND_RETRY_BASE_SECONDS="0.2")
    standin.reset()

    def apply(**extra: str) -> dict[str, str]:
        env.update(extra)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_caches()
        return env
    return apply


def _edition_row(edition_id: int) -> Edition:
    with unit_of_work() as session:
        edition = session.get(Edition, edition_id)
        session.expunge(edition)
        return edition


def test_5000_readers_at_400_a_second_all_go_once_with_one_retry_allowed(sending_env, feed_server, standin,
                                                                         tmp_path):
    env = sending_env(SEND_RATE_PER_SECOND="400", SEND_MAX_RETRIES="1")
    worker = Worker(env, tmp_path / "worker.log", concurrency=2).start()
    try:
        edition_id, emails = approved_for(5000, feed_server)
        start_edition.delay(edition_id)
        wait_for(lambda: _edition_row(edition_id).status == EditionStatus.SENT, timeout=120,
                 what="the edition to be sent")
    finally:
        worker.stop()
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 5000}
    assert standin.delivered == {email: 1 for email in emails}
    # 5 batches of 1000 at 400/s: slots 2.5 s apart, the last one 10 s after the first.
    edition = _edition_row(edition_id)
    assert (edition.sent_at - edition.started_at).total_seconds() >= 9.5


SCALE = 600.0  # one hour in six seconds
VISIBILITY = 4  # seconds of wall time; a waiting batch is never held in Redis longer than half


def _scheduled_etas(longest: list[float], stop: threading.Event) -> None:
    """The longest countdown any worker holds, checked over and over while the send runs."""
    while not stop.is_set():
        for tasks in (app.control.inspect(timeout=0.5).scheduled() or {}).values():
            for task in tasks:
                eta = dt.datetime.fromisoformat(task["eta"])
                longest.append((eta - dt.datetime.now(dt.UTC)).total_seconds())
        time.sleep(0.2)


def test_a_warm_up_of_2000_an_hour_sends_10000_readers_in_five_hours_without_failing(
        sending_env, feed_server, standin, tmp_path):
    origin = time.time()
    env = sending_env(SEND_RATE_PER_HOUR="2000", SEND_MAX_RETRIES="0",
                      BROKER_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY),
                      **{ORIGIN_ENV: repr(origin), SCALE_ENV: repr(SCALE)})
    worker = Worker(env, tmp_path / "worker.log", concurrency=2,
                    celery=(sys.executable, "-c", BOOT)).start()
    longest: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_scheduled_etas, args=(longest, stop), daemon=True)
    try:
        edition_id, emails = approved_for(10000, feed_server)
        start_edition.delay(edition_id)
        watcher.start()
        wait_for(lambda: _edition_row(edition_id).status == EditionStatus.SENT, timeout=90,
                 what="the warm-up send to finish")
    finally:
        stop.set()
        worker.stop()
    watcher.join(timeout=5)
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 10000}
    assert standin.delivered == {email: 1 for email in emails}
    edition = _edition_row(edition_id)
    hours = (edition.sent_at - edition.started_at).total_seconds() / 3600
    # Ten batches of 1000, one every half hour: the last goes 4.5 hours after the first.
    planned = expected_finish(10000, edition.started_at, 1000, lambda day: Limits(per_hour=2000))
    assert (planned - edition.started_at) == dt.timedelta(hours=4.5)
    assert 4.4 <= hours <= 4.9, hours
    assert len(standin.requests) == 10
    assert longest, "no waiting batch was ever seen held by a worker"
    assert max(longest) <= VISIBILITY / 2 + 0.5, max(longest)
    assert scaled_now(origin, SCALE) > edition.sent_at


def test_429s_are_waited_out_without_spending_a_retry(sending_env, feed_server, standin, tmp_path):
    env = sending_env(SEND_MAX_RETRIES="0")
    standin.fail_next.extend([429, 429, 429, 429])
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        edition_id, emails = approved_for(1500, feed_server)
        start_edition.delay(edition_id)
        wait_for(lambda: _edition_row(edition_id).status == EditionStatus.SENT, timeout=60,
                 what="the edition to be sent")
    finally:
        worker.stop()
        standin.fail_next.clear()
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 1500}
    assert standin.delivered == {email: 1 for email in emails}
