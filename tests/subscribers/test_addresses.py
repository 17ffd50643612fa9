"""Address normalisation: the quick path for plain addresses agrees with email-validator; the
import's hasher agrees with address_hash."""

import pytest
from email_validator import EmailNotValidError, validate_email

from digest.addresses import address_hash, address_hasher, normalize_email
from digest.config import get_settings
from digest.errors import InputError

ADDRESSES = [
    "reader@example.org", "Reader.Name@Example.ORG", "  padded@example.org ", "a+tag@sub.example.co.uk",
    "o'neil@example.ie", "x!#$%&*=?^_`{|}~-@example.org", "-dash@example.org", "a@b.co",
    "a..b@example.org", ".lead@example.org", "trail.@example.org", "a@localhost", "a@example", "a@-bad.org",
    "a@bad-.org", "a@123.456", "a@example.invalid", "a@example.test", "a@exa_mple.org", "@example.org",
    "a@", "a@@example.org", "a b@example.org", '"quoted"@example.org', "x" * 64 + "@example.org",
    "x" * 65 + "@example.org", "a@" + "d" * 63 + ".org", "a@" + "d" * 64 + ".org",
    "a@" + ".".join(["d" * 60] * 4) + ".org", "zoë@example.org", "a@bücher.example", "a@xn--bcher-kva.example",
    "A@EXAMPLE.ORG.", "a@[192.0.2.1]",
]


def _reference(address: str) -> str | None:
    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    local, _, domain = result.normalized.rpartition("@")
    normalized = f"{local.lower()}@{result.ascii_domain or domain.lower()}"
    # RFC 5321's octet limits, which email-validator does not hold a local part to.
    if len(local.lower().encode()) > 64 or len(normalized.encode()) > 254:
        return None
    return normalized


@pytest.mark.parametrize("address", ADDRESSES)
def test_normalising_agrees_with_email_validator(address):
    expected = _reference(address)
    if expected is None:
        with pytest.raises(InputError, match="is not valid"):
            normalize_email(address)
    else:
        assert normalize_email(address) == expected


@pytest.mark.parametrize("key", ["k" * 32, "k" * 65], ids=["short key", "key longer than a SHA-256 block"])
def test_the_import_s_address_hasher_gives_address_hash_s_hashes(monkeypatch, key):
    monkeypatch.setenv("SECRET_KEY", key)
    get_settings.cache_clear()
    try:
        hasher = address_hasher()
        for address in ("reader@example.org", "zoë@example.org", "a@xn--bcher-kva.example", ""):
            assert hasher(address) == address_hash(address)
    finally:
        get_settings.cache_clear()
