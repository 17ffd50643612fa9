"""What workers, beat and the SendGrid backend write to Redis for operators to read: worker
heartbeats, per-minute task counts and runtimes, recent failures and beat ticks (SendGrid's last
answer is digest.delivery.sendgrid's). Every key is bounded (expiry or a capped list) and a write never fails the caller."""

from __future__ import annotations

import json
import os
import socket
import time

import redis

from digest.config import get_settings
from digest.redis_clients import redis_client as shared_client, write_quietly

WORKERS_KEY = "digest:ops:workers"  # hash: hostname -> JSON of its last heartbeat
TASK_COUNTS_KEY = "digest:ops:tasks:"  # + minute: hash "<task>|<outcome>" -> count
RUNTIMES_KEY = "digest:ops:runtimes:"  # + minute + ":" + task: list of seconds
FAILURES_KEY = "digest:ops:failures"  # list of JSON, newest first, capped
BEAT_KEY = "digest:ops:beat"
# hash: "<host>:<pid>" of each beat process -> JSON of its last tick; two live entries are two
# beats, each queuing every scheduled task (digest doctor counts them).
BEATS_KEY = "digest:ops:beats"
# JSON of `digest doctor`'s last run: {"at": epoch, "checks": [{name, state, found, fix}, ...]}
DOCTOR_KEY = "digest:ops:doctor"
OUTCOMES = ("succeeded", "failed", "retried")
# Per-minute figures are read over the last hour; an extra hour of margin, then Redis drops them.
BUCKET_TTL = 2 * 3600
RUNTIMES_PER_MINUTE = 1000  # per task and minute: enough for percentiles, bounded under load


def redis_client() -> redis.Redis:
    """The operators' records are read and written as text."""
    return shared_client(decode_responses=True)


def minute(at: float) -> int:
    return int(at // 60)


def record_task(name: str, outcome: str, runtime: float | None, at: float | None = None) -> None:
    at = time.time() if at is None else at
    bucket = minute(at)

    def write(client: redis.Redis) -> None:
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(f"{TASK_COUNTS_KEY}{bucket}", f"{name}|{outcome}", 1)
        pipe.expire(f"{TASK_COUNTS_KEY}{bucket}", BUCKET_TTL)
        if runtime is not None:
            key = f"{RUNTIMES_KEY}{bucket}:{name}"
            pipe.lpush(key, f"{runtime:.6f}").ltrim(key, 0, RUNTIMES_PER_MINUTE - 1).expire(key, BUCKET_TTL)
        pipe.execute()

    write_quietly(write)


def record_failure(name: str, task_id: str | None, exception: str, traceback: str,
                   at: float | None = None) -> None:
    entry = json.dumps({"task": name, "task_id": task_id, "exception": exception,
                        "traceback": traceback[-20000:], "at": time.time() if at is None else at})
    kept = get_settings().OPS_FAILURES_KEPT
    write_quietly(lambda client: client.pipeline(transaction=False)
             .lpush(FAILURES_KEY, entry).ltrim(FAILURES_KEY, 0, kept - 1).execute())


def record_worker_heartbeat(hostname: str, queues: list[str], active: int, processed: int,
                            pid: int, at: float | None = None) -> None:
    entry = json.dumps({"hostname": hostname, "queues": sorted(queues), "active": active,
                        "processed": processed, "pid": pid, "last_seen": time.time() if at is None else at})
    write_quietly(lambda client: client.hset(WORKERS_KEY, hostname, entry))


def forget_worker(hostname: str) -> None:
    """A worker that shut down cleanly is gone, not lost."""
    write_quietly(lambda client: client.hdel(WORKERS_KEY, hostname))


def beat_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record_beat_tick(next_tick_in: float, at: float | None = None, beat: str | None = None) -> None:
    entry = json.dumps({"at": time.time() if at is None else at, "next_tick_in": next_tick_in})
    write_quietly(lambda client: client.pipeline(transaction=False)
                  .set(BEAT_KEY, entry).hset(BEATS_KEY, beat or beat_name(), entry).execute())


def forget_beat(beat: str | None = None) -> None:
    """A beat that stopped cleanly no longer counts as ticking (a restarted one has a new pid)."""
    write_quietly(lambda client: client.hdel(BEATS_KEY, beat or beat_name()))


def record_doctor(checks: list[dict], at: float | None = None) -> None:
    """`digest doctor`'s last results, for the ops page and /metrics."""
    entry = json.dumps({"at": time.time() if at is None else at, "checks": checks})
    write_quietly(lambda client: client.set(DOCTOR_KEY, entry))
