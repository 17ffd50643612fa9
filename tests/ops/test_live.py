"""Operations status against real Redis and real worker processes: queues filling with no worker,
workers coming online and draining them, failures with their tracebacks, workers lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from digest.ops.queues import queue_keys
from digest.ops.records import record_beat_tick
from digest.ops.status import gather_status
from tests.conftest import REPO, Worker, wait_for
from tests.ops.conftest import queue, task, warnings_of
from workers.tasks import edition_tick, poll_due_feeds, send_batch

pytestmark = pytest.mark.slow


def _cli_status(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest", "ops", "status", "--json"], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=dict(os.environ, **env))


@pytest.fixture
def worker(service_env, tmp_path):
    worker = Worker(service_env, tmp_path / "worker.log")
    yield worker
    if worker.process is not None:
        worker.stop()


def test_waiting_messages_age_and_warn_until_a_worker_drains_them(settings, clean_redis, thresholds,
                                                                   service_env, worker):
    thresholds(OPS_QUEUE_WAITING_MAX=2, OPS_QUEUE_OLDEST_MAX_SECONDS=1)
    for _ in range(2):
        edition_tick.delay()
    edition_tick.apply_async(priority=9)  # kombu keeps it on a sub-list of its own
    poll_due_feeds.delay()
    assert clean_redis.llen(queue_keys("editions")[3]) == 1 and clean_redis.llen("editions") == 2

    status = gather_status()
    assert queue(status, "editions")["waiting"] == 3, "the priority sub-queue is counted"
    assert queue(status, "feeds")["waiting"] == 1 and queue(status, "delivery")["waiting"] == 0
    assert warnings_of(status, "queue_waiting") == ["editions"]
    assert set(warnings_of(status, "queue_unserved")) == {"feeds", "editions", "delivery", "webhooks"}
    # Both queues' oldest messages age past the threshold (the feeds one was queued a moment later).
    status = wait_for(lambda: (s := gather_status()) and set(warnings_of(s, "queue_oldest")) == {"editions", "feeds"}
                      and s, timeout=10, what="the oldest messages to age past the threshold")
    assert queue(status, "editions")["oldest_age_seconds"] > 1
    assert queue(status, "delivery")["oldest_age_seconds"] is None

    cli_env = dict(service_env, OPS_QUEUE_WAITING_MAX="2", OPS_QUEUE_OLDEST_MAX_SECONDS="1")
    crossed = _cli_status(cli_env)
    assert crossed.returncode == 1, crossed.stderr
    assert {w["check"] for w in json.loads(crossed.stdout)["warnings"]} >= {"queue_waiting", "queue_oldest"}

    worker.start()
    online = wait_for(lambda: (s := gather_status()) and s["workers"] and s["workers"][0]["state"] == "online"
                      and s, timeout=20, what="the worker's heartbeat")
    [record] = online["workers"]
    assert record["hostname"] == worker.name and record["queues"] == ["delivery", "editions", "feeds", "webhooks"]
    drained = wait_for(lambda: (s := gather_status()) and not any(q["waiting"] or q["in_flight"] for q in s["queues"])
                       and (task(s, "workers.tasks.edition_tick") or {}).get("succeeded") == 3 and s,
                       timeout=30, what="the queues to drain")
    tick = task(drained, "workers.tasks.edition_tick")
    assert tick["failed"] == 0 and tick["runtime_count"] == 3 and 0 < tick["runtime_p50"] <= tick["runtime_max"]
    assert task(drained, "workers.tasks.poll_due_feeds")["succeeded"] == 1
    assert not warnings_of(drained, "queue_unserved") and not warnings_of(drained, "queue_waiting")
    assert all(q["workers"] == [worker.name] for q in drained["queues"])

    record_beat_tick(60)  # what beat's scheduler writes on each tick (workers/beat.py)
    healthy = _cli_status(cli_env)
    assert healthy.returncode == 0, healthy.stdout
    assert json.loads(healthy.stdout)["warnings"] == []


def test_a_failing_task_shows_with_its_traceback_and_raises_the_failure_ratio(settings, clean_redis,
                                                                               thresholds, worker):
    thresholds(OPS_FAILURE_RATIO_MAX=0.5)
    worker.start()
    edition_tick.delay()
    send_batch.delay(999, [1])  # no such edition: the task raises
    # The failure and the task's counts are written apart (the failure first): wait for both.
    status = wait_for(lambda: (s := gather_status()) and s["failures"] and task(s, "workers.tasks.edition_tick")
                      and (task(s, "workers.tasks.send_batch") or {}).get("failed") and s,
                      timeout=30, what="the failure to be recorded")
    [failure] = status["failures"]
    assert failure["task"] == "workers.tasks.send_batch"
    assert failure["exception"] == "NotFound: edition 999 does not exist"
    assert "Traceback (most recent call last)" in failure["traceback"] and "edition_row" in failure["traceback"]
    sends = task(status, "workers.tasks.send_batch")
    assert (sends["succeeded"], sends["failed"], sends["failure_ratio"]) == (0, 1, 1.0)
    assert warnings_of(status, "failure_ratio") == ["workers.tasks.send_batch"]


def test_a_killed_worker_is_shown_lost(settings, clean_redis, thresholds, worker):
    thresholds(OPS_WORKER_LOST_AFTER_SECONDS=3)
    worker.start()
    wait_for(lambda: [w["state"] for w in gather_status()["workers"]] == ["online"], timeout=20,
             what="the worker's heartbeat")
    worker.kill()
    status = wait_for(lambda: (s := gather_status()) and s["workers"][0]["state"] == "lost" and s,
                      timeout=20, what="the worker to be shown lost")
    assert warnings_of(status, "worker_lost") == [worker.name]
    assert set(warnings_of(status, "queue_unserved")) == {"feeds", "editions", "delivery", "webhooks"}


def test_a_worker_stopped_cleanly_is_gone_not_lost(settings, clean_redis, worker):
    worker.start()
    wait_for(lambda: gather_status()["workers"], timeout=20, what="the worker's heartbeat")
    worker.stop()
    status = gather_status()
    assert status["workers"] == [] and not warnings_of(status, "worker_lost")
