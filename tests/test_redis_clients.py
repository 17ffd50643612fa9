"""One place makes Redis clients, with its time-outs; the feed host lock is redis-py's Lock."""

from __future__ import annotations

import ast
import pathlib
import threading
import time

import pytest

from digest.delivery.ratelimit import get_rate_limiter
from digest.feeds.hosts import HostBusy, host_key, host_slot
from digest.ops.records import redis_client as ops_client
from digest.redis_clients import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, redis_client as shared

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _client_constructions(path: pathlib.Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("from_url", "StrictRedis") or (
                    node.func.attr == "Redis" and isinstance(node.func.value, ast.Name) and node.func.value.id == "redis"):
                lines.append(node.lineno)
    return lines


def test_only_one_module_makes_redis_clients():
    made = {str(path.relative_to(ROOT)): lines for folder in ("digest", "workers")
            for path in (ROOT / folder).rglob("*.py") if (lines := _client_constructions(path))}
    assert made == {"digest/redis_clients.py": made.get("digest/redis_clients.py", [])} and made


def test_every_part_shares_the_clients_and_their_time_outs(settings):
    for client in (shared(), ops_client(), get_rate_limiter().client):
        options = client.connection_pool.connection_kwargs
        assert options["socket_timeout"] == READ_TIMEOUT_SECONDS
        assert options["socket_connect_timeout"] == CONNECT_TIMEOUT_SECONDS
    assert get_rate_limiter().client is shared()
    assert ops_client() is shared(decode_responses=True)


def test_the_host_lock_is_redis_pys_lock(settings):
    held = shared().lock(host_key("Feeds.Example.org."), timeout=5)
    assert held.acquire(blocking=False)
    with pytest.raises(HostBusy, match="feeds.example.org"):
        with host_slot("feeds.example.org", hold_seconds=5, wait_seconds=0.2):
            pass
    held.release()
    with host_slot("feeds.example.org", hold_seconds=5, wait_seconds=0):
        # Taken through redis-py's Lock: another Lock on the key sees it held, and cannot take it.
        assert shared().lock(host_key("feeds.example.org")).locked()
        assert not shared().lock(host_key("feeds.example.org"), timeout=5).acquire(blocking=False)
    assert not shared().lock(host_key("feeds.example.org")).locked(), "released on leaving"


def test_a_lapsed_host_lock_never_releases_the_next_holder(settings):
    key = host_key("slow.example.org")
    with host_slot("slow.example.org", hold_seconds=0.2, wait_seconds=0):
        time.sleep(0.4)  # the hold lapsed; another worker takes the host
        other = shared().lock(key, timeout=5)
        assert other.acquire(blocking=False)
    assert other.locked() and other.owned(), "leaving a lapsed slot left the next holder's lock alone"
    other.release()


def test_a_waiter_gets_the_host_once_the_holder_leaves(settings):
    entered = []

    def second():
        with host_slot("busy.example.org", hold_seconds=5, wait_seconds=3):
            entered.append(time.monotonic())
    with host_slot("busy.example.org", hold_seconds=5, wait_seconds=0):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        left = time.monotonic()
    waiter.join(5)
    assert entered and entered[0] >= left
