"""The slow checks' results (link answers, the spam score) kept in Redis per edition and per
content hash, so the edition page, the CLI and the approval reuse one run, and any change to the
edition's content (a new hash) runs them afresh. Best effort: without Redis the CLI runs them
again each time, and the edition page shows them pending (a worker's results could not reach it)."""

from __future__ import annotations

import json
import logging

import redis

from digest.redis_clients import redis_client

log = logging.getLogger(__name__)

# Kept a week: a draft's checks rarely stay useful longer, and the key must not outlive Redis' memory.
TTL_SECONDS = 7 * 24 * 3600


def _key(edition_id: int) -> str:
    return f"digest:checklist:{edition_id}"


def cached(edition_id: int, content_hash: str, part: str):
    try:
        value = redis_client(decode_responses=True).hget(_key(edition_id), f"{part}:{content_hash}")
    except (redis.RedisError, OSError) as exc:
        log.warning("checklist cache unreadable: %s", exc)
        return None
    return json.loads(value) if value else None


def store(edition_id: int, content_hash: str, part: str, value) -> None:
    """Keep `value` for this content; results for any other content of the edition are dropped.
    Each field names its content hash, so two runs racing on different content never mix."""
    try:
        client = redis_client(decode_responses=True)
        stale = [name for name in client.hkeys(_key(edition_id)) if not name.endswith(f":{content_hash}")]
        pipe = client.pipeline()
        if stale:
            pipe.hdel(_key(edition_id), *stale)
        pipe.hset(_key(edition_id), f"{part}:{content_hash}", json.dumps(value))
        pipe.expire(_key(edition_id), TTL_SECONDS)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("checklist cache not written: %s", exc)


def claim_run(edition_id: int, content_hash: str, seconds: float) -> bool:
    """True for the first caller to ask for a run of this content's checks within `seconds` (how
    long a run may take): the others wait for its results. A lost run is asked for again after
    that. Without Redis nobody may claim: the worker's results could not be kept anyway."""
    try:
        client = redis_client(decode_responses=True)
        if client.get(_run_key(edition_id)) == content_hash:
            return False
        return bool(client.set(_run_key(edition_id), content_hash, ex=max(1, int(seconds))))
    except (redis.RedisError, OSError) as exc:
        log.warning("checklist run not claimed: %s", exc)
        return False


def _run_key(edition_id: int) -> str:
    return f"digest:checklist:{edition_id}:run"


def forget(edition_id: int) -> None:
    """An editor asked for the checks again (a link fixed at its site since)."""
    try:
        redis_client(decode_responses=True).delete(_key(edition_id), _run_key(edition_id))
    except (redis.RedisError, OSError) as exc:
        log.warning("checklist cache not cleared: %s", exc)
