"""Politeness across processes: at most one request at a time per host, through a Redis lock.

Every worker process polls through the same Redis, so a lock there holds for all of them. It is
redis-py's Lock: it expires on its own (a crashed worker cannot keep a host locked) and is
released only by the token that took it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from redis.exceptions import LockError

from digest.config import get_settings
from digest.redis_clients import redis_client

# How often a waiting poll asks again for a busy host.
RETRY_SECONDS = 0.05


class HostBusy(Exception):
    """Another request to this host is running; the poll is deferred, not failed."""


def host_key(host: str) -> str:
    return "digest:feed-host:" + host.lower().rstrip(".")


@contextlib.contextmanager
def host_slot(host: str, *, hold_seconds: float, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold `host` for one request. Waits up to `wait_seconds` (FEED_HOST_WAIT_SECONDS) for
    another holder to finish, then raises HostBusy. The lock lapses after `hold_seconds`."""
    wait = get_settings().FEED_HOST_WAIT_SECONDS if wait_seconds is None else wait_seconds
    lock = redis_client().lock(host_key(host), timeout=max(0.001, hold_seconds), sleep=RETRY_SECONDS,
                               blocking_timeout=wait)
    if not lock.acquire():
        raise HostBusy(f"host {host} is busy with another request")
    try:
        yield
    finally:
        with contextlib.suppress(LockError):
            lock.release()  # a lapsed lock may be another holder's by now: the Lock leaves it alone
