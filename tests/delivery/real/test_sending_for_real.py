"""Sends through real worker processes, real Redis and the SendGrid stand-in, with faults:
a worker killed mid-request, a 429 storm and 503s, Redis restarted mid-send."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from digest.delivery.control import resend_unknown
from digest.delivery.reconcile import mark_stuck_unknown
from digest.delivery.plan import open_edition, release_edition, unplanned_slices
from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.store.models import EditionStatus, PlanSlice, SendBatch, WebhookBatch
from tests.conftest import REPO, Worker, reset_caches, wait_for, wait_until_drained
from tests.delivery.real.support import approved_for, edition_status
from tests.live_app import free_port
from tests.sendgrid_standin import DROP
from tests.servers import start_redis_server
from workers.tasks import enqueue_batches, start_edition, start_planning

pytestmark = pytest.mark.slow


def test_2500_readers_take_three_requests_and_one_message_each(env, worker, feed_server, standin):
    edition_id, emails = approved_for(2500, feed_server)
    start_edition.delay(edition_id)
    wait_for(lambda: edition_status(edition_id) == EditionStatus.SENT, what="the edition to be sent")
    assert len(standin.requests) == 3
    assert sorted(len(r["personalizations"]) for r in standin.requests) == [500, 1000, 1000]
    assert standin.delivered == {email: 1 for email in emails}


def test_slices_are_planned_in_lanes_while_the_first_batches_leave(env, worker, feed_server, standin, monkeypatch):
    monkeypatch.setenv("SEND_PLAN_SLICE_SIZE", "300")
    reset_caches()
    edition_id, emails = approved_for(2500, feed_server)
    with unit_of_work() as session:  # what the start_edition task does, with slices of 300 ids
        release_edition(session, edition_id)
        slices = open_edition(session, edition_id)
        start_planning(session, edition_id, slices)
    assert len(slices) >= 9
    wait_for(lambda: edition_status(edition_id) == EditionStatus.SENT, what="the edition to be sent")
    assert standin.delivered == {email: 1 for email in emails}
    with unit_of_work() as session:
        assert unplanned_slices(session, edition_id) == []
        first_sent = session.scalar(select(func.min(SendBatch.sent_at)).where(SendBatch.edition_id == edition_id))
        last_planned = session.scalar(select(func.max(PlanSlice.planned_at)).where(PlanSlice.edition_id == edition_id))
    # The queue alternates planning and sending: readers were handed over before the list was planned.
    assert first_sent < last_planned


def test_a_429_storm_and_503s_still_deliver_everything_once(env, worker, feed_server, standin):
    edition_id, emails = approved_for(2500, feed_server)
    standin.fail_next.extend([429, 429, 429, 503, 503, DROP, 500, 429, 503])
    start_edition.delay(edition_id)
    wait_for(lambda: edition_status(edition_id) == EditionStatus.SENT, timeout=90, what="the edition to be sent")
    assert standin.fail_next == []
    assert standin.delivered == {email: 1 for email in emails}
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 2500}


def test_a_worker_killed_mid_request_loses_and_repeats_nothing(env, worker, feed_server, standin, webhook_url):
    edition_id, emails = approved_for(2500, feed_server)
    standin.latency = 3.0  # the first request is in flight for a while
    start_edition.delay(edition_id)
    assert standin.received.wait(30), "no request reached the stand-in"
    worker.kill()
    standin.latency = 0.0
    worker.start()
    # The other batches go out; the killed batch's message comes back and claims nothing.
    wait_for(lambda: len(standin.requests) == 3, timeout=60, what="the remaining batches")
    wait_until_drained()
    time.sleep(3)  # longer than SEND_STUCK_AFTER_SECONDS
    with unit_of_work() as session:
        assert mark_stuck_unknown(session) == 1000
    # SendGrid reports what it accepted, the killed request's readers included.
    assert standin.post_events(webhook_url, standin.events("delivered")).status_code == 200
    wait_for(lambda: edition_status(edition_id) == EditionStatus.SENT, timeout=60,
             what="webhook events to settle the unknown rows")
    with unit_of_work() as session:
        assert resend_unknown(session, edition_id, older_than_minutes=0, by="ops", source="test").batches == []
        assert reader_counts(session, edition_id) == {"delivered": 2500}
        assert session.scalar(select(WebhookBatch.processed_at)) is not None
    assert standin.delivered == {email: 1 for email in emails}


def test_unknown_rows_no_event_settles_are_resent_once(env, worker, feed_server, standin):
    edition_id, emails = approved_for(1200, feed_server)
    standin.fail_next.append(DROP)  # the connection drops: did SendGrid take it? No.
    standin.latency = 0.0
    with unit_of_work() as session:
        from digest.delivery.plan import start_edition as plan

        release_edition(session, edition_id)
    with unit_of_work() as session:
        batches = plan(session, edition_id)
        # Claim the first batch and "die" before sending, as a killed worker would.
        from digest.clock import utcnow
        from digest.delivery.claim import claim_batch

        claim_batch(session, edition_id, batches[0], utcnow())
        enqueue_batches(session, edition_id, batches[1:])
    wait_for(lambda: standin.delivered.total() == 200, timeout=60, what="the second batch")
    time.sleep(3)
    with unit_of_work() as session:
        assert mark_stuck_unknown(session) == 1000
        enqueue_batches(session, edition_id, resend_unknown(session, edition_id, older_than_minutes=0,
                                                            by="ops", source="test").batches)
    wait_for(lambda: edition_status(edition_id) == EditionStatus.SENT, timeout=60, what="the resend")
    assert standin.delivered == {email: 1 for email in emails}


def test_a_redis_restart_mid_send_completes_without_duplicates(env, feed_server, standin, tmp_path):
    # A private Redis of this test's own, never the machine's shared one.
    port = free_port()
    redis_process = start_redis_server(port, tmp_path)
    # Batches of 250: ten of them, in more than one task (BATCHES_PER_SEND_TASK), so that messages
    # still wait in the queue when Redis goes, besides the one the worker is running.
    private = dict(env, REDIS_URL=f"redis://127.0.0.1:{port}/0", SEND_BATCH_SIZE="250")
    worker = Worker(private, tmp_path / "worker.log").start()
    beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO",
                             "--schedule", str(tmp_path / "beat-schedule")],
                            cwd=REPO, env=dict(os.environ, **private), stdout=(tmp_path / "beat.log").open("wb"),
                            stderr=subprocess.STDOUT)
    try:
        edition_id, emails = approved_for(2500, feed_server)
        standin.latency = 1.5
        sent = subprocess.run([sys.executable, "-m", "digest", "editions", "send", str(edition_id)],
                              env=dict(os.environ, **private), capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        assert standin.received.wait(30)
        redis_process.terminate()  # queued batches vanish with it
        redis_process.wait(timeout=10)
        redis_process = start_redis_server(port, tmp_path)
        standin.latency = 0.0
        wait_for(lambda: edition_status(edition_id) == EditionStatus.SENT, timeout=90,
                 what="beat's reconciliation to re-issue the lost batches")
        assert standin.delivered == {email: 1 for email in emails}
        assert "stalled; re-issuing" in (tmp_path / "worker.log").read_text()
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        worker.stop()
        redis_process.terminate()
        redis_process.wait(timeout=10)
