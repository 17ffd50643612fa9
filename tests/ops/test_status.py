"""Figures of the status structure that need no worker: send throughput and ETA, the rate-limit
state, feeds, bounded records, and messages whose age cannot be known."""

from __future__ import annotations

import datetime as dt
import json

from kombu import Connection, Exchange, Producer, Queue
from sqlalchemy import update

from digest.clock import utcnow
from digest.delivery.ratelimit import get_rate_limiter
from digest.ops.records import (FAILURES_KEY, RUNTIMES_KEY, TASK_COUNTS_KEY, minute, record_failure,
                                record_task)
from digest.ops.status import gather_status
from digest.store.db import unit_of_work
from digest.store.models import DeliveryStatus, Edition, Feed
from tests.conftest import reset_caches
from tests.delivery.batches import settle
from tests.factories import polled_feed, sending_edition
from tests.ops.conftest import queue, task

READERS = [f"reader{i}@example.org" for i in range(10)]


def test_a_send_shows_its_deliveries_throughput_and_eta(settings, clean_redis, feed_server):
    edition_id, _ = sending_edition(feed_server, *READERS)
    now = utcnow()
    with unit_of_work() as session:
        session.execute(update(Edition).values(started_at=now - dt.timedelta(minutes=10)))
    settle(edition_id, 5, DeliveryStatus.ACCEPTED, sent_at=now - dt.timedelta(minutes=1))
    [send] = gather_status(now)["sends"]
    assert send["edition_id"] == edition_id and send["status"] == "sending" and send["total"] == 10
    assert set(send["deliveries"]) == {state.value for state in DeliveryStatus}
    assert (send["deliveries"]["accepted"], send["deliveries"]["pending"], send["deliveries"]["bounced"]) == (5, 5, 0)
    assert send["per_minute"] == 1.0  # 5 handed over in the last 5 minutes
    assert dt.datetime.fromisoformat(send["eta"]) == now + dt.timedelta(minutes=5)


def test_the_rate_limit_state_is_shown(settings, clean_redis, monkeypatch):
    monkeypatch.setenv("SEND_RATE_PER_HOUR", "500")
    monkeypatch.setenv("SEND_RATE_PER_SECOND", "50")
    reset_caches()
    get_rate_limiter.cache_clear()
    assert get_rate_limiter().acquire("1:a", 20).granted
    rate = gather_status()["rate_limit"]
    get_rate_limiter.cache_clear()
    assert rate["per_hour"] == 500 and rate["per_second"] == 50 and rate["reserved_today"] == 20
    assert rate["next_free_slot"] is not None  # 20 at 500 an hour: the next slot is 144 s away


def test_feeds_show_their_last_success_failures_and_error(settings, clean_redis, feed_server):
    feed_id = polled_feed(feed_server)
    with unit_of_work() as session:
        session.execute(update(Feed).values(consecutive_failures=3, last_error="answered 502"))
    [feed] = gather_status()["feeds"]
    assert feed["id"] == feed_id and feed["consecutive_failures"] == 3 and feed["last_error"] == "answered 502"
    assert feed["last_success_at"] is not None and feed["stale"] is False


def test_task_records_are_bounded(settings, clean_redis, thresholds):
    thresholds(OPS_FAILURES_KEPT=3)
    for number in range(5):
        record_failure("workers.tasks.poll_feed", f"id-{number}", "ValueError: no", "Traceback ...")
    assert [json.loads(raw)["task_id"] for raw in clean_redis.lrange(FAILURES_KEY, 0, -1)] == ["id-4", "id-3", "id-2"]
    record_task("workers.tasks.edition_tick", "succeeded", 0.1)
    bucket = minute(utcnow().timestamp())
    for key in (f"{TASK_COUNTS_KEY}{bucket}", f"{RUNTIMES_KEY}{bucket}:workers.tasks.edition_tick"):
        assert 0 < clean_redis.ttl(key) <= 7200


def test_only_the_last_hour_counts(settings, clean_redis):
    now = utcnow().timestamp()
    record_task("workers.tasks.edition_tick", "succeeded", 0.1, at=now - 61 * 60)
    record_task("workers.tasks.edition_tick", "failed", 0.2, at=now - 30 * 60)
    tick = task(gather_status(), "workers.tasks.edition_tick")
    assert (tick["succeeded"], tick["failed"], tick["runtime_count"]) == (0, 1, 1)


def test_a_message_published_without_its_timestamp_is_counted_with_an_unknown_age(settings, clean_redis):
    with Connection(settings.REDIS_URL) as connection:
        feeds = Queue("feeds", Exchange("feeds", type="direct"), routing_key="feeds")
        Producer(connection).publish({"note": "from another client"}, exchange=feeds.exchange,
                                     routing_key="feeds", declare=[feeds], serializer="json")
    feeds = queue(gather_status(), "feeds")
    assert feeds["waiting"] == 1 and feeds["oldest_age_seconds"] is None
