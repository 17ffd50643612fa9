"""`digest ops ...` as an operator runs it: confirmation, exit codes, audit rows."""

from __future__ import annotations

import getpass

from sqlalchemy import select

from digest.ops.queues import queue_keys
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry
from tests.cli import digest
from workers.tasks import poll_due_feeds


def _audit() -> list[tuple[str, str, dict]]:
    with unit_of_work() as session:
        return [(a.action, a.source, a.details) for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_purge_asks_first_and_is_audited(settings, clean_redis):
    poll_due_feeds.delay()
    poll_due_feeds.apply_async(priority=3)
    declined = digest("ops", "purge", "feeds", stdin="n\n")
    assert declined.returncode == 1 and sum(clean_redis.llen(k) for k in queue_keys("feeds")) == 2
    unknown = digest("ops", "purge", "mail", "--yes")
    assert unknown.returncode == 2 and "queue 'mail' is not one of: feeds, editions, delivery, webhooks" in unknown.stderr
    done = digest("ops", "purge", "feeds", "--yes")
    assert done.returncode == 0 and "2 messages dropped" in done.stdout
    assert sum(clean_redis.llen(k) for k in queue_keys("feeds")) == 0
    assert _audit() == [("ops:purge", "cli", {"by": getpass.getuser(), "queue": "feeds", "messages": 2})]


def test_retry_or_discard_without_failed_deliveries_changes_nothing(settings, clean_redis):
    missing = digest("ops", "retry-failed", "42")
    assert missing.returncode == 2 and "edition 42 does not exist" in missing.stderr
    assert digest("ops", "discard-failed", "42").returncode == 2
    assert _audit() == []
