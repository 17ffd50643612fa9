"""Webhook batches answered 200 are applied even when their queue message is lost: Redis
restarted after the batch was queued, or down when it arrived. A real `digest serve`, worker
and beat on a private redis-server this test starts, stops and restarts."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import func, select

from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.store.models import DeliveryEvent, Subscriber, SubscriberStatus, WebhookBatch
from tests.conftest import REPO, Worker, wait_for
from tests.factories import approved_edition, many_subscribers, polled_feed, send_now
from tests.live_app import LiveApp, free_port
from tests.servers import start_redis_server

pytestmark = pytest.mark.slow


def _post(app: LiveApp, standin, events: list[dict]) -> httpx.Response:
    import json

    payload = json.dumps(events) + "\r\n"
    return httpx.post(app.url + "/webhooks/sendgrid", content=payload.encode(),
                      headers=standin.signed_headers(payload), timeout=60)


def _unprocessed() -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(WebhookBatch).where(WebhookBatch.processed_at.is_(None)))


def test_batches_whose_queue_message_was_lost_are_applied_by_beats_sweep(standin, feed_server, tmp_path):
    from digest.delivery.backends import get_sender

    polled_feed(feed_server)
    many_subscribers(2)
    edition_id = approved_edition()
    send_now(edition_id, get_sender())
    [first, second] = standin.events("delivered")
    spam = standin.events("spamreport")[1]

    port = free_port()
    redis_process = start_redis_server(port, tmp_path)
    env = {name: os.environ[name] for name in ("DATABASE_URL", "DELIVERY_BACKEND", "SENDGRID_API_KEY",
                                               "SENDGRID_API_HOST", "SENDGRID_WEBHOOK_PUBLIC_KEY", "OUTBOX_DIR")}
    env.update(REDIS_URL=f"redis://127.0.0.1:{port}/0", WEBHOOK_SWEEP_AFTER_SECONDS="1")
    worker = beat = None
    try:
        with LiveApp(env, tmp_path / "web.log") as app:
            # Queued while no worker listens; then Redis restarts without persistence.
            assert _post(app, standin, [first]).status_code == 200
            redis_process.terminate()
            redis_process.wait(timeout=10)
            # Redis is down: the batch is stored, so SendGrid must hear 200 (not retry into a 500).
            answer = _post(app, standin, [second, spam])
            assert answer.status_code == 200, answer.text
            assert "not queued" in (tmp_path / "web.log").read_text()
        redis_process = start_redis_server(port, tmp_path)
        assert _unprocessed() == 2
        worker = Worker(env, tmp_path / "worker.log").start()
        beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO",
                                 "--schedule", str(tmp_path / "beat-schedule")],
                                cwd=REPO, env=dict(os.environ, **env), stdout=(tmp_path / "beat.log").open("wb"),
                                stderr=subprocess.STDOUT)
        wait_for(lambda: _unprocessed() == 0, timeout=60, what="beat's sweep to apply the lost batches")
        with unit_of_work() as session:
            assert reader_counts(session, edition_id) == {"delivered": 2}
            assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 3
            status = session.scalar(select(Subscriber.status).where(Subscriber.email == spam["email"]))
        assert status == SubscriberStatus.UNSUBSCRIBED
        assert "whose queue message was lost" in (tmp_path / "worker.log").read_text()
    finally:
        if beat is not None:
            beat.terminate()
            beat.wait(timeout=20)
        if worker is not None:
            worker.stop()
        redis_process.terminate()
        redis_process.wait(timeout=10)
