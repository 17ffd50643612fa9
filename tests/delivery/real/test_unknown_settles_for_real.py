"""A worker SIGKILLed mid-send while SendGrid reports `processed` for what it accepted (signed
webhook posts from the stand-in): after a restart every reader has the edition exactly once,
with beat's reconciliation doing the rest and no command typed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from digest.delivery.ratelimit import SCHEDULE_KEY
from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Delivery, Edition, EditionStatus
from tests.conftest import REPO, Worker, reset_caches, wait_for
from tests.factories import approved_edition, many_subscribers, polled_feed
from tests.sendgrid_standin import HOLD, SLOW
from workers.tasks import start_edition

pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]

WINDOW_MINUTES = 0.25  # SEND_UNKNOWN_RESEND_AFTER_MINUTES, short for the test


@pytest.fixture
def env(settings, service_env, standin, redis_client, monkeypatch):
    """This module's own worker and beat: the stand-in (conftest.py's, one per module) reset."""
    redis_client.flushdb()
    standin.reset()
    env = dict(service_env, **standin.settings(), BROKER_VISIBILITY_TIMEOUT_SECONDS="6",
               SEND_STUCK_AFTER_SECONDS="3", SEND_STALL_AFTER_SECONDS="3", SEND_RECONCILE_INTERVAL_SECONDS="1",
               SEND_UNKNOWN_RESEND_AFTER_MINUTES=str(WINDOW_MINUTES))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    yield env
    redis_client.delete(SCHEDULE_KEY)


@pytest.fixture
def beat(env, tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO",
                                "--schedule", str(tmp_path / "beat-schedule")],
                               cwd=REPO, env=dict(os.environ, **env), stdout=(tmp_path / "beat.log").open("wb"),
                               stderr=subprocess.STDOUT)
    yield process
    process.terminate()
    process.wait(timeout=20)


def _status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return session.get(Edition, edition_id).status


def test_a_killed_worker_needs_no_operator_when_sendgrid_reports_what_it_took(
        env, standin, webhook_url, beat, feed_server, tmp_path):
    standin.webhook_url = webhook_url
    polled_feed(feed_server)
    emails = many_subscribers(2500)
    edition_id = approved_edition()
    # Two requests in flight when the worker dies: SendGrid took the first (and will say so),
    # the second never arrived (lost in transit).
    standin.fail_next.extend([SLOW, HOLD])
    worker = Worker(env, tmp_path / "worker.log", concurrency=2).start()
    try:
        start_edition.delay(edition_id)
        wait_for(lambda: standin.arrived >= 2, timeout=30, what="two requests in flight")
        worker.kill()
        worker.start()
        wait_for(lambda: _status(edition_id) == EditionStatus.SENT, timeout=120,
                 what="the edition to settle by itself")
    finally:
        worker.stop()
    assert standin.delivered == {email: 1 for email in emails}
    with unit_of_work() as session:
        counts = reader_counts(session, edition_id)
        resent = session.scalar(select(Delivery.id).where(Delivery.resent_at.is_not(None)).limit(1))
        audit = session.execute(select(AuditEntry.action, AuditEntry.source, AuditEntry.details)).all()
    assert counts == {"accepted": 2500}, counts
    assert resent is not None, "the lost batch was re-sent by reconciliation"
    [(action, source, details)] = audit
    assert (action, source, details["by"], details["deliveries"], details["automatic"]) == (
        "ops:resend_unknown", "beat", "reconciliation", 1000, True)
