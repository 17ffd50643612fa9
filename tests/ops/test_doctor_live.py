"""`digest doctor` as an operator runs it: against a set-up made as going live needs (PostgreSQL
migrated, a Redis with noeviction and an append-only file, the SendGrid stand-in with the domain
authenticated and our signed webhook, a DNS server with the domain's records, a real worker and a
real beat) every check says ok and it exits 0; with the processes missing it names them, says how to fix it, and exits 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from digest.ops.records import BEATS_KEY, redis_client
from tests.cli import digest
from tests.conftest import REPO, Worker, reset_caches, wait_for
from tests.dns_server import DNSServerOnLoopback
from tests.live_app import free_port
from tests.ops.test_doctor_settings import STRONG_KEY
from tests.servers import start_redis_server

pytestmark = [pytest.mark.postgresql_only, pytest.mark.slow]

# The records SendGrid's stand-in asks example.org to publish, and the rest a sender needs.
EXAMPLE_ORG = """
example.org. 300 IN TXT "v=spf1 include:sendgrid.net -all"
example.org. 300 IN MX 10 mail.example.org.
_dmarc.example.org. 300 IN TXT "v=DMARC1; p=reject"
em1234.example.org. 300 IN CNAME u1234.wl.sendgrid.net.
s1._domainkey.example.org. 300 IN CNAME s1.domainkey.u1234.wl.sendgrid.net.
s2._domainkey.example.org. 300 IN CNAME s2.domainkey.u1234.wl.sendgrid.net.
"""


@pytest.fixture
def going_live(standin, service_env, monkeypatch, tmp_path):
    """The environment of a set-up ready to go live, with its own Redis (noeviction, AOF) and a
    DNS server holding example.org's records."""
    dns = DNSServerOnLoopback().__enter__()
    dns.zone.set(EXAMPLE_ORG)
    port = free_port()
    redis_server = start_redis_server(port, tmp_path, "--maxmemory-policy", "noeviction", "--appendonly", "yes")
    standin.authenticate_domain("example.org")
    standin.add_event_webhook("https://digest.example.org/webhooks/sendgrid")
    env = dict(service_env, **standin.settings(), REDIS_URL=f"redis://127.0.0.1:{port}/0", SECRET_KEY=STRONG_KEY,
               FORWARDED_ALLOW_IPS="127.0.0.1", DOCTOR_DNS_SERVER=dns.address)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    yield env
    redis_server.terminate()
    redis_server.wait(10)
    dns.__exit__()
    reset_caches()


def test_a_set_up_ready_to_go_live_is_ok_on_every_check(going_live, tmp_path):
    worker = Worker(going_live, tmp_path / "worker.log").start()
    with (tmp_path / "beat.log").open("ab") as log:
        beat = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "beat", "--loglevel", "INFO",
                                 "--schedule", str(tmp_path / "celerybeat-schedule")],
                                cwd=REPO, env=dict(os.environ, **going_live), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for(lambda: redis_client().hlen(BEATS_KEY), timeout=30, what="beat's first tick")
        ran = digest("doctor", "--json")
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=20)
        worker.stop()
    assert redis_client().hlen(BEATS_KEY) == 0, "a beat stopped cleanly is no longer counted"
    checks = json.loads(ran.stdout)["checks"]
    assert [(c["name"], c["state"]) for c in checks if c["state"] != "ok"] == []
    assert ran.returncode == 0
    assert [c["name"] for c in checks] == [
        "secret_key", "public_base_url", "postal_address", "database_kind", "delivery_backend",
        "forwarded_allow_ips", "database_reachable", "database_migrated", "redis_reachable", "redis_eviction",
        "redis_persistence", "broker_visibility", "beat", "queues_consumed", "sendgrid_key", "sendgrid_domain",
        "sendgrid_webhook", "dns_spf", "dns_dkim", "dns_dmarc", "dns_unsubscribe"]


def test_without_worker_or_beat_the_doctor_names_them_with_the_fix_and_exits_1(going_live):
    ran = digest("doctor")
    assert ran.returncode == 1
    assert "error   beat: no beat is ticking" in ran.stdout
    assert "error   queues_consumed: no worker online consumes feeds, editions, delivery, webhooks" in ran.stdout
    assert "fix: start workers for them: `celery -A workers.app worker --queues" in ran.stdout
    assert "19 ok, 0 warnings, 2 errors" in ran.stdout


def test_the_ops_page_ops_status_and_metrics_show_the_doctors_last_run(going_live):
    from fastapi.testclient import TestClient

    from digest.web.app import app
    from tests.ops.test_web import _login

    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        _login(client)
        assert "Never run here" in client.get("/ops").text
        assert "  doctor: never run (digest doctor)" in digest("ops", "status").stdout
        assert "digest_doctor_check_failing{" not in client.get("/metrics").text
        assert digest("doctor").returncode == 1
        page = client.get("/ops").text
        metrics = client.get("/metrics").text
    assert "19 of 21 checks ok" in page
    assert 'data-doctor-check="beat">Error: No beat is ticking' in page
    assert "Fix: Start workers for them: `celery -A workers.app worker --queues" in page
    assert 'digest_doctor_check_failing{check="beat",state="error"} 1.0' in metrics
    assert 'digest_doctor_check_failing{check="queues_consumed",state="error"} 1.0' in metrics
    assert metrics.count("digest_doctor_check_failing{") == 2
    assert "digest_doctor_last_run_timestamp_seconds " in metrics
    assert "  doctor: last run " in digest("ops", "status").stdout
    assert ": not ok: beat, queues_consumed" in digest("ops", "status").stdout
