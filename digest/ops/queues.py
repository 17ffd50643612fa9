"""The Celery queues as kombu's Redis transport keeps them: one list per queue plus a list per
priority step, and the `unacked` hash of messages delivered to a worker but not acknowledged."""

from __future__ import annotations

import json
import time

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel

from digest.errors import InputError

# Tasks are routed to these (workers/config.py task_routes); a send never waits behind polling.
QUEUES = ("feeds", "editions", "delivery", "webhooks")
UNACKED_KEY = Channel.unacked_key
# The header workers/signals.py stamps on every message it publishes (epoch seconds).
PUBLISHED_AT = "published_at"


def queue_keys(queue: str) -> list[str]:
    """The base list, then the sub-lists kombu uses for priorities 3, 6 and 9 (`_q_for_pri`)."""
    return [queue] + [f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step]


def _published_at(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw).get("headers", {}).get(PUBLISHED_AT)
        return float(value) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def queue_stats(client: redis.Redis, now: float | None = None) -> list[dict]:
    """Per queue: messages waiting (all priority lists), in flight (unacknowledged) and the age
    of the oldest waiting message where it can be known (messages stamped at publish)."""
    now = time.time() if now is None else now
    pipe = client.pipeline(transaction=False)
    for queue in QUEUES:
        for key in queue_keys(queue):
            # kombu pushes on the left and pops on the right: the oldest message is the last.
            pipe.llen(key)
            pipe.lindex(key, -1)
    pipe.hvals(UNACKED_KEY)
    answers = pipe.execute()
    in_flight = dict.fromkeys(QUEUES, 0)
    for raw in answers[-1]:
        try:
            _message, _exchange, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue
        # Celery's queues are direct: the routing key is the queue's name.
        if routing_key in in_flight:
            in_flight[routing_key] += 1
    stats, position = [], 0
    for queue in QUEUES:
        waiting, stamps = 0, []
        for _key in queue_keys(queue):
            length, last = answers[position], answers[position + 1]
            position += 2
            waiting += length
            stamp = _published_at(last) if length else None
            if stamp is not None:
                stamps.append(stamp)
        oldest = round(max(0.0, now - min(stamps)), 3) if stamps else None
        stats.append({"queue": queue, "waiting": waiting, "in_flight": in_flight[queue],
                      "oldest_age_seconds": oldest})
    return stats


def purge_queue(client: redis.Redis, queue: str) -> int:
    """Drop every waiting message of `queue` (all priorities); returns how many. Messages in
    flight stay with their workers."""
    if queue not in QUEUES:
        raise InputError(f"queue {queue!r} is not one of: {', '.join(QUEUES)}")
    keys = queue_keys(queue)
    pipe = client.pipeline(transaction=True)
    for key in keys:
        pipe.llen(key)
    pipe.delete(*keys)
    return sum(pipe.execute()[:-1])
