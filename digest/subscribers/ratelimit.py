"""Sign-up rate limits, counted in Redis so that every web process shares them: requests per
client IP, and confirmation emails per address (keyed by the address's hash, never the address).
Fixed windows: the first hit starts a window of the configured length.

A client is counted by `client_key`, here and for logins (digest/login_limit.py): an IPv6
client by its /64, since one home or server is given a whole /64 to pick addresses from."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from digest.config import get_settings
from digest.errors import InputError
from digest.redis_clients import redis_client
from digest.addresses import address_hash

PREFIX = "digest:ratelimit:"


class RateLimited(InputError):
    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Hit:
    allowed: bool
    retry_after: int  # seconds until the window ends


def client_key(ip: str) -> str:
    """What a client's requests are counted by: its IPv4 address, or its IPv6 address's /64
    network; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address. What is not an
    address ("unknown", a test client's name) is counted as it is."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])  # without a link-local zone (%eth0)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _hit(key: str, limit: int, window: int) -> Hit:
    client = redis_client()
    pipe = client.pipeline(transaction=True)
    pipe.set(PREFIX + key, 0, ex=window, nx=True)
    pipe.incr(PREFIX + key)
    pipe.ttl(PREFIX + key)
    _, count, ttl = pipe.execute()
    return Hit(count <= limit, max(int(ttl), 1))


def check_signup_ip(ip: str) -> None:
    """Count a sign-up request from `ip`; RateLimited once the IP has used up its window."""
    settings = get_settings()
    hit = _hit(f"signup-ip:{client_key(ip)}", settings.SIGNUP_LIMIT_PER_IP, settings.SIGNUP_IP_WINDOW_SECONDS)
    if not hit.allowed:
        raise RateLimited("too many sign-ups from your network; please try again later", hit.retry_after)


def allow_confirmation(address: str) -> bool:
    """Count a confirmation email to `address`; False once the address has had its share, so
    the form cannot be used to flood a stranger's mailbox."""
    settings = get_settings()
    return _hit(f"confirmation:{address_hash(address)}", settings.CONFIRMATION_LIMIT_PER_ADDRESS,
                settings.CONFIRMATION_ADDRESS_WINDOW_SECONDS).allowed


def forget_address(address: str) -> None:
    redis_client().delete(PREFIX + f"confirmation:{address_hash(address)}")
