"""Flower, Celery's own monitor, against the test broker: a real `celery flower` process reads the
project's real workers and the task events they send, and its HTTP API shows them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.conftest import REPO, Worker, wait_for
from tests.factories import approved_edition, planned, polled_feed, subscribers
from tests.live_app import free_port
from workers.tasks import send_batch

pytestmark = pytest.mark.slow

QUEUES = {"feeds", "editions", "delivery", "webhooks"}


@pytest.fixture
def flower(service_env, tmp_path):
    port = free_port()
    log = tmp_path / "flower.log"
    with log.open("ab") as out:
        # The API answers without a login only when told to: in production Flower stays on
        # 127.0.0.1 and gets --basic-auth (docs/operations.md, "Monitoring with Flower and Prometheus").
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.app", "flower", f"--port={port}", "--address=127.0.0.1"],
            cwd=REPO, env=dict(os.environ, **service_env, FLOWER_UNAUTHENTICATED_API="true"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"flower exited: {log.read_text()[-3000:]}")
        try:
            return api.get("/healthcheck").status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, timeout=60, what="Flower to answer")
    yield api
    api.close()
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


@pytest.fixture
def worker(service_env, tmp_path):
    worker = Worker(service_env, tmp_path / "worker.log").start()
    yield worker
    worker.stop()


def _queues_of(api: httpx.Client, hostname: str) -> set[str]:
    workers = api.get("/api/workers", params={"refresh": "true"}).json()
    return {queue["name"] for queue in (workers.get(hostname) or {}).get("active_queues") or []}


def _tasks_named(api: httpx.Client, name: str) -> dict[str, dict]:
    return {task_id: task for task_id, task in api.get("/api/tasks").json().items() if task["name"] == name}


def test_flower_lists_the_workers_with_their_queues_and_a_send_batch_with_its_state(
        settings, clean_redis, feed_server, flower, worker):
    wait_for(lambda: _queues_of(flower, worker.name) == QUEUES, timeout=30,
             what="Flower to list the worker with its queues")

    polled_feed(feed_server)
    subscribers("aida@example.org", "nino@example.org")
    edition_id = approved_edition()
    [batch] = planned(edition_id)
    sent = send_batch.delay(edition_id, batch)
    missing = send_batch.delay(999, [1])  # no such edition: the task fails

    tasks = wait_for(lambda: (t := _tasks_named(flower, "workers.tasks.send_batch"))
                     and {t.get(sent.id, {}).get("state"), t.get(missing.id, {}).get("state")} == {"SUCCESS", "FAILURE"}
                     and t, timeout=30, what="Flower to see both send_batch tasks finish")
    assert tasks[sent.id]["state"] == "SUCCESS" and tasks[sent.id]["worker"] == worker.name
    assert tasks[sent.id]["result"] == "2" and str(edition_id) in tasks[sent.id]["args"]
    assert tasks[missing.id]["state"] == "FAILURE" and "edition 999 does not exist" in tasks[missing.id]["exception"]
    info = flower.get(f"/api/task/info/{sent.id}").json()
    assert info["state"] == "SUCCESS" and info["routing_key"] == "delivery"
