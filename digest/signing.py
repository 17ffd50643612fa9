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

import binascii
import hashlib
import hmac

from digest.clock import utcnow
from digest.config import get_settings

# Bytes of the HMAC kept in a reader link (short links); cookies and forms keep a little more.
LINK_MAC_BYTES = 20
COOKIE_MAC_BYTES = 24


def _mac(key: str, scope: str, payload: str, size: int) -> bytes:
    return _link_text(hmac.new(key.encode(), f"{scope}\0{payload}".encode(), hashlib.sha256).digest()[:size])


def _link_text(mac: bytes) -> bytes:
    """base64.urlsafe_b64encode(mac) without its padding, skipping the base64 module's Python wrappers."""
    return binascii.b2a_base64(mac, newline=False).translate(_URL_SAFE).rstrip(b"=")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


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


def sign_all(scope: str, payloads: list[str], size: int = LINK_MAC_BYTES) -> list[str]:
    """`sign(scope, p)` for each of many payloads (every link of a batch's readers), the same
    signatures. The HMAC is computed as RFC 2104 defines it, from two SHA-256 states prepared once
    (the inner one has the key's pad and the scope hashed in already): each payload then costs two
    short hash updates, about half of hmac.digest's time, which hashes the key's pads anew every
    call. And one base64 encoding for all of them: each MAC is
    padded with zero bytes to a multiple of 3 and the padded MACs encoded as one: base64 writes
    3 bytes as 4 characters, so each MAC is its own run of characters, and the run's first
    characters are the MAC's unpadded encoding (the zero bits of the pad end its last character
    as base64's own padding does). Per link that leaves the hashing and a slice, not four calls
    and two objects."""
    inner, outer = prepared_hmac(get_settings().SECRET_KEY.encode(), f"{scope}\0".encode())
    new_inner, new_outer = inner.copy, outer.copy
    macs = []
    for payload in payloads:
        inner_hash = new_inner()
        inner_hash.update(payload.encode())
        outer_hash = new_outer()
        outer_hash.update(inner_hash.digest())
        macs.append(outer_hash.digest()[:size])
    pad = b"\0" * (-size % 3)
    text = _link_text(pad.join(macs) + pad).decode() if macs else ""
    run, kept = (size + len(pad)) // 3 * 4, (size * 4 + 2) // 3
    return [text[start:start + kept] for start in range(0, len(text), run)]


_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


def prepared_hmac(key: bytes, message_start: bytes):
    """HMAC-SHA256's inner hash with `message_start` already in it, and its outer hash, before
    any payload (RFC 2104: a key longer than the hash's block is hashed first)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    return hashlib.sha256(key.translate(_INNER_PAD) + message_start), hashlib.sha256(key.translate(_OUTER_PAD))


def verify(scope: str, payload: str, signature: str, size: int = LINK_MAC_BYTES) -> bool:
    """Whether `signature` is `payload`'s for `scope`, under any key still accepted."""
    # Compared as bytes: a non-ASCII str would make compare_digest raise instead of refuse.
    sent = signature.encode("utf-8", "replace")
    return any(hmac.compare_digest(sent, _mac(key, scope, payload, size)) for key in _keys())
