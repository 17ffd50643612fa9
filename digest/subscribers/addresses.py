"""Email addresses as people type them, validated and normalised one way everywhere, and the
keyed hash that stands for an address where the address itself must not be kept."""

import hashlib
import hmac

from email_validator import EmailNotValidError, validate_email

from digest.config import get_settings
from digest.errors import InputError


def normalize_email(address: str, *, what: str = "email address", check_deliverability: bool = False) -> str:
    """The normalised address (domain lowercased, IDN-encoded), or InputError naming it."""
    try:
        result = validate_email(address.strip(), check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise InputError(f"{what} {address!r} is not valid: {exc}") from None
    local, _, domain = result.normalized.rpartition("@")
    # Mailbox names are case-insensitive in practice; one person, one row.
    return f"{local.lower()}@{result.ascii_domain or domain.lower()}"


def address_hash(address: str) -> str:
    """HMAC-SHA256 of a normalised address with SECRET_KEY: the same address always gives the
    same hash, and the hash cannot be turned back into the address without the key."""
    key = get_settings().SECRET_KEY.encode()
    return hmac.new(key, b"address\0" + address.encode(), hashlib.sha256).hexdigest()
