"""Login attempts per client IP (an IPv6 client's /64: ratelimit.client_key), counted in Redis so
that every web process shares them.

An attempt is counted before the password is checked (so parallel requests cannot all slip in
under the limit) and handed back when it succeeds: what an address uses up is its failures.
The window is LOGIN_LOCKOUT_MINUTES, as for the account lock; with LOGIN_MAX_FAILURES above
twice LOGIN_ATTEMPTS_PER_IP, no single address can lock an account on its own.

Redis down: the limit fails open (logged). Editors must be able to log in to watch an outage,
and the account lock in the database still bounds guessing.
"""

from __future__ import annotations

import logging

import redis

from digest.config import get_settings
from digest.redis_clients import redis_client
from digest.subscribers.ratelimit import PREFIX, RateLimited, _hit, client_key

log = logging.getLogger(__name__)
_DECR_IF_PRESENT = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0"


def _key(ip: str) -> str:
    return f"login-ip:{client_key(ip)}"


def reserve_login_attempt(ip: str) -> None:
    """Count an attempt from `ip`; RateLimited once the address has used up its window."""
    settings = get_settings()
    try:
        hit = _hit(_key(ip), settings.LOGIN_ATTEMPTS_PER_IP, settings.LOGIN_LOCKOUT_MINUTES * 60)
    except redis.RedisError as exc:
        log.warning("login rate limit not checked for %s, Redis unavailable (%s); the account lock still applies",
                    ip, exc)
        return
    if not hit.allowed:
        raise RateLimited("too many login attempts from your network; please try again later", hit.retry_after)


def refund_login_attempt(ip: str) -> None:
    """A successful login does not use up its address's allowance."""
    try:
        # Only within a live window: a DECR on an expired key would leave a count with no expiry.
        redis_client().eval(_DECR_IF_PRESENT, 1, PREFIX + _key(ip))
    except redis.RedisError as exc:
        log.warning("login attempt from %s not handed back, Redis unavailable (%s)", ip, exc)
