"""Test fixtures on real services: SQLite and PostgreSQL, the machine's Redis, Celery worker
processes, and local HTTP servers. Every database test runs once per database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest


def _redis_url_of_this_process(url: str) -> str:
    """The Redis database of this test process: TEST_REDIS_URL's own, or under pytest-xdist the
    n-th after it for worker gwN. Each database holds its own Celery queues, and kombu prefixes
    broadcasts and events with the database number, so the worker processes one test process
    starts never take another's tasks or answer its inspections."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    if database > 15:
        sys.exit(f"TEST_REDIS_URL {url}: test process {worker} would need Redis database {database} "
                 "(a default server has 0-15); name a lower database or run fewer processes")
    return urlunsplit(parts._replace(path=f"/{database}"))


# The tests flush this Redis database, so it is never guessed: scripts/test starts a private one.
TEST_REDIS_URL = _redis_url_of_this_process(os.environ.get("TEST_REDIS_URL") or sys.exit(
    "TEST_REDIS_URL is not set: run scripts/test, or name a Redis database the tests may flush"
))
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BASE_ENV = {
    "DIGEST_ENV_FILE": "",  # never read a developer's .env
    "REDIS_URL": TEST_REDIS_URL,
    "SECRET_KEY": "test-secret-key-not-for-production",
    "PUBLIC_BASE_URL": "https://digest.example.org",
    "FROM_EMAIL": "digest@example.org",
    "FROM_NAME": "The CACI Analyst",
    "DELIVERY_BACKEND": "outbox",
    "PUBLICATION_TZ": "America/New_York",
    # The feed servers the tests start are on loopback; tests of the guard turn it back on.
    "FEED_ALLOW_PRIVATE_ADDRESSES": "true",
}
# Set before anything imports digest: the Celery app reads its broker once, at import.
os.environ.update(BASE_ENV)
for name in ("DATABASE_URL", "SENDGRID_API_KEY", "SENDGRID_API_HOST", "OUTBOX_DIR"):
    os.environ.pop(name, None)

from sqlalchemy import create_engine, text  # noqa: E402

from digest.config import get_settings  # noqa: E402
from digest.delivery.backends import get_sender  # noqa: E402
from digest.store.db import dispose_engines  # noqa: E402
from digest.store.migrate import upgrade  # noqa: E402
from digest.store.models import Base  # noqa: E402
from tests.databases import scratch_postgres  # noqa: E402
from tests.servers import FeedServer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# The browser fixtures, for the browser tests in tests/web and tests/reports; every email the
# service writes, for tests/delivery and tests/email_lint.
pytest_plugins = ["tests.browser", "tests.emails"]


def reset_caches() -> None:
    from digest.web import archive_cache

    dispose_engines()
    get_settings.cache_clear()
    get_sender.cache_clear()
    archive_cache.forget()  # the tables restart their ids: edition 1 is another edition now


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


QUEUES = ("feeds", "editions", "delivery", "webhooks")


def wait_until_drained(timeout: float = 60.0) -> None:
    """Wait until no message is queued, reserved or running anywhere (checked twice, apart)."""
    import redis

    from digest.ops.queues import queue_keys
    from workers.app import app

    client = redis.Redis.from_url(TEST_REDIS_URL)

    def idle() -> bool:
        if any(client.llen(key) for queue in QUEUES for key in queue_keys(queue)) or client.hlen("unacked"):
            return False
        # Asking the workers this process runs by name returns as soon as each has answered,
        # not after the whole time-out.
        names = sorted(Worker.running)
        if not names:
            return True
        inspect = app.control.inspect(destination=names, limit=len(names), timeout=1)
        busy = [*(inspect.active() or {}).values(), *(inspect.reserved() or {}).values()]
        return not any(busy)

    wait_for(lambda: idle() and (time.sleep(0.5) or idle()), timeout=timeout, what="the queues to drain")



def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked postgresql_only are not run on SQLite: slow tests whose SQLite run proves
    nothing the PostgreSQL run and the rest of the suite do not (docs/testing.md says which)."""
    sqlite_runs = [item for item in items if item.get_closest_marker("postgresql_only")
                   and getattr(item, "callspec", None) and item.callspec.params.get("database_url") == "sqlite"]
    if sqlite_runs:
        config.hook.pytest_deselected(items=sqlite_runs)
        items[:] = [item for item in items if item not in sqlite_runs]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/digest.sqlite3"
    else:
        url, drop = scratch_postgres(TEST_POSTGRES_URL, f"digest_test_{os.getpid()}")
        request.addfinalizer(drop)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def service_env(database_url, tmp_path_factory) -> dict[str, str]:
    """The environment of the service under test (this process and its worker processes)."""
    return dict(BASE_ENV, DATABASE_URL=database_url, OUTBOX_DIR=str(tmp_path_factory.mktemp("outbox")))


def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    tables = [table.name for table in Base.metadata.sorted_tables]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                connection.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


def _forget_queued_messages() -> None:
    """Drop the messages an earlier test left in this test process's Redis database (queued, or
    taken by a worker since stopped or killed). The tables restart their ids, so an earlier
    test's `send_confirmation` for subscriber 2 would otherwise mail this test's second reader."""
    import redis

    from kombu.transport.redis import Channel

    from digest.ops.queues import UNACKED_KEY, queue_keys

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(*(key for queue in QUEUES for key in queue_keys(queue)), UNACKED_KEY, Channel.unacked_index_key)
    client.close()


@pytest.fixture
def settings(service_env, monkeypatch):
    """Settings pointing at a freshly emptied database and outbox, and no message left queued."""
    for name, value in service_env.items():
        monkeypatch.setenv(name, value)
    _empty_tables(service_env["DATABASE_URL"])
    _forget_queued_messages()
    outbox = Path(service_env["OUTBOX_DIR"])
    shutil.rmtree(outbox, ignore_errors=True)
    outbox.mkdir(parents=True)
    reset_caches()
    yield get_settings()
    reset_caches()


@pytest.fixture
def feed_server():
    with FeedServer() as server:
        yield server


def standin_fixture(scope: str = "function", name: str = "standin"):
    """A fixture that runs a SendGrid stand-in (tests/sendgrid_standin.py) for `scope`. A module
    whose worker process outlives one test (the stand-in's URL is in its environment) takes
    `standin = standin_fixture("module")` and resets the stand-in before each test."""
    from tests.sendgrid_standin import SendGridStandIn

    @pytest.fixture(scope=scope, name=name)
    def running_standin():
        with SendGridStandIn() as server:
            yield server
    return running_standin


standin_server = standin_fixture(name="standin_server")


@pytest.fixture
def standin(settings, standin_server, monkeypatch):
    """A SendGrid stand-in of this test's own, and settings that send through it."""
    for name, value in standin_server.settings().items():
        monkeypatch.setenv(name, value)
    reset_caches()
    return standin_server


@pytest.fixture(scope="session")
def redis_client():
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.ping()
    return client


class Worker:
    """A real `celery worker` process (its own process group, so it can be killed whole)."""

    running: set[str] = set()  # the names of this test process's workers now running

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 1,
                 celery: tuple[str, ...] = (sys.executable, "-m", "celery")):
        from workers.app import app

        self.app = app
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.celery = list(celery)  # how `celery` is started (tests/scaled_clock.py starts it on a faster clock)
        self.process: subprocess.Popen | None = None
        self.name: str | None = None

    def start(self) -> "Worker":
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.celery, "-A", "workers.app", "worker", "-Q", ",".join(QUEUES),
             "-c", str(self.concurrency), "-n", self.name, "--without-gossip", "--without-mingle",
             "--loglevel", "INFO"],
            cwd=REPO, env=dict(os.environ, **self.env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_for(self._ready, timeout=60, what="the Celery worker to be ready")
        Worker.running.add(self.name)
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited: {self.log_path.read_text()[-3000:]}")
        return "ready." in self.log_path.read_text(errors="replace").split(self.name)[-1]

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once, as an OOM killer or a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        Worker.running.discard(self.name)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        Worker.running.discard(self.name)


@pytest.fixture(scope="module")
def celery_worker(service_env, redis_client, tmp_path_factory):
    """A real worker on the test Redis with the outbox backend, for one test module."""
    redis_client.flushdb()
    worker = Worker(service_env, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield worker
    worker.stop()
