"""One sending schedule for the whole service, held in Redis so that every worker draws on it.

Each batch reserves its own slot (digest.delivery.sendrate does the arithmetic): the first batch
to ask goes first, the next one a batch's worth of time later, and so on, so a hundred waiting
batches wake one after another rather than together at the top of the hour. A batch asking again
finds the slot it already holds. Reservations are made in a WATCH/MULTI transaction, so workers
on several machines never take the same slot. Celery's own `rate_limit` is per worker process
and cannot do this.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

import redis

from digest.clock import utcnow, wall_seconds
from digest.config import get_settings
from digest.delivery.sendrate import Schedule, limits_on, next_slot
from digest.redis_clients import redis_client

SCHEDULE_KEY = "digest:send-rate:schedule"
SLOT_KEY = "digest:send-rate:slot:"  # + edition id + ":" + a digest of the batch's ids

# A slot this close is slept through in the worker; a later one sends the batch back to the queue.
MAX_INLINE_WAIT = 2.0


# A waiting batch goes back to the queue for at most this long (wall seconds) before asking
# again, and never for more than half the broker's visibility timeout: Redis hands a message
# held longer than that to a second worker.
MAX_REQUEUE_DELAY = 300.0


def requeue_countdown(wait: float) -> float:
    """Wall seconds before a batch that must wait `wait` (service seconds) asks again, with
    jitter so that batches sent back together do not return together."""
    cap = min(MAX_REQUEUE_DELAY, get_settings().BROKER_VISIBILITY_TIMEOUT_SECONDS / 2)
    real = wall_seconds(wait)
    if real >= cap:
        return cap * random.uniform(0.8, 1.0)
    # Its slot is its own: arriving a little late loses nothing, arriving early costs a second ask.
    return min(cap, real * random.uniform(1.0, 1.1) + random.uniform(0, 0.05))


@dataclass(frozen=True)
class Permit:
    granted: bool
    wait_seconds: float  # until the batch's slot; 0 when granted


def batch_key(edition_id: int, batch_id: int) -> str:
    """A batch's slot in the schedule (a batch row is never reused: a re-send is a new batch)."""
    return f"{edition_id}:{batch_id}"


class SendRateLimiter:
    def __init__(self, client: redis.Redis, settings):
        self.client = client
        self.settings = settings

    @property
    def enabled(self) -> bool:
        s = self.settings
        return bool(s.SEND_RATE_PER_SECOND or s.SEND_RATE_PER_HOUR or s.SEND_WARMUP_PLAN)

    def limits_for(self, day):
        return limits_on(day, self.settings)

    def acquire(self, key: str, count: int) -> Permit:
        """The batch `key` of `count` sends: granted when its slot is at most MAX_INLINE_WAIT away
        (the caller sleeps `wait_seconds` first), else how long until its slot."""
        if not self.enabled or count <= 0:
            return Permit(True, 0.0)
        slot_key = SLOT_KEY + key
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(SCHEDULE_KEY, slot_key)
                    now = utcnow().timestamp()
                    held = pipe.get(slot_key)
                    current = read_schedule(pipe.hgetall(SCHEDULE_KEY))
                    pipe.multi()
                    if held is not None:
                        slot = float(held)
                    else:
                        slot, schedule = next_slot(current, now, count, self.limits_for)
                        pipe.hset(SCHEDULE_KEY, mapping={"free_at": schedule.free_at, "day": schedule.day,
                                                         "day_used": schedule.day_used})
                        pipe.expire(SCHEDULE_KEY, 8 * 86400)
                    wait = max(0.0, slot - now)
                    if wait <= MAX_INLINE_WAIT:
                        pipe.delete(slot_key)  # used now: a copy of this batch asking later reserves anew
                    elif held is None:
                        # Kept well past the slot, so a batch that wakes late still finds it.
                        pipe.set(slot_key, slot, ex=int(wait + 2 * 86400))
                    pipe.execute()
                    return Permit(wait <= MAX_INLINE_WAIT, wait)
                except redis.WatchError:
                    continue

    def hold_until(self, epoch: float) -> None:
        """The provider said to wait (a 429's reset): no new slot before then."""
        if not self.enabled:
            return  # without a schedule each batch simply waits out its own 429
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(SCHEDULE_KEY)
                    current = read_schedule(pipe.hgetall(SCHEDULE_KEY))
                    pipe.multi()
                    pipe.hset(SCHEDULE_KEY, "free_at", max(epoch, current.free_at))
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def forget_reservations(self, edition_id: int) -> int:
        """A stopped edition's batches give their slots back; with nothing else waiting the
        schedule restarts from now instead of after slots no one will use."""
        keys = list(self.client.scan_iter(f"{SLOT_KEY}{edition_id}:*", count=1000))
        if keys:
            self.client.delete(*keys)
        if not next(self.client.scan_iter(f"{SLOT_KEY}*", count=1000), None):
            self.client.hset(SCHEDULE_KEY, "free_at", utcnow().timestamp())
        return len(keys)

    def schedule(self) -> Schedule:
        return read_schedule(self.client.hgetall(SCHEDULE_KEY))


def read_schedule(raw: dict) -> Schedule:
    raw = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    return Schedule(free_at=float(raw.get("free_at", 0)), day=int(float(raw.get("day", 0))),
                    day_used=int(float(raw.get("day_used", 0))))


@lru_cache(maxsize=1)
def get_rate_limiter() -> SendRateLimiter:
    settings = get_settings()
    return SendRateLimiter(redis_client(), settings)
