"""The Redis that is Celery's broker: reachable, never evicting, keeping what it holds on disk,
and a visibility timeout that fits the countdowns and the sends of the code."""

from __future__ import annotations

from urllib.parse import urlsplit

import redis

from digest.config import Settings
from digest.delivery.ratelimit import MAX_INLINE_WAIT, MAX_REQUEUE_DELAY
from digest.doctor.model import Check, hurts, ok
from digest.redis_clients import client_for


def _persistence(info: dict, save: str | None, settings: Settings) -> Check:
    if info.get("aof_last_write_status", "ok") != "ok" or info.get("rdb_last_bgsave_status", "ok") != "ok":
        return Check("redis_persistence", "error", "Redis's last write to disk failed "
                     f"(aof: {info.get('aof_last_write_status')}, rdb: {info.get('rdb_last_bgsave_status')})",
                     "read Redis's log: a full disk or a directory Redis may not write")
    kinds = (["AOF"] if int(info.get("aof_enabled", 0)) else []) + ([f"RDB (save {save})"] if save else [])
    if kinds:
        return ok("redis_persistence", "Redis keeps its data on disk: " + " and ".join(kinds))
    if save is None and not int(info.get("aof_enabled", 0)):
        return Check("redis_persistence", "warning", "Redis has AOF off and does not say whether it saves RDB "
                     "snapshots (CONFIG GET is refused)", "make sure the server saves snapshots or keeps an AOF")
    return Check("redis_persistence", hurts(settings), "Redis keeps nothing on disk (appendonly no, save \"\"): "
                 "a restart loses every queued send and webhook message",
                 "set `appendonly yes` (and `appendfsync everysec`) in redis.conf, or at least RDB snapshots")


def _eviction(policy: str | None, settings: Settings) -> Check:
    if policy == "noeviction":
        return ok("redis_eviction", "Redis's maxmemory-policy is noeviction: queued messages are never evicted")
    return Check("redis_eviction", hurts(settings), f"Redis's maxmemory-policy is {policy}: when full, Redis "
                 "drops keys, and a dropped queue is a send lost with no trace",
                 "set `maxmemory-policy noeviction` in redis.conf (writes then fail loudly instead)")


def visibility(settings: Settings) -> Check:
    """Redis hands a message not acknowledged within the visibility timeout to another worker:
    the longest countdown (a waiting batch's, at most MAX_REQUEUE_DELAY, cut to half the timeout)
    and the longest send must both end well inside it."""
    timeout = settings.BROKER_VISIBILITY_TIMEOUT_SECONDS
    longest_send = settings.SENDGRID_TIMEOUT_SECONDS + MAX_INLINE_WAIT
    if timeout <= longest_send:
        return Check("broker_visibility", "error", f"BROKER_VISIBILITY_TIMEOUT_SECONDS is {timeout} s, no longer "
                     f"than one send may take ({longest_send:.0f} s: SENDGRID_TIMEOUT_SECONDS and the rate "
                     "limit's wait): a slow send's message goes to a second worker",
                     f"set BROKER_VISIBILITY_TIMEOUT_SECONDS to {2 * MAX_REQUEUE_DELAY:.0f} or more (default 3600)")
    if timeout < 2 * MAX_REQUEUE_DELAY:
        return Check("broker_visibility", "warning", f"BROKER_VISIBILITY_TIMEOUT_SECONDS is {timeout} s: waiting "
                     f"batches come back every {timeout / 2:.0f} s instead of {MAX_REQUEUE_DELAY:.0f} s",
                     f"set BROKER_VISIBILITY_TIMEOUT_SECONDS to {2 * MAX_REQUEUE_DELAY:.0f} or more (default 3600)")
    return ok("broker_visibility", f"BROKER_VISIBILITY_TIMEOUT_SECONDS is {timeout} s: the longest countdown "
              f"({MAX_REQUEUE_DELAY:.0f} s) and a send ({longest_send:.0f} s) end well inside it")


def _config(client: redis.Redis, name: str) -> str | None:
    try:
        return client.config_get(name).get(name)
    except redis.ResponseError:  # CONFIG renamed or refused, as managed services do
        return None


def where(url: str) -> str:
    """REDIS_URL without its password."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def checks(settings: Settings) -> list[Check]:
    return _checks(client_for(settings.REDIS_URL, decode_responses=True), settings)


def _checks(client: redis.Redis, settings: Settings) -> list[Check]:
    try:
        info = client.info("persistence") | client.info("memory") | client.info("server")
        save = _config(client, "save")
    except (redis.RedisError, OSError) as exc:
        return [Check("redis_reachable", "error", f"cannot reach Redis at {where(settings.REDIS_URL)}: {str(exc)[:300]}",
                      "start redis-server, or correct REDIS_URL"), visibility(settings)]
    return [ok("redis_reachable", f"Redis {info.get('redis_version', '')} answers at "
               f"{where(settings.REDIS_URL)}"),
            _eviction(info.get("maxmemory_policy"), settings), _persistence(info, save, settings),
            visibility(settings)]
