"""Where the status's figures come from: beat's ticks (a real beat process), SendGrid's last
answer (a local SendGrid stand-in), and the Procfile's workers for every queue."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from digest.delivery.backends import get_sender
from digest.delivery.control import resume_send
from digest.delivery.send import send_batch
from digest.ops.queues import QUEUES
from digest.ops.records import record_beat_tick
from digest.ops.status import gather_status
from digest.store.db import unit_of_work
from tests.conftest import REPO, wait_for
from tests.factories import approved_edition, planned, polled_feed, subscribers
from tests.ops.conftest import warnings_of
from workers.app import app


def test_sendgrids_last_answer_is_kept_and_a_refused_key_warns(standin, feed_server, clean_redis):
    polled_feed(feed_server)
    subscribers("dilnoza@example.org")
    edition_id = approved_edition()
    [batch] = planned(edition_id)
    standin.fail_next = [401]
    with unit_of_work() as session:
        send_batch(session, edition_id, batch, get_sender())
    refused = gather_status()
    assert refused["dependencies"]["sendgrid"]["status"] == 401
    assert warnings_of(refused, "sendgrid_auth") == ["sendgrid"]
    with unit_of_work() as session:
        resume_send(session, edition_id, by="ops@example.org", source="test")
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, get_sender()) == 1
    accepted = gather_status()
    assert accepted["dependencies"]["sendgrid"]["status"] == 202 and not warnings_of(accepted, "sendgrid_auth")


@pytest.mark.slow
def test_beat_records_its_ticks(settings, service_env, clean_redis, tmp_path):
    log = (tmp_path / "beat.log").open("wb")
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO",
                             "--schedule", str(tmp_path / "schedule")], cwd=REPO, env=dict(os.environ, **service_env),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        beat_status = wait_for(lambda: (s := gather_status()["beat"])["last_tick"] and s,
                               timeout=30, what="beat's first tick")
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        log.close()
    assert 0 < beat_status["next_tick_in"] <= 300 and not beat_status["silent"]


def test_beat_is_silent_once_it_misses_its_tick_by_more_than_the_grace(settings, clean_redis, thresholds):
    thresholds(OPS_BEAT_GRACE_SECONDS=30)
    record_beat_tick(60, at=time.time() - 80)
    assert not gather_status()["beat"]["silent"]
    record_beat_tick(60, at=time.time() - 100)
    status = gather_status()
    assert status["beat"]["silent"] and warnings_of(status, "beat_silent") == ["beat"]


def test_every_queue_has_a_procfile_worker_and_sends_have_their_own():
    lines = (REPO / "Procfile").read_text().splitlines()
    consumed = {}
    for line in lines:
        if not line.startswith("#") and " worker " in line:
            name = line.partition(":")[0]
            consumed[name] = set(re.search(r"--queues (\S+)", line).group(1).split(","))
    assert set().union(*consumed.values()) == set(QUEUES)
    assert [queues for queues in consumed.values() if "delivery" in queues] == [{"delivery"}]
    routed = {route["queue"] for route in app.conf.task_routes.values()}
    assert routed == set(QUEUES)
    assert any(line.startswith("# flower: celery -A workers.app flower") for line in lines), "Flower: off by default"


def test_the_same_success_is_recorded_once_a_second_and_any_change_at_once(standin, feed_server, clean_redis,
                                                                           monkeypatch):
    from digest.delivery import sendgrid

    from tests.conftest import reset_caches

    clock = [1000.0]
    monkeypatch.setattr(sendgrid.time, "monotonic", lambda: clock[0])
    monkeypatch.setenv("SEND_BATCH_SIZE", "1")
    reset_caches()
    polled_feed(feed_server)
    subscribers("dilnoza@example.org", "farrukh@example.org", "gulnora@example.org")
    edition_id = approved_edition()
    first, second, third = planned(edition_id)
    sender = get_sender()

    def send(batch: int) -> dict:
        with unit_of_work() as session:
            send_batch(session, edition_id, batch, sender)
        return gather_status()["dependencies"]["sendgrid"]

    recorded_at = send(first)["at"]
    clean_redis.delete(sendgrid.SENDGRID_KEY)
    clock[0] += 0.5
    assert send(second)["status"] is None  # the same 202 within the second: not written again
    clock[0] += 0.5
    assert send(third)["status"] == 202 and recorded_at is not None
