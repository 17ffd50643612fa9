"""LOG_FORMAT=json: a real worker, beat and `digest serve` write nothing but JSON objects, one per
line, with level, logger, message and the ids in play; plain text stays the default."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from digest.feeds.registry import add_feed
from digest.ops.records import BEAT_KEY
from digest.store.db import unit_of_work
from digest.store.models import Edition, EditionStatus
from tests.conftest import REPO, Worker, wait_for
from tests.factories import sending_edition
from tests.live_app import LiveApp
from workers.tasks import poll_feed, send_batch

pytestmark = pytest.mark.slow

READERS = ("aida@example.org", "bakhtiyar@example.org")


def json_lines(text: str) -> list[dict]:
    """Every line of the log as JSON; a line that is not fails the test, named."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"line {number} of the log is not JSON: {line!r}")
        assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry), line
        entries.append(entry)
    return entries


def _edition_sent(edition_id: int) -> bool:
    with unit_of_work() as session:
        return session.get(Edition, edition_id).status == EditionStatus.SENT


def test_a_worker_logs_one_json_object_per_line_with_the_ids_in_play(settings, clean_redis, service_env,
                                                                    feed_server, tmp_path):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    with unit_of_work() as session:
        broken_feed = add_feed(session, "http://127.0.0.1:1/feed.xml", None).id  # nothing listens there
    log = tmp_path / "worker.log"
    worker = Worker(dict(service_env, LOG_FORMAT="json"), log).start()
    try:
        result = send_batch.delay(edition_id, batch)
        poll_feed.delay(broken_feed)
        wait_for(lambda: _edition_sent(edition_id), timeout=30, what="the send")
        wait_for(lambda: f"feed {broken_feed} failed" in log.read_text(), timeout=30, what="the failed poll")
        # One line carries both: the id appears twice in it (message and task_id), so the line, not
        # the text after the id, is what is looked at; the poll's own success line may come first.
        wait_for(lambda: any(result.id in line and "succeeded in" in line and line.endswith("}")
                             for line in log.read_text().splitlines()),
                 timeout=10, what="the send's success line")
        # Parsed while the worker runs: on SIGTERM Celery prints "worker: Warm shutdown" to stdout
        # itself, outside logging (docs/operations.md, "Monitoring with Flower and Prometheus").
        entries = json_lines(log.read_text())
    finally:
        worker.stop()

    assert any(e["message"].endswith("ready.") for e in entries), "the worker's own start-up lines are JSON too"
    send_lines = [e for e in entries if e.get("task_id") == result.id]
    assert send_lines and all(e["task"] == "workers.tasks.send_batch" for e in send_lines)
    assert any("received" in e["message"] for e in send_lines), "the main process's line carries the id"
    [done] = [e for e in send_lines if "succeeded in" in e["message"]]
    assert done["edition"] == edition_id and done["batch"] == batch and done["level"] == "info"
    [failed] = [e for e in entries if e["message"].startswith(f"feed {broken_feed} failed")]
    assert failed["feed"] == broken_feed and failed["level"] == "warning"
    assert failed["logger"] == "workers.tasks" and failed["task"] == "workers.tasks.poll_feed"


def test_beat_logs_json(settings, clean_redis, service_env, tmp_path):
    log = tmp_path / "beat.log"
    with log.open("ab") as out:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "--quiet", "-A", "workers.app", "beat", "--loglevel", "INFO",
             "--schedule", str(tmp_path / "celerybeat-schedule")],
            cwd=REPO, env=dict(os.environ, **service_env, LOG_FORMAT="json"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: clean_redis.get(BEAT_KEY), timeout=30, what="beat's first tick")
        entries = json_lines(log.read_text())
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=20)
    assert any(e["logger"] == "celery.beat" and e["message"] == "beat: Starting..." for e in entries)


def test_the_web_app_logs_json_and_plain_stays_the_default(settings, service_env, tmp_path):
    with LiveApp(dict(service_env, LOG_FORMAT="json"), tmp_path / "web.log") as app:
        assert httpx.get(app.url + "/no/such/page").status_code == 404
    entries = json_lines((tmp_path / "web.log").read_text())
    assert any(e["logger"] == "uvicorn.access" and "/no/such/page" in e["message"] for e in entries)
    assert any(e["logger"] == "uvicorn.error" and "Uvicorn running" in e["message"] for e in entries)

    with LiveApp(service_env, tmp_path / "plain.log") as app:
        httpx.get(app.url + "/healthz")
    plain = (tmp_path / "plain.log").read_text()
    assert "GET /healthz" in plain and not plain.lstrip().startswith("{")


def test_an_unknown_log_format_is_refused_by_name(service_env):
    answer = subprocess.run([sys.executable, "-m", "digest", "serve"], capture_output=True, text=True,
                            timeout=60, cwd=REPO, env=dict(os.environ, **service_env, LOG_FORMAT="xml"))
    assert answer.returncode != 0 and "LOG_FORMAT" in answer.stderr + answer.stdout
