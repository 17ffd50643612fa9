"""Fixtures of the sends through real worker processes: a SendGrid stand-in and a worker per
test module, the environment that points at both, and the web app served for the stand-in's
events. Helpers the tests share are in support.py."""

from __future__ import annotations

import pytest

from tests.conftest import Worker, reset_caches, standin_fixture
from tests.delivery.real.support import FAST_RECOVERY
from tests.live_app import app_in_thread

standin = standin_fixture("module")


@pytest.fixture(scope="module")
def sendgrid_env(service_env, standin) -> dict[str, str]:
    return dict(service_env, **standin.settings(), **FAST_RECOVERY)


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
    standin.reset()
    yield sendgrid_env


@pytest.fixture
def webhook_url(env):
    """The web app served for real, so the stand-in can post events to it."""
    with app_in_thread() as base:
        yield f"{base}/webhooks/sendgrid"
