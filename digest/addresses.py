"""Email addresses as people type them, validated and normalised one way everywhere, and the
keyed hash that stands for an address where the address itself must not be kept."""

import hashlib
import hmac
import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from digest.config import get_settings
from digest.signing import prepared_hmac
from digest.errors import InputError

# The common case, an ASCII dot-atom at a domain already accepted, skips email-validator's full
# pass (most of an import's time otherwise); whatever does not match takes the full pass.
MAX_LOCAL_OCTETS = 64
MAX_ADDRESS_OCTETS = 254
_ASCII_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


@lru_cache(maxsize=4096)
def _accepted_domain(domain: str) -> str | None:
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).ascii_domain
    except EmailNotValidError:
        return None


def _fast_normalize(address: str) -> str | None:
    local, at, domain = address.rpartition("@")
    if not (at and address.isascii() and len(local) <= MAX_LOCAL_OCTETS and len(address) <= MAX_ADDRESS_OCTETS
            and _ASCII_LOCAL.match(local)):
        return None
    ascii_domain = _accepted_domain(domain.lower())
    return f"{local.lower()}@{ascii_domain}" if ascii_domain else None


def normalize_email(address: str, *, what: str = "email address", check_deliverability: bool = False) -> str:
    """The normalised address (domain lowercased, IDN-encoded), or InputError naming it."""
    address = address.strip()
    if not check_deliverability and (fast := _fast_normalize(address)):
        return fast
    try:
        result = validate_email(address, check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise InputError(f"{what} {address!r} is not valid: {exc}") from None
    local, _, domain = result.normalized.rpartition("@")
    # Mailbox names are case-insensitive in practice; one person, one row.
    normalized = f"{local.lower()}@{result.ascii_domain or domain.lower()}"
    # RFC 5321 counts octets (email-validator lets a long local part through): a longer address
    # is refused by mail servers, and would never get a confirmation.
    if len(local.lower().encode()) > MAX_LOCAL_OCTETS:
        raise InputError(f"{what} {address!r} is not valid: its local part is longer than "
                         f"{MAX_LOCAL_OCTETS} octets (RFC 5321)")
    if len(normalized.encode()) > MAX_ADDRESS_OCTETS:
        raise InputError(f"{what} {address!r} is not valid: it is longer than {MAX_ADDRESS_OCTETS} octets (RFC 5321)")
    return normalized


def address_hash(address: str) -> str:
    """HMAC-SHA256 of a normalised address with SECRET_KEY: the same address always gives the
    same hash, and the hash cannot be turned back into the address without the key."""
    key = get_settings().SECRET_KEY.encode()
    return hmac.new(key, b"address\0" + address.encode(), hashlib.sha256).hexdigest()


def address_hasher():
    """address_hash for many addresses (an import's rows), with the same hashes: the key's pads
    are hashed once, not once per address, which halves the cost of each (see signing.signer)."""
    inner, outer = prepared_hmac(get_settings().SECRET_KEY.encode(), b"address\0")

    def hash_one(address: str) -> str:
        inner_hash = inner.copy()
        inner_hash.update(address.encode())
        outer_hash = outer.copy()
        outer_hash.update(inner_hash.digest())
        return outer_hash.hexdigest()

    return hash_one
