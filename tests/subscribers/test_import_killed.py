"""A worker killed in the middle of an import: the message comes back (acks late) and the import
goes on after its last committed batch, every row counted once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, ImportState, Subscriber, SubscriberImport
from digest.subscribers.imports import keep_upload
from tests.conftest import Worker, reset_caches, wait_for
from workers.tasks import import_subscribers

pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]
ROWS = 100_000


@pytest.fixture
def env(settings, service_env, redis_client, monkeypatch):
    redis_client.flushdb()
    env = dict(service_env, BROKER_VISIBILITY_TIMEOUT_SECONDS="6")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    return env


def _import(import_id: int) -> SubscriberImport:
    with unit_of_work() as session:
        return session.get(SubscriberImport, import_id)


def test_a_worker_killed_mid_import_leaves_it_to_the_next_one_which_counts_each_row_once(env, tmp_path):
    data = b"email\n" + b"".join(b"reader%d@example.org\n" % i for i in range(ROWS))
    with unit_of_work() as session:
        import_id = keep_upload(session, data, what="readers.csv", actor="test")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        import_subscribers.delay(import_id)
        wait_for(lambda: 1 < _import(import_id).through_line < ROWS, timeout=60, interval=0.05,
                 what="the first batch to be committed")
        worker.kill()
        killed = _import(import_id)
        assert killed.state == ImportState.RUNNING and killed.created < ROWS
        worker.start()
        wait_for(lambda: _import(import_id).state == ImportState.DONE, timeout=120, what="the import to finish")
    finally:
        worker.stop()
    done = _import(import_id)
    assert (done.rows, done.created, done.skipped, done.attempt) == (ROWS, ROWS, 0, 2)
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == ROWS
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == ROWS
