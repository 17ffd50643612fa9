"""`digest serve` behind (or not behind) a proxy: X-Forwarded-For is believed only from the
addresses in FORWARDED_ALLOW_IPS, so a client cannot choose the address it is rate-limited by."""

from __future__ import annotations

import httpx
import pytest

from digest.subscribers.ratelimit import PREFIX
from tests.live_app import LiveApp

pytestmark = pytest.mark.slow


@pytest.fixture
def clean_limits(settings, redis_client):
    for key in redis_client.scan_iter(PREFIX + "*"):
        redis_client.delete(key)
    yield
    for key in redis_client.scan_iter(PREFIX + "*"):
        redis_client.delete(key)


def _signups(app: LiveApp, forwarded_for: list[str]) -> list[int]:
    # The honeypot is filled: the IP limit is counted, nothing is sent.
    body = {"email": "reader@example.org", "website": "bot"}
    return [httpx.post(app.url + "/api/subscribers/signup", json=body, headers={"X-Forwarded-For": ip},
                       timeout=10).status_code for ip in forwarded_for]


def test_a_local_clients_forwarded_for_is_ignored_by_default(clean_limits, service_env, tmp_path):
    env = dict(service_env, SIGNUP_LIMIT_PER_IP="2")
    with LiveApp(env, tmp_path / "web.log") as app:
        # Three "different" clients are one loopback client, limited as one.
        assert _signups(app, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [202, 202, 429]


def test_a_proxy_named_in_forwarded_allow_ips_is_believed(clean_limits, service_env, tmp_path):
    env = dict(service_env, SIGNUP_LIMIT_PER_IP="2", FORWARDED_ALLOW_IPS="127.0.0.1")
    with LiveApp(env, tmp_path / "web.log") as app:
        assert _signups(app, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [202, 202, 202]
        assert _signups(app, ["203.0.113.1", "203.0.113.1"]) == [202, 429]


def test_a_malformed_forwarded_allow_ips_stops_the_service_naming_it(settings, monkeypatch):
    from digest.config import ConfigError, get_settings
    from tests.conftest import reset_caches

    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5, proxy.internal")
    reset_caches()
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS: 'proxy.internal' is not an IP address or network"):
        get_settings()
