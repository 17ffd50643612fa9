"""`digest doctor`'s checks of the services: PostgreSQL reachable and migrated, Redis never
evicting and keeping its data on disk (servers of the tests' own, started with the settings each
case needs), one beat, and a worker for every queue."""

from __future__ import annotations

import time

import pytest

from digest.config import Settings
from digest.doctor import database, processes, redis_server
from digest.ops.records import record_beat_tick, record_worker_heartbeat, redis_client
from digest.ops.queues import QUEUES
from digest.store.migrate import upgrade
from tests.conftest import TEST_POSTGRES_URL, reset_caches
from tests.databases import scratch_postgres
from tests.live_app import free_port
from tests.ops.test_doctor_settings import settings_of
from tests.servers import start_redis_server


def by_name(found) -> dict[str, str]:
    return {check.name: check.state for check in found}


# --- PostgreSQL -------------------------------------------------------------------------------

@pytest.fixture
def empty_postgres():
    url, drop = scratch_postgres(TEST_POSTGRES_URL, "digest_doctor")
    yield url
    drop()


def test_a_database_no_server_answers_for_is_an_error():
    found = database.checks(settings_of(DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"))
    assert by_name(found) == {"database_reachable": "error"}
    assert "cannot reach the database" in found[0].found and "DATABASE_URL" in found[0].fix


def test_a_database_behind_the_codes_migrations_is_an_error_until_upgraded(empty_postgres):
    [reached, migrated] = database.checks(settings_of(DATABASE_URL=empty_postgres))
    assert reached.state == "ok" and migrated.state == "error"
    assert "no revision" in migrated.found and "digest db upgrade" in migrated.fix
    upgrade(empty_postgres, "0016")
    [_, migrated] = database.checks(settings_of(DATABASE_URL=empty_postgres))
    assert migrated.state == "error" and "at 0016" in migrated.found
    upgrade(empty_postgres)
    assert by_name(database.checks(settings_of(DATABASE_URL=empty_postgres))) == {
        "database_reachable": "ok", "database_migrated": "ok"}


# --- Redis ------------------------------------------------------------------------------------

@pytest.fixture
def redis_with(tmp_path):
    """Start a redis-server of the test's own with `options`; its URL."""
    started = []

    def start(*options: str) -> str:
        port = free_port()
        started.append(start_redis_server(port, tmp_path, *options))
        return f"redis://127.0.0.1:{port}/0"
    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def test_a_redis_that_evicts_and_keeps_nothing_on_disk_is_an_error_in_production(redis_with):
    url = redis_with("--maxmemory-policy", "allkeys-lru")
    found = {check.name: check for check in redis_server.checks(settings_of(REDIS_URL=url))}
    assert found["redis_reachable"].state == "ok"
    assert found["redis_eviction"].state == "error" and "allkeys-lru" in found["redis_eviction"].found
    assert found["redis_persistence"].state == "error" and "appendonly yes" in found["redis_persistence"].fix
    quickstart = Settings(_env_file=None, SECRET_KEY="x" * 16, PUBLIC_BASE_URL="http://127.0.0.1:8000", REDIS_URL=url)
    assert by_name(redis_server.checks(quickstart))["redis_persistence"] == "warning"


def test_a_redis_with_noeviction_and_an_append_only_file_is_ok(redis_with):
    url = redis_with("--maxmemory-policy", "noeviction", "--appendonly", "yes")
    found = redis_server.checks(settings_of(REDIS_URL=url))
    assert set(by_name(found).values()) == {"ok"}
    assert "AOF" in next(c for c in found if c.name == "redis_persistence").found


def test_rdb_snapshots_alone_count_as_persistence(redis_with):
    url = redis_with("--save", "900 1")
    assert by_name(redis_server.checks(settings_of(REDIS_URL=url)))["redis_persistence"] == "ok"


def test_a_redis_that_does_not_answer_is_an_error_that_hides_its_password():
    url = f"redis://:hunter2-password@127.0.0.1:{free_port()}/0"
    [reachable, _visibility] = redis_server.checks(settings_of(REDIS_URL=url))
    assert reachable.state == "error" and "hunter2" not in reachable.found


# --- beat and workers -------------------------------------------------------------------------

@pytest.fixture
def records(clean_redis):
    """The test Redis, emptied, read as the service reads its records (text)."""
    reset_caches()
    yield redis_client()
    reset_caches()


def test_no_beat_two_beats_and_a_silent_beat_are_errors_one_beat_is_ok(records):
    settings = settings_of()
    assert processes.beat(records, settings, time.time()).state == "error"
    record_beat_tick(60, beat="web1:4242")
    assert processes.beat(records, settings, time.time()).state == "ok"
    record_beat_tick(60, beat="web2:777")
    two = processes.beat(records, settings, time.time())
    assert two.state == "error" and "web1:4242" in two.found and "web2:777" in two.found
    records.delete("digest:ops:beats")
    record_beat_tick(60, at=time.time() - 60 - settings.OPS_BEAT_GRACE_SECONDS - 5, beat="web1:4242")
    assert "no beat is ticking" in processes.beat(records, settings, time.time()).found


def test_a_queue_no_online_worker_consumes_is_an_error_naming_it(records):
    record_worker_heartbeat("worker@a", ["feeds", "editions", "webhooks"], active=0, processed=0, pid=1)
    record_worker_heartbeat("delivery@b", ["delivery"], active=0, processed=0, pid=2, at=time.time() - 3600)
    check = processes.queues(records, time.time())
    assert check.state == "error" and check.found == "no worker online consumes delivery"
    record_worker_heartbeat("delivery@b", ["delivery"], active=0, processed=0, pid=2)
    assert processes.queues(records, time.time()).state == "ok"
    assert set(QUEUES) == {"feeds", "editions", "delivery", "webhooks"}
