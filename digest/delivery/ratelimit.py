"""One sending rate for the whole service, held in Redis so that every worker draws on it.

A token bucket refilled at SEND_RATE_PER_SECOND (its capacity one batch, so a full batch can
pass) and a counter per clock hour capped at SEND_RATE_PER_HOUR, for IP warm-up. Both are
checked and taken in one Lua script, on Redis's clock, so workers on several machines agree.
Celery's own `rate_limit` is per worker process and cannot do this.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import redis

from digest.config import get_settings

BUCKET_KEY = "digest:send-rate:bucket"
HOUR_KEY = "digest:send-rate:hour:"

# KEYS: bucket, hour prefix. ARGV: n, rate/s (0 = none), capacity, hourly cap (0 = none).
# Returns {granted (0/1), seconds to wait (string), tokens left (string), sent this hour}.
_ACQUIRE = """
local n = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local hourly = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local hour = math.floor(now / 3600)
local hour_key = KEYS[2] .. hour
local used = tonumber(redis.call('GET', hour_key) or '0')
if hourly > 0 and used + n > hourly then
  return {0, tostring((hour + 1) * 3600 - now), '0', used}
end
local tokens = capacity
if rate > 0 then
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  if state[1] then
    tokens = math.min(capacity, tonumber(state[1]) + (now - tonumber(state[2])) * rate)
  end
  if tokens < n then
    redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
    return {0, tostring((n - tokens) / rate), tostring(tokens), used}
  end
  tokens = tokens - n
  redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
  redis.call('EXPIRE', KEYS[1], 3600)
end
redis.call('INCRBY', hour_key, n)
redis.call('EXPIRE', hour_key, 7200)
return {1, '0', tostring(tokens), used + n}
"""


@dataclass(frozen=True)
class Permit:
    granted: bool
    wait_seconds: float
    tokens_left: float
    sent_this_hour: int


class SendRateLimiter:
    def __init__(self, client: redis.Redis, per_second: float, per_hour: int, capacity: int):
        self.client = client
        self.per_second = per_second
        self.per_hour = per_hour
        self.capacity = max(capacity, int(per_second))
        self._acquire = client.register_script(_ACQUIRE)

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 or self.per_hour > 0

    def acquire(self, count: int) -> Permit:
        """Take `count` sends if the limits allow now; otherwise take nothing and say how long to wait."""
        if not self.enabled:
            return Permit(True, 0.0, float("inf"), 0)
        if self.per_hour and count > self.per_hour:
            raise ValueError(f"a batch of {count} can never fit SEND_RATE_PER_HOUR={self.per_hour}")
        granted, wait, tokens, used = self._acquire(
            keys=[BUCKET_KEY, HOUR_KEY], args=[count, self.per_second, self.capacity, self.per_hour])
        return Permit(bool(granted), float(wait), float(tokens), int(used))


@lru_cache(maxsize=1)
def get_rate_limiter() -> SendRateLimiter:
    settings = get_settings()
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    return SendRateLimiter(client, settings.SEND_RATE_PER_SECOND, settings.SEND_RATE_PER_HOUR,
                           settings.SEND_BATCH_SIZE)
