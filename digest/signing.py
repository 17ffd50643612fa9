"""One signing scheme for everything the service signs: reader links (unsubscribe, preferences,
confirmation), editor session cookies and CSRF tokens. A signature is an HMAC-SHA256 of the
scope and the payload, so a value signed for one purpose never passes for another.

Rotating SECRET_KEY: set the new key as SECRET_KEY and the old one as SECRET_KEY_PREVIOUS with
SECRET_KEY_PREVIOUS_UNTIL, the end of a grace period. Everything is signed with the new key at
once; until the grace period ends, values signed with the old key (links in emails readers
already have, sessions of logged-in editors) still verify. Unsubscribe and preferences links
never expire, so choose a grace period longer than readers keep editions, or accept that older
links then show "not valid" (the page explains how to unsubscribe without one).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from digest.clock import utcnow
from digest.config import get_settings

# Bytes of the HMAC kept in a reader link (short links); cookies and forms keep a little more.
LINK_MAC_BYTES = 20
COOKIE_MAC_BYTES = 24


def _mac(key: str, scope: str, payload: str, size: int) -> bytes:
    mac = hmac.new(key.encode(), f"{scope}\0{payload}".encode(), hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(mac).rstrip(b"=")


def _keys() -> list[str]:
    """The keys a signature may have been made with: the current one, then the previous one
    while its grace period lasts."""
    settings = get_settings()
    keys = [settings.SECRET_KEY]
    if settings.SECRET_KEY_PREVIOUS and settings.SECRET_KEY_PREVIOUS_UNTIL and utcnow() < settings.SECRET_KEY_PREVIOUS_UNTIL:
        keys.append(settings.SECRET_KEY_PREVIOUS)
    return keys


def sign(scope: str, payload: str, size: int = LINK_MAC_BYTES) -> str:
    """The signature of `payload` for `scope`, with the current SECRET_KEY (URL-safe text)."""
    return _mac(get_settings().SECRET_KEY, scope, payload, size).decode()


def signer(scope: str, size: int = LINK_MAC_BYTES):
    """`sign(scope, ·)` for many payloads (the links of a batch's readers): the key and the
    scope are encoded once and each payload is signed by one call into OpenSSL. The signatures
    are the same as sign()'s."""
    key = get_settings().SECRET_KEY.encode()
    prefix = f"{scope}\0".encode()

    def sign_one(payload: str) -> str:
        mac = hmac.digest(key, prefix + payload.encode(), "sha256")[:size]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    return sign_one


def verify(scope: str, payload: str, signature: str, size: int = LINK_MAC_BYTES) -> bool:
    """Whether `signature` is `payload`'s for `scope`, under any key still accepted."""
    # Compared as bytes: a non-ASCII str would make compare_digest raise instead of refuse.
    sent = signature.encode("utf-8", "replace")
    return any(hmac.compare_digest(sent, _mac(key, scope, payload, size)) for key in _keys())
