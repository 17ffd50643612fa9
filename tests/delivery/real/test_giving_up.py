"""A batch that keeps failing gives up after SEND_MAX_RETRIES and says so on every row.

A module of its own: its worker has a small retry budget, and no other worker may take its tasks.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.store.models import Delivery, EditionStatus
from tests.conftest import Worker, wait_for
from tests.delivery.real.support import approved_for, edition_status
from workers.tasks import start_edition

pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]


def test_a_batch_that_keeps_failing_gives_up_visibly(env, feed_server, standin, tmp_path, redis_client):
    # A worker of its own whose retry budget is small; failing rows are recorded, not lost.
    redis_client.flushdb()
    worker = Worker(dict(env, SEND_MAX_RETRIES="2"), tmp_path / "worker.log").start()
    try:
        edition_id, _ = approved_for(20, feed_server)
        standin.fail_next.extend([503] * 3)
        start_edition.delay(edition_id)
        wait_for(lambda: edition_status(edition_id) == EditionStatus.SENT, what="the edition to finish")
    finally:
        worker.stop()
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"failed": 20}
        error = session.scalar(select(Delivery.error).limit(1))
    assert error.startswith("gave up after 2 retries") and "503" in error
    assert standin.requests == []


