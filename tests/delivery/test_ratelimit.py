"""The shared sending schedule: slots handed out in order and kept, warm-up days, daily caps,
and the finish time the edition page shows before approval."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from digest.config import WarmupDay
from digest.delivery.ratelimit import MAX_INLINE_WAIT, SCHEDULE_KEY, SLOT_KEY, SendRateLimiter
from digest.delivery.sendrate import Limits, Schedule, expected_finish, limits_on, next_slot


def _settings(per_second=0.0, per_hour=0, plan=(), start=None):
    return SimpleNamespace(SEND_RATE_PER_SECOND=per_second, SEND_RATE_PER_HOUR=per_hour,
                           SEND_WARMUP_PLAN=[WarmupDay(**day) for day in plan], SEND_WARMUP_START=start)


@pytest.fixture
def limiter(redis_client):
    redis_client.delete(SCHEDULE_KEY, *redis_client.keys(f"{SLOT_KEY}*"))
    yield lambda **kw: SendRateLimiter(redis_client, _settings(**kw))
    redis_client.delete(SCHEDULE_KEY, *redis_client.keys(f"{SLOT_KEY}*"))


def test_waiting_batches_get_distinct_slots_in_the_order_they_asked(limiter):
    one = limiter(per_hour=2000)
    first = one.acquire("1:a", 1000)
    assert first.granted and first.wait_seconds == 0
    waits = [one.acquire(f"1:{name}", 1000).wait_seconds for name in "bcd"]
    # Half an hour apart each: no two batches wake together at the top of the hour.
    assert [round(w / 1800) for w in waits] == [1, 2, 3]
    other_worker = limiter(per_hour=2000)
    again = other_worker.acquire("1:c", 1000)  # the batch asks again: the same slot, not a new one
    assert not again.granted and abs(again.wait_seconds - waits[1]) < 1


def test_a_slot_near_enough_is_granted_with_its_wait(limiter):
    fast = limiter(per_second=1000)
    assert fast.acquire("2:a", 1000).granted
    second = fast.acquire("2:b", 1000)
    assert second.granted and 0 < second.wait_seconds <= MAX_INLINE_WAIT
    fast.acquire("2:c", 1000)
    fourth = fast.acquire("2:d", 1000)  # three seconds off: back to the queue, not asleep in a worker
    assert not fourth.granted and MAX_INLINE_WAIT < fourth.wait_seconds <= 3.0


def test_a_full_day_moves_the_slot_to_the_next_day():
    limits = lambda day: Limits(per_day=2000)  # noqa: E731
    noon = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC).timestamp()
    slot, schedule = next_slot(Schedule(), noon, 1000, limits)
    slot2, schedule = next_slot(schedule, noon, 1000, limits)
    slot3, schedule = next_slot(schedule, noon, 1000, limits)
    assert slot == slot2 == noon
    assert dt.datetime.fromtimestamp(slot3, dt.UTC) == dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="daily cap of 2000"):
        next_slot(schedule, noon, 2001, limits)


def test_a_warm_up_plan_sets_each_days_caps_then_the_flat_rate_applies():
    plan = [{"daily": 1000, "hourly": 500}, {"daily": 5000, "hourly": 0}]
    settings = _settings(per_second=50, per_hour=2000, plan=plan, start=dt.date(2026, 3, 1))
    assert limits_on(dt.date(2026, 2, 27), settings) == Limits(50, 500, 1000)  # not started: as cold as day 1
    assert limits_on(dt.date(2026, 3, 1), settings) == Limits(50, 500, 1000)
    assert limits_on(dt.date(2026, 3, 2), settings) == Limits(50, 2000, 5000)
    assert limits_on(dt.date(2026, 3, 3), settings) == Limits(50, 2000, 0)


def test_the_expected_finish_follows_the_plan_across_days():
    plan = [{"daily": 1000, "hourly": 500}, {"daily": 5000, "hourly": 0}]
    settings = _settings(per_hour=2000, plan=plan, start=dt.date(2026, 3, 1))
    start = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    finish = expected_finish(8000, start, 1000, lambda day: limits_on(day, settings))
    # Day 1: one batch. Day 2: five batches, half an hour apart. Day 3: the last two.
    assert finish == dt.datetime(2026, 3, 3, 0, 30, tzinfo=dt.UTC)
    assert expected_finish(8000, start, 1000, lambda day: Limits()) == start


def test_a_warm_up_plan_needs_a_start_and_days_of_at_least_one_batch(monkeypatch, settings):
    from digest.config import ConfigError, get_settings

    monkeypatch.setenv("SEND_WARMUP_PLAN", '[{"daily": 500}]')
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="SEND_WARMUP_START is required"):
        get_settings()
    monkeypatch.setenv("SEND_WARMUP_START", "2026-03-01")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="day 1 allows 500 a day, fewer than one batch"):
        get_settings()
    monkeypatch.setenv("SEND_BATCH_SIZE", "500")
    get_settings.cache_clear()
    assert get_settings().SEND_WARMUP_PLAN == [WarmupDay(daily=500, hourly=0)]
    get_settings.cache_clear()
