"""Signed, scoped tokens in links: a token made for one purpose cannot be used for another."""

from __future__ import annotations

import base64
import hashlib
import hmac

from digest.config import get_settings
from digest.errors import InputError

UNSUBSCRIBE = "unsubscribe"


class BadToken(InputError):
    """The token was tampered with, is malformed, or was made for another purpose."""


def _signature(scope: str, payload: str) -> str:
    key = get_settings().SECRET_KEY.encode()
    mac = hmac.new(key, f"{scope}\0{payload}".encode(), hashlib.sha256).digest()[:20]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(scope: str, subscriber_id: int) -> str:
    payload = format(subscriber_id, "x")
    return f"{payload}.{_signature(scope, payload)}"


def read_token(scope: str, token: str) -> int:
    """The subscriber id the token was made for, or BadToken."""
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature, _signature(scope, payload)):
        raise BadToken("this link is not valid: it may have been altered or cut short")
    return int(payload, 16)
