"""Every web test starts with no login attempts counted against its client's address."""

from __future__ import annotations

import pytest

from digest.subscribers.ratelimit import PREFIX


@pytest.fixture(autouse=True)
def fresh_login_limits(redis_client):
    def clear() -> None:
        for key in redis_client.scan_iter(PREFIX + "login-ip:*"):
            redis_client.delete(key)

    clear()
    yield
    clear()
