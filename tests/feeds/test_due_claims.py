"""Beat's poll tick claims the feeds it queues: two ticks, one after the other or at the same
moment in two processes, never queue one feed twice."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from sqlalchemy import update

from digest.clock import utcnow
from digest.ops.queues import queue_keys
from digest.store.db import unit_of_work
from digest.store.models import Feed
from tests.conftest import REPO
from tests.factories import polled_feed
from workers.tasks import poll_due_feeds


def _queued_feed_ids(redis_client) -> list[int]:
    import json

    ids = []
    for key in queue_keys("feeds"):
        for raw in redis_client.lrange(key, 0, -1):
            message = json.loads(raw)
            ids.append(message["headers"]["argsrepr"])
    return ids


def _due_now(count: int) -> None:
    with unit_of_work() as session:
        session.execute(update(Feed).values(next_poll_at=utcnow() - dt.timedelta(minutes=1)))
    with unit_of_work() as session:
        assert session.query(Feed).count() == count


def test_two_ticks_in_a_row_queue_each_due_feed_once(settings, redis_client, feed_server):
    redis_client.flushdb()
    polled_feed(feed_server)
    _due_now(1)
    assert poll_due_feeds() == 1
    assert poll_due_feeds() == 0  # the first tick's claim holds until the poll runs
    assert len(_queued_feed_ids(redis_client)) == 1
    redis_client.flushdb()


def test_ticks_at_the_same_moment_in_two_processes_split_the_feeds(settings, redis_client, feed_server):
    redis_client.flushdb()
    from digest.feeds.registry import add_feed

    polled_feed(feed_server)
    with unit_of_work() as session:
        for i in range(40):
            add_feed(session, feed_server.url(f"/feed-{i}.xml"), "Analytical Articles")
    _due_now(41)
    tick = "from workers.tasks import poll_due_feeds; print(poll_due_feeds())"
    ticks = [subprocess.Popen([sys.executable, "-c", tick], cwd=REPO, stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    counts = [int(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in ticks]
    queued = _queued_feed_ids(redis_client)
    assert sum(counts) == 41 and len(queued) == 41 and len(set(queued)) == 41, (counts, queued)
    with unit_of_work() as session:
        leased = session.query(Feed).filter(Feed.next_poll_at > utcnow()).count()
    assert leased == 41, "a claimed feed is not due again until its poll has had time to run"
    redis_client.flushdb()
