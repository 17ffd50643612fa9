"""What a Prometheus server gets from the service, checked with Prometheus' own promtool: the real
/metrics output, the shipped alert rules with their unit tests (series in, alerts out) and the
scrape configuration; and counters that only ever go up across a real send by a real worker."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from digest.delivery.backends import get_sender
from digest.delivery.events import process_webhook_batch
from digest.editions.lookup import get_edition
from digest.delivery.sendgrid import record_sendgrid_answer
from digest.ops.records import record_beat_tick
from digest.store.db import unit_of_work
from digest.store.models import EditionStatus, WebhookBatch
from digest.web.app import app
from tests.conftest import REPO, Worker, wait_for
from tests.factories import approved_edition, many_subscribers, polled_feed, send_now, sending_edition
from workers.tasks import send_batch

PROMETHEUS = REPO / "deploy" / "prometheus"
READERS = ("aida@example.org", "bakhtiyar@example.org", "nino@example.org")


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: scripts/test installs Debian's prometheus package"
    return subprocess.run([tool, *args], input=stdin, capture_output=True, timeout=60, cwd=PROMETHEUS)


@pytest.fixture
def client(settings, clean_redis):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_real_metrics_output_passes_promtool_check_metrics(client, feed_server):
    sending_edition(feed_server, *READERS)
    record_beat_tick(60)
    record_sendgrid_answer(202)
    client.get("/healthz")
    client.get("/no/such/page")
    text = client.get("/metrics").content
    assert b"digest_http_request_duration_seconds_bucket" in text and b"digest_edition_deliveries{" in text

    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), (
        checked.stdout + checked.stderr).decode()


def test_requests_are_counted_by_route_template_never_by_raw_path(client):
    for path in ("/u/not-a-token", "/u/another", "/scan/a", "/scan/b"):
        client.get(path)
    samples = _samples(client.get("/metrics").text)
    routes = {dict(labels)["route"] for name, labels in samples if name == "digest_http_requests_total"}
    assert "/u/{token}" in routes and "unmatched" in routes
    assert not any(route.startswith(("/u/not", "/u/another", "/scan")) for route in routes)
    unmatched = ("digest_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))
    assert samples[unmatched] == 2


def _apply_webhook(client, standin, events: list[dict]) -> None:
    payload = json.dumps(events) + "\r\n"
    answer = client.post("/webhooks/sendgrid", content=payload.encode(), headers=standin.signed_headers(payload))
    assert answer.status_code == 200, answer.text
    with unit_of_work() as session:
        batch_id = session.scalar(select(WebhookBatch.id).where(WebhookBatch.processed_at.is_(None)))
    with unit_of_work() as session:
        process_webhook_batch(session, batch_id)


def test_provider_events_are_counted_once_by_documented_type(clean_redis, standin, feed_server):
    polled_feed(feed_server)
    many_subscribers(3)
    send_now(approved_edition(), get_sender())
    with TestClient(app, base_url="https://testserver") as client:
        delivered = standin.events("delivered")
        invented = [dict(event, event=f"made-up-{number}", sg_event_id=f"invented-{number}")
                    for number, event in enumerate(delivered)]
        _apply_webhook(client, standin, delivered + standin.events("spamreport")[:1] + invented)
        _apply_webhook(client, standin, delivered)  # SendGrid retried the request: nothing counts twice
        samples = _samples(client.get("/metrics").text)
    counted = {dict(labels)["event"]: value for (name, labels), value in samples.items()
               if name == "digest_provider_events_total"}
    assert counted == {"delivered": 3, "spamreport": 1, "other": 3}


def test_the_alert_rules_pass_promtool_check_rules():
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()


def test_every_alert_fires_in_the_promtool_unit_tests():
    tested = promtool("test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, (tested.stdout + tested.stderr).decode()
    alerts = re.findall(r"^\s*- alert: (\w+)", (PROMETHEUS / "alerts.yml").read_text(), re.M)
    assert len(alerts) == 8
    cases = (PROMETHEUS / "alerts_test.yml").read_text()
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", cases))
    assert firing == set(alerts), "every alert needs a unit test in which it fires"


def test_the_scrape_config_passes_promtool_check_config():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()


def test_the_alerts_use_only_metrics_the_service_exposes(client, feed_server):
    sending_edition(feed_server, *READERS)
    record_beat_tick(60)
    record_sendgrid_answer(202)
    exposed = {family.name for family in text_string_to_metric_families(client.get("/metrics").text)}
    exposed |= {f"{name}_total" for name in exposed}  # the parser names a counter family without _total
    used = set(re.findall(r"\bdigest_[a-z_]+", (PROMETHEUS / "alerts.yml").read_text()))
    assert used and used <= exposed, used - exposed


def _edition_status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return get_edition(session, edition_id).status


def _counter_samples(text: str) -> dict[tuple[str, tuple], float]:
    """Counters, and a histogram's cumulative parts, which must never go down either."""
    kinds = {family.name: family.type for family in text_string_to_metric_families(text)}
    return {key: value for key, value in _samples(text).items()
            if kinds.get(re.sub(r"_(total|bucket|count|sum)$", "", key[0])) in ("counter", "histogram")}


@pytest.mark.slow
def test_counters_only_increase_across_a_real_send(client, feed_server, service_env, tmp_path):
    worker = Worker(service_env, tmp_path / "worker.log").start()
    try:
        send_batch.delay(999, [1])  # no such edition: a failed run to count
        wait_for(lambda: b'outcome="failed"' in client.get("/metrics").content, timeout=30,
                 what="the failed run to be counted")
        edition_id, batches = sending_edition(feed_server, *READERS)
        before = _counter_samples(client.get("/metrics").text)
        for delivery_ids in batches:
            send_batch.delay(edition_id, delivery_ids)
        wait_for(lambda: _edition_status(edition_id) == EditionStatus.SENT, timeout=60, what="the send")
        runs = ("digest_task_runs_total", (("outcome", "succeeded"), ("task", "workers.tasks.send_batch")))
        wait_for(lambda: _counter_samples(client.get("/metrics").text).get(runs, 0) >= len(batches),
                 timeout=30, what="the send task's run to be counted")
        after = _counter_samples(client.get("/metrics").text)
    finally:
        worker.stop()

    assert set(before) <= set(after), "a series went missing"
    went_down = {key: (before[key], after[key]) for key in before if after[key] < before[key]}
    assert not went_down
    assert after[("digest_deliveries_sent_total", ())] - before[("digest_deliveries_sent_total", ())] == 3
    assert after[runs] - before.get(runs, 0) == len(batches)
    duration = ("digest_task_duration_seconds_count", (("task", "workers.tasks.send_batch"),))
    assert after[duration] - before[duration] == len(batches)
    failed = ("digest_task_runs_total", (("outcome", "failed"), ("task", "workers.tasks.send_batch")))
    assert before[failed] == after[failed] == 1
