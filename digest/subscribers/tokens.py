"""Signed, scoped tokens in links: a token made for one purpose cannot be used for another.

A token is `<payload>.<signature>`. The payload is the subscriber id in hex, followed for a
confirmation by `-<issue time in ms, hex>`; the signature is an HMAC-SHA256 of the scope and the
payload with SECRET_KEY. Unsubscribe and preferences links never expire (they sit in every
email a reader keeps); a confirmation link expires after CONFIRM_TOKEN_DAYS.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import InputError

UNSUBSCRIBE = "unsubscribe"
CONFIRM = "confirm"
PREFERENCES = "preferences"
_EXPIRING = {CONFIRM}


class BadToken(InputError):
    """The token was tampered with, is malformed, or was made for another purpose."""


class ExpiredToken(BadToken):
    """A genuine token past its lifetime."""


@dataclass(frozen=True)
class Claims:
    subscriber_id: int
    issued_at: dt.datetime | None  # set for expiring scopes only


def _signature(scope: str, payload: str) -> bytes:
    key = get_settings().SECRET_KEY.encode()
    mac = hmac.new(key, f"{scope}\0{payload}".encode(), hashlib.sha256).digest()[:20]
    return base64.urlsafe_b64encode(mac).rstrip(b"=")


def make_token(scope: str, subscriber_id: int, now: dt.datetime | None = None) -> str:
    payload = format(subscriber_id, "x")
    if scope in _EXPIRING:
        payload += "-" + format(int((now or utcnow()).timestamp() * 1000), "x")
    return f"{payload}.{_signature(scope, payload).decode()}"


def read_token(scope: str, token: str, now: dt.datetime | None = None) -> Claims:
    """What the token was made for, or BadToken (ExpiredToken when it is genuine but too old)."""
    payload, _, signature = token.partition(".")
    # Compared as bytes: a non-ASCII str would make compare_digest raise instead of refuse.
    if not payload or not hmac.compare_digest(signature.encode(), _signature(scope, payload)):
        raise BadToken("this link is not valid: it may have been altered or cut short, "
                       "or it was made for another page")
    subscriber_hex, _, issued_hex = payload.partition("-")
    subscriber_id = int(subscriber_hex, 16)
    if scope not in _EXPIRING:
        return Claims(subscriber_id, None)
    issued_at = dt.datetime.fromtimestamp(int(issued_hex, 16) / 1000, dt.UTC)
    days = get_settings().CONFIRM_TOKEN_DAYS
    if (now or utcnow()) - issued_at > dt.timedelta(days=days):
        raise ExpiredToken(f"this confirmation link has expired (links are valid for {days} days); "
                           "sign up again to get a new one")
    return Claims(subscriber_id, issued_at)
