"""The ops page, the JSON status, /metrics and the probes over HTTP; operators' actions with
their login, CSRF token, publisher role and audit row."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from digest.accounts import add_editor
from digest.delivery.send import give_up_batch
from digest.ledger.states import reader_counts
from digest.editions.lookup import get_edition
from digest.counters import record_task_run
from digest.ops.queues import queue_keys
from digest.ops.records import record_task, record_worker_heartbeat
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Delivery, EditionStatus, Feed, SendBatch
from digest.web.app import app
from tests.conftest import reset_caches
from tests.factories import sending_edition
from tests.live_app import free_port
from workers.tasks import edition_tick, poll_due_feeds
from tests.web.editor_helpers import login_as

PASSWORD = "a long and careful password"
READERS = ("aida@example.org", "bakhtiyar@example.org", "nino@example.org")


@pytest.fixture
def client(settings, clean_redis):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _login(client, role: str = "publisher") -> str:
    with unit_of_work() as session:
        editor = add_editor(session, f"{role}@example.org", PASSWORD, role)
    login_as(client, editor)
    return editor.email


def _csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ops").text).group(1)


def _status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return get_edition(session, edition_id).status


def _audit() -> list[tuple[str, dict]]:
    with unit_of_work() as session:
        return [(a.action, a.details) for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if a.action.startswith("ops:")]


def test_probes_answer_without_a_login_and_the_rest_needs_one(client):
    assert client.get("/healthz").text == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "database": "ok", "redis": "ok"}
    assert client.get("/metrics").status_code == 200
    assert client.get("/ops").headers["location"] == "/login?next=/ops"
    api = client.get("/api/ops/status")
    assert api.status_code == 401 and "error" in api.json()


def test_readyz_answers_503_while_redis_or_the_database_is_unreachable(client, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    reset_caches()
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["redis"] == "down" and answer.json()["database"] == "ok"
    from digest.ops.status import gather_status

    down = gather_status()
    assert [w["subject"] for w in down["warnings"] if w["check"] == "dependency"] == ["redis"]
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    reset_caches()
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["database"] == "down"


def test_readyz_names_the_dependency_down_and_its_address_only_to_the_log_and_ops(client, monkeypatch, caplog):
    redis_port, database_port = free_port(), free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{redis_port}/0")
    reset_caches()
    _login(client)
    with caplog.at_level(logging.WARNING, logger="digest.web.ops"):
        answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json() == {"ready": False, "database": "ok", "redis": "down"}
    assert str(redis_port) in caplog.text
    assert str(redis_port) in client.get("/ops").text, "the ops page gives operators the details"
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://digest@127.0.0.1:{database_port}/internal_db_name")
    reset_caches()
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json() == {"ready": False, "database": "down", "redis": "down"}
    for detail in ("127.0.0.1", str(redis_port), str(database_port), "internal_db_name"):
        assert detail not in answer.text
    assert str(database_port) in caplog.text


def test_the_ops_page_shows_the_warnings_and_updates_itself_without_reloading(client, feed_server, thresholds):
    thresholds(OPS_QUEUE_WAITING_MAX=0, OPS_PAGE_REFRESH_SECONDS=7, SEND_RATE_PER_HOUR=500)
    _login(client, role="editor")
    edition_id, _ = sending_edition(feed_server, *READERS)
    edition_tick.delay()
    page = client.get("/ops")
    assert page.status_code == 200
    # static/ops.js updates the figures in place (tests/web/test_ops_live.py); no reload.
    assert 'http-equiv="refresh"' not in page.text and 'data-refresh-seconds="7"' in page.text
    assert '<script src="/static/ops.js" defer></script>' in page.text
    assert "1 message waiting on editions (above 0)" in page.text
    assert "No worker online consumes delivery." in page.text and "Beat has never ticked." in page.text
    assert f'data-edition="{edition_id}"' in page.text and "Pending: 3" in page.text
    assert f'action="/ops/editions/{edition_id}/pause"' not in page.text, "actions are for publishers"
    # Only the limits that are set, in words; none of "no/s".
    assert "Rate limit today: 500 an hour;" in " ".join(page.text.split()) and "no/s" not in page.text


def test_metrics_parse_and_match_the_json(client, feed_server):
    _login(client)
    edition_id, _ = sending_edition(feed_server, *READERS)
    with unit_of_work() as session:
        session.execute(update(Feed).values(consecutive_failures=2, last_error="answered 503"))
    for _ in range(2):
        edition_tick.delay()
    poll_due_feeds.apply_async(priority=6)
    record_worker_heartbeat("delivery@ops-test", ["delivery"], active=1, processed=40, pid=1)
    record_task("workers.tasks.send_batch", "succeeded", 0.25)
    record_task("workers.tasks.send_batch", "succeeded", 0.75)
    record_task("workers.tasks.send_batch", "failed", 0.5)
    record_task("workers.tasks.send_batch", "retried", None)
    for outcome, seconds in (("succeeded", 0.25), ("succeeded", 0.75), ("failed", 0.5), ("retried", None)):
        record_task_run("workers.tasks.send_batch", outcome, seconds)

    status = client.get("/api/ops/status").json()
    metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(client.get("/metrics").text) for s in family.samples}

    def metric(name, **labels):
        return metrics[(f"digest_{name}", tuple(sorted(labels.items())))]

    assert status["queues"][0]["queue"] == "feeds" and status["queues"][0]["waiting"] == 1
    for q in status["queues"]:
        assert metric("queue_waiting", queue=q["queue"]) == q["waiting"]
        assert metric("queue_in_flight", queue=q["queue"]) == q["in_flight"]
        assert metric("queue_workers", queue=q["queue"]) == len(q["workers"])
        if q["oldest_age_seconds"] is not None:
            assert abs(metric("queue_oldest_age_seconds", queue=q["queue"]) - q["oldest_age_seconds"]) < 5
    assert metric("queue_workers", queue="delivery") == 1
    assert metric("workers", state="online") == 1 == len(status["workers"])
    [sends] = [t for t in status["tasks"] if t["name"] == "workers.tasks.send_batch"]
    assert (sends["succeeded"], sends["failed"], sends["retried"]) == (2, 1, 1)
    for outcome in ("succeeded", "failed", "retried"):
        assert metric("task_runs_total", task=sends["name"], outcome=outcome) == sends[outcome]
    assert metric("task_duration_seconds_bucket", task=sends["name"], le="0.5") == 2  # le: at or below
    assert metric("task_duration_seconds_bucket", task=sends["name"], le="1.0") == 3
    assert metric("task_duration_seconds_count", task=sends["name"]) == 3
    assert metric("task_duration_seconds_sum", task=sends["name"]) == 1.5
    assert metric("deliveries_sent_total") == 0  # shown before the first send
    [send] = status["sends"]
    assert send["edition_id"] == edition_id and send["deliveries"]["pending"] == 3
    for state, count in send["deliveries"].items():
        assert metric("edition_deliveries", edition=str(edition_id), state=state) == count
    assert metric("edition_status", edition=str(edition_id), status="sending") == 1
    assert metric("edition_progress_ratio", edition=str(edition_id)) == 0
    [feed] = status["feeds"]
    assert metric("feed_consecutive_failures", feed=str(feed["id"])) == feed["consecutive_failures"] == 2
    assert metric("dependency_up", dependency="redis") == 1 and metric("dependency_up", dependency="database") == 1
    by_check = {}
    for warning in status["warnings"]:
        by_check[warning["check"]] = by_check.get(warning["check"], 0) + 1
    assert by_check["queue_unserved"] == 3  # delivery has its worker
    for check, count in by_check.items():
        assert metric("warnings", check=check) == count


def test_pause_resume_and_cancel_need_a_publisher_a_form_token_and_are_audited(client, feed_server, clean_redis):
    edition_id, _ = sending_edition(feed_server, *READERS)
    _login(client, role="editor")
    assert client.post(f"/ops/editions/{edition_id}/pause", data={"csrf_token": _csrf(client)}).status_code == 403
    client.cookies.clear()
    publisher = _login(client)
    assert client.post(f"/ops/editions/{edition_id}/pause").status_code == 400  # no CSRF token
    assert _status(edition_id) == EditionStatus.SENDING and _audit() == []

    assert f'action="/ops/editions/{edition_id}/pause"' in client.get("/ops").text
    token = _csrf(client)
    assert client.post(f"/ops/editions/{edition_id}/pause", data={"csrf_token": token}).status_code == 303
    assert _status(edition_id) == EditionStatus.PAUSED
    paused = client.get("/ops").text  # only what applies to a paused send is offered
    assert f'action="/ops/editions/{edition_id}/resume"' in paused and f'action="/ops/editions/{edition_id}/pause"' not in paused
    assert client.post(f"/ops/editions/{edition_id}/resume", data={"csrf_token": token}).status_code == 303
    assert _status(edition_id) == EditionStatus.SENDING
    assert clean_redis.llen("delivery") == 1, "the pending batch is queued again once resumed"
    assert client.post(f"/ops/editions/{edition_id}/cancel", data={"csrf_token": token}).status_code == 303
    assert _status(edition_id) == EditionStatus.CANCELLED
    again = client.post(f"/ops/editions/{edition_id}/pause", data={"csrf_token": token})
    assert again.status_code == 400 and "only a sending edition can be paused" in again.text
    assert _audit() == [
        ("ops:pause", {"by": publisher, "edition_id": edition_id}),
        ("ops:resume", {"by": publisher, "edition_id": edition_id, "deliveries": 3}),
        ("ops:cancel", {"by": publisher, "edition_id": edition_id, "deliveries": 3}),
    ]
    assert f"Cancel by {publisher} (web:ops)" in client.get("/ops").text


def test_failed_batches_can_be_retried_or_discarded(client, feed_server, clean_redis):
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    publisher = _login(client)
    token = _csrf(client)
    nothing = client.post(f"/ops/editions/{edition_id}/retry-failed", data={"csrf_token": token})
    assert nothing.status_code == 400 and "no failed deliveries" in nothing.text
    with unit_of_work() as session:
        give_up_batch(session, edition_id, batch, "gave up after 8 retries: SendGrid answered 503")
    assert _status(edition_id) == EditionStatus.SENT

    assert client.post(f"/ops/editions/{edition_id}/retry-failed", data={"csrf_token": token}).status_code == 303
    assert _status(edition_id) == EditionStatus.SENDING
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"pending": 3}
    assert clean_redis.llen("delivery") == 1

    with unit_of_work() as session:  # the retried readers went as a batch of their own, which failed too
        [again] = session.scalars(select(SendBatch.id).where(SendBatch.state == "pending"))
        give_up_batch(session, edition_id, again, "gave up after 8 retries: SendGrid answered 503")
    assert client.post(f"/ops/editions/{edition_id}/discard-failed", data={"csrf_token": token}).status_code == 303
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"cancelled": 3}
        errors = set(session.scalars(select(Delivery.error)))
    assert errors == {"discarded by an operator: gave up after 8 retries: SendGrid answered 503"}
    assert _status(edition_id) == EditionStatus.SENT
    assert [a for a, _ in _audit()] == ["ops:retry_failed", "ops:discard_failed"]
    assert all(details["by"] == publisher and details["deliveries"] == 3 for _, details in _audit())


def test_purging_a_queue_needs_its_name_typed_and_is_audited(client, clean_redis):
    publisher = _login(client)
    poll_due_feeds.delay()
    poll_due_feeds.apply_async(priority=9)
    token = _csrf(client)
    wrong = client.post("/ops/queues/feeds/purge", data={"csrf_token": token, "confirm": "editions"})
    assert wrong.status_code == 400 and "type its name (feeds)" in wrong.text
    assert sum(clean_redis.llen(key) for key in queue_keys("feeds")) == 2
    assert client.post("/ops/queues/nowhere/purge", data={"csrf_token": token, "confirm": "nowhere"}).status_code == 400
    assert client.post("/ops/queues/feeds/purge", data={"csrf_token": token, "confirm": "feeds"}).status_code == 303
    assert sum(clean_redis.llen(key) for key in queue_keys("feeds")) == 0
    assert _audit() == [("ops:purge", {"by": publisher, "queue": "feeds", "messages": 2})]
