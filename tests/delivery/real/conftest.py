"""Fixtures of the sends through real worker processes: a SendGrid stand-in and a worker per
test module, the environment that points at both, and the web app served for the stand-in's
events. Helpers the tests share are in support.py."""

from __future__ import annotations

import threading

import pytest
import uvicorn

from tests.conftest import Worker, reset_caches, wait_for
from tests.delivery.real.support import FAST_RECOVERY
from tests.live_app import free_port
from tests.sendgrid_standin import SendGridStandIn


@pytest.fixture(scope="module")
def standin():
    with SendGridStandIn() as server:
        yield server


@pytest.fixture(scope="module")
def sendgrid_env(service_env, standin) -> dict[str, str]:
    return dict(service_env, DELIVERY_BACKEND="sendgrid", SENDGRID_API_KEY=standin.api_key,
                SENDGRID_API_HOST=standin.url, SENDGRID_WEBHOOK_PUBLIC_KEY=standin.public_key, **FAST_RECOVERY)


@pytest.fixture(scope="module")
def worker(sendgrid_env, redis_client, tmp_path_factory):
    redis_client.flushdb()
    worker = Worker(sendgrid_env, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield worker
    worker.stop()


@pytest.fixture
def env(settings, sendgrid_env, standin, monkeypatch):
    for name, value in sendgrid_env.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    standin.requests.clear()
    standin.delivered.clear()
    standin.accepted.clear()
    standin.fail_next.clear()
    standin.received.clear()
    standin.latency = 0.0
    yield sendgrid_env


@pytest.fixture
def webhook_url(env):
    """The web app served for real, so the stand-in can post events to it."""
    from digest.web.app import app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="the web app to start")
    yield f"http://127.0.0.1:{port}/webhooks/sendgrid"
    server.should_exit = True
    thread.join(timeout=10)
