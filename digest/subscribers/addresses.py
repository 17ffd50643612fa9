"""Email addresses as people type them, validated and normalised one way everywhere."""

from email_validator import EmailNotValidError, validate_email

from digest.errors import InputError


def normalize_email(address: str, *, what: str = "email address") -> str:
    """The normalised address (domain lowercased, IDN-encoded), or InputError naming it."""
    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InputError(f"{what} {address!r} is not valid: {exc}") from None
    local, _, domain = result.normalized.rpartition("@")
    # Mailbox names are case-insensitive in practice; one person, one row.
    return f"{local.lower()}@{result.ascii_domain or domain.lower()}"
