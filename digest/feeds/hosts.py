"""Politeness across processes: at most one request at a time per host, through a Redis lock.

Every worker process polls through the same Redis, so a lock there holds for all of them. The
lock expires on its own (a crashed worker cannot keep a host locked) and is released only by
the token that took it.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator

import redis

from digest.config import get_settings

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_clients: dict[str, tuple[redis.Redis, redis.commands.core.Script]] = {}


class HostBusy(Exception):
    """Another request to this host is running; the poll is deferred, not failed."""


def _client() -> tuple[redis.Redis, redis.commands.core.Script]:
    url = get_settings().REDIS_URL
    if url not in _clients:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        _clients[url] = client, client.register_script(_RELEASE)  # EVALSHA: the script is sent once
    return _clients[url]


def host_key(host: str) -> str:
    return "digest:feed-host:" + host.lower().rstrip(".")


@contextlib.contextmanager
def host_slot(host: str, *, hold_seconds: float, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold `host` for one request. Waits up to `wait_seconds` (FEED_HOST_WAIT_SECONDS) for
    another holder to finish, then raises HostBusy. The lock lapses after `hold_seconds`."""
    wait = get_settings().FEED_HOST_WAIT_SECONDS if wait_seconds is None else wait_seconds
    (client, release), key, token = _client(), host_key(host), uuid.uuid4().hex
    deadline = time.monotonic() + wait
    pause = 0.02
    while not client.set(key, token, nx=True, px=max(1, int(hold_seconds * 1000))):
        if time.monotonic() >= deadline:
            raise HostBusy(f"host {host} is busy with another request")
        time.sleep(pause)
        pause = min(pause * 2, 0.25)
    try:
        yield
    finally:
        release(keys=[key], args=[token])


def _forget_clients() -> None:
    # A forked worker child must open its own connections, not share its parent's sockets.
    _clients.clear()


os.register_at_fork(after_in_child=_forget_clients)
