"""Settings a production deployment needs: a strong SECRET_KEY, https, a postal address,
PostgreSQL, SendGrid, and the proxy's address when one stands in front of `digest serve`."""

from __future__ import annotations

from digest.config import Settings
from digest.doctor.model import Check, hurts, ok

# A key is strong when it is long and varied, and names no word people type as a placeholder.
MIN_KEY_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 16
PLACEHOLDER_WORDS = ("secret", "change", "password", "example", "production", "default")
NEW_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


def secret_key(settings: Settings) -> Check:
    key = settings.SECRET_KEY
    weak = [reason for reason, bad in (
        (f"{len(key)} characters (fewer than {MIN_KEY_LENGTH})", len(key) < MIN_KEY_LENGTH),
        (f"{len(set(key))} distinct characters", len(set(key)) < MIN_DISTINCT_CHARACTERS),
        ("a placeholder word", any(word in key.lower() for word in PLACEHOLDER_WORDS)),
    ) if bad]
    if not weak:
        return ok("secret_key", f"SECRET_KEY is {len(key)} characters of {len(set(key))} distinct ones")
    return Check("secret_key", hurts(settings), "SECRET_KEY is weak: " + ", ".join(weak),
                 f"set SECRET_KEY to a new random key ({NEW_KEY}); with readers' links out already, "
                 "keep the old one as SECRET_KEY_PREVIOUS until SECRET_KEY_PREVIOUS_UNTIL")


def https(settings: Settings) -> Check:
    if settings.PUBLIC_BASE_URL.scheme == "https":
        return ok("public_base_url", f"PUBLIC_BASE_URL is {settings.base_url}")
    return Check("public_base_url", hurts(settings), f"PUBLIC_BASE_URL is {settings.base_url}, not https: "
                 "sign-up, unsubscribe and login go over the network in the clear",
                 "serve the site through a TLS proxy (nginx) and set PUBLIC_BASE_URL=https://...")


def postal_address(settings: Settings) -> Check:
    address = settings.POSTAL_ADDRESS.strip()
    if len(address) >= 15 and any(character.isdigit() for character in address):
        return ok("postal_address", f"POSTAL_ADDRESS is {address!r}")
    return Check("postal_address", hurts(settings), f"POSTAL_ADDRESS is {address!r}: bulk email must carry "
                 "the sender's physical postal address (CAN-SPAM)",
                 "set POSTAL_ADDRESS to the publisher's street address, city and postal code")


def database(settings: Settings) -> Check:
    if settings.DATABASE_URL.startswith("postgresql"):
        return ok("database_kind", "DATABASE_URL is PostgreSQL")
    return Check("database_kind", hurts(settings), "DATABASE_URL is SQLite: one writer at a time, "
                 "on one machine, and no worker on another machine can reach it",
                 "create a PostgreSQL database and role, set DATABASE_URL=postgresql+psycopg://..., "
                 "then run `digest db upgrade`")


def delivery(settings: Settings) -> Check:
    if settings.DELIVERY_BACKEND == "sendgrid":
        return ok("delivery_backend", "DELIVERY_BACKEND is sendgrid")
    return Check("delivery_backend", hurts(settings), f"DELIVERY_BACKEND is {settings.DELIVERY_BACKEND}: "
                 "no email leaves this machine", "set SENDGRID_API_KEY (DELIVERY_BACKEND then defaults to sendgrid)")


def forwarded_allow_ips(settings: Settings) -> Check:
    trusted = settings.FORWARDED_ALLOW_IPS.strip()
    if settings.PUBLIC_BASE_URL.scheme != "https":
        return ok("forwarded_allow_ips", "no TLS proxy named by PUBLIC_BASE_URL: clients are their direct peers")
    if trusted:
        return ok("forwarded_allow_ips", f"X-Forwarded-For is read from {trusted}")
    # `digest serve` speaks plain http: an https address means a proxy in front of it.
    return Check("forwarded_allow_ips", hurts(settings), "PUBLIC_BASE_URL is https, so a proxy stands in "
                 "front of `digest serve`, but FORWARDED_ALLOW_IPS is empty: every client has the proxy's "
                 "address, and one address's sign-up and login limits lock everyone out",
                 "set FORWARDED_ALLOW_IPS to the proxy's address (127.0.0.1 when nginx runs on this machine)")


def checks(settings: Settings) -> list[Check]:
    return [secret_key(settings), https(settings), postal_address(settings), database(settings),
            delivery(settings), forwarded_allow_ips(settings)]
