"""The processes, as they report themselves in Redis (digest.ops.records): exactly one beat
ticking, and a worker online for every queue."""

from __future__ import annotations

import json
import time

import redis

from digest.config import Settings
from digest.doctor.model import Check, ok
from digest.ops.queues import QUEUES
from digest.ops.records import BEATS_KEY, redis_client
from digest.ops.status import FORGET_WORKER_AFTER, worker_status


def live_beats(client: redis.Redis, now: float, grace: float) -> list[str]:
    """The beats whose last tick is no later than they announced (plus `grace`); a beat silent
    for a day is forgotten."""
    beats = []
    for name, raw in sorted(client.hgetall(BEATS_KEY).items()):
        entry = json.loads(raw)
        age = now - entry["at"]
        if age > FORGET_WORKER_AFTER:
            client.hdel(BEATS_KEY, name)
        elif age <= entry["next_tick_in"] + grace:
            beats.append(name)
    return beats


def beat(client: redis.Redis, settings: Settings, now: float) -> Check:
    beats = live_beats(client, now, settings.OPS_BEAT_GRACE_SECONDS)
    if len(beats) == 1:
        return ok("beat", f"one beat ticking ({beats[0]})")
    if not beats:
        return Check("beat", "error", "no beat is ticking: no edition is composed or started, no feed polled, "
                     "nothing reconciled", "start one beat: `celery -A workers.app beat` (the Procfile's beat line)")
    return Check("beat", "error", f"{len(beats)} beats are ticking ({', '.join(beats)}): every scheduled task "
                 "runs that many times", "stop all beats but one; run beat on one machine only")


def queues(client: redis.Redis, now: float) -> Check:
    online = [w for w in worker_status(client, now) if w["state"] == "online"]
    unserved = [queue for queue in QUEUES if not any(queue in w["queues"] for w in online)]
    if not unserved:
        return ok("queues_consumed", f"every queue has a worker ({len(online)} online)")
    return Check("queues_consumed", "error", f"no worker online consumes {', '.join(unserved)}",
                 "start workers for them: `celery -A workers.app worker --queues " + ",".join(unserved) + "`")


def checks(settings: Settings) -> list[Check]:
    client = redis_client()
    now = time.time()
    try:
        return [beat(client, settings, now), queues(client, now)]
    except (redis.RedisError, OSError) as exc:
        return [Check("processes", "error", f"cannot read the processes' records in Redis: {str(exc)[:300]}",
                      "start redis-server, or correct REDIS_URL")]
