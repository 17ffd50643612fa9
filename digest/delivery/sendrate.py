"""How fast the service may hand mail to the provider, as pure arithmetic: the limits of a day
(a flat rate, or a day of an IP warm-up plan) and the slot schedule that spaces batches out.

The limiter (digest.delivery.ratelimit) keeps one schedule in Redis for every worker; the edition
page replays the same arithmetic to say when a send will finish before anyone approves it."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

DAY = 86400.0


@dataclass(frozen=True)
class Limits:
    """What applies on one UTC day; 0 means no limit of that kind."""
    per_second: float = 0
    per_hour: int = 0
    per_day: int = 0

    @property
    def seconds_per_send(self) -> float:
        """The spacing that honours both rates: a batch of n takes n times this."""
        return max(1 / self.per_second if self.per_second else 0.0, 3600 / self.per_hour if self.per_hour else 0.0)


def limits_on(day: dt.date, settings) -> Limits:
    """The flat limits, or during a warm-up plan that day's caps (the lower hourly cap wins)."""
    flat = Limits(settings.SEND_RATE_PER_SECOND, settings.SEND_RATE_PER_HOUR, 0)
    plan, start = settings.SEND_WARMUP_PLAN, settings.SEND_WARMUP_START
    if not plan or start is None:
        return flat
    index = max(0, (day - start).days)  # before the plan starts the IP is as cold as on day 1
    if index >= len(plan):
        return flat
    entry = plan[index]
    hourly = min(h for h in (entry.hourly, settings.SEND_RATE_PER_HOUR) if h) if (entry.hourly or flat.per_hour) else 0
    return Limits(settings.SEND_RATE_PER_SECOND, hourly, entry.daily)


@dataclass(frozen=True)
class Schedule:
    """The shared state: the first free moment (epoch seconds) and what the current day holds."""
    free_at: float = 0.0
    day: int = 0  # days since the epoch
    day_used: int = 0


def next_slot(schedule: Schedule, now: float, count: int, limits_for) -> tuple[float, Schedule]:
    """When a batch of `count` may go, and the schedule after reserving it.

    Slots are handed out first come, first served and never overlap, so waiting batches wake
    one by one instead of all at the top of the hour. A day's cap that is full moves the slot to
    the next day's first second."""
    start = max(now, schedule.free_at)
    while True:
        day = math.floor(start / DAY)
        limits = limits_for(dt.date(1970, 1, 1) + dt.timedelta(days=day))
        used = schedule.day_used if schedule.day == day else 0
        if limits.per_day and used + count > limits.per_day:
            if count > limits.per_day:
                raise ValueError(f"a batch of {count} can never fit a daily cap of {limits.per_day}")
            start = (day + 1) * DAY
            continue
        return start, replace(schedule, free_at=start + count * limits.seconds_per_send, day=day,
                              day_used=used + count)


def expected_finish(readers: int, start: dt.datetime, batch_size: int, limits_for,
                    schedule: Schedule | None = None) -> dt.datetime:
    """When the last batch of a send of `readers` would be handed over if it began at `start`,
    behind whatever the schedule already holds."""
    schedule = schedule or Schedule()
    now = start.timestamp()
    slot = now
    for size in [batch_size] * (readers // batch_size) + ([readers % batch_size] if readers % batch_size else []):
        slot, schedule = next_slot(schedule, now, size, limits_for)
    return dt.datetime.fromtimestamp(slot, dt.UTC)
