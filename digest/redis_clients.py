"""The one place that makes Redis clients (operators' records, the send rate limit, the feed host
lock, the sign-up and login limits), with one set of time-outs: a status page, a probe or a
sign-up must answer quickly when Redis does not, and no caller waits on a dead socket.

One client per REDIS_URL and kind of answer, cached. redis-py's connection pool notices a fork
and opens fresh connections in the child, so a forked worker never shares its parent's sockets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

import redis

from digest.config import get_settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 3


@lru_cache(maxsize=8)
def _client(url: str, decode_responses: bool) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=READ_TIMEOUT_SECONDS,
                                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, decode_responses=decode_responses)


def redis_client(*, decode_responses: bool = False) -> redis.Redis:
    """The client for REDIS_URL; `decode_responses` answers str instead of bytes."""
    return _client(get_settings().REDIS_URL, decode_responses)


def client_for(url: str, *, decode_responses: bool = False) -> redis.Redis:
    """The client for another Redis URL (`digest doctor` checks the settings it is given)."""
    return _client(url, decode_responses)


def write_quietly(write: Callable[[redis.Redis], object]) -> None:
    """Run `write` with the text client; a write of operators' figures (records, counters) is
    never worth failing a task, a send or a request for, so a Redis error is only logged."""
    try:
        write(redis_client(decode_responses=True))
    except (redis.RedisError, OSError) as exc:
        log.warning("could not record operations data: %s", exc)
