"""`digest doctor`'s checks of settings alone: each one failing, as a warning on a developer's
machine and an error where readers are served, and passing when set for production."""

from __future__ import annotations

import pytest

from digest.config import Settings
from digest.doctor import redis_server, settings_checks
from digest.doctor.model import is_production

STRONG_KEY = "Qx7-vR2mKp9ZtL4wNc8YhB1sFd6GjE3uAo5Ti0Xe"
PRODUCTION = dict(SECRET_KEY=STRONG_KEY, PUBLIC_BASE_URL="https://digest.cacianalyst.org",
                  DATABASE_URL="postgresql+psycopg://digest@db.internal/digest", SENDGRID_API_KEY="SG.key", DELIVERY_BACKEND="sendgrid",
                  FORWARDED_ALLOW_IPS="127.0.0.1")


def settings_of(**values) -> Settings:
    return Settings(_env_file=None, **(PRODUCTION | values))


def states(settings: Settings) -> dict[str, str]:
    return {check.name: check.state for check in settings_checks.checks(settings)}


def test_a_production_set_up_passes_every_settings_check():
    assert set(states(settings_of()).values()) == {"ok"}


@pytest.mark.parametrize("values, name", [
    (dict(SECRET_KEY="test-secret-key-not-for-production"), "secret_key"),
    (dict(SECRET_KEY="a" * 40), "secret_key"),
    (dict(SECRET_KEY="Qx7vR2mKp9ZtL4wN"), "secret_key"),
    (dict(PUBLIC_BASE_URL="http://digest.cacianalyst.org"), "public_base_url"),
    (dict(POSTAL_ADDRESS=""), "postal_address"),
    (dict(POSTAL_ADDRESS="Washington"), "postal_address"),
    (dict(DATABASE_URL="sqlite:///var/digest.sqlite3"), "database_kind"),
    (dict(SENDGRID_API_KEY=None, DELIVERY_BACKEND="outbox"), "delivery_backend"),
    (dict(FORWARDED_ALLOW_IPS=""), "forwarded_allow_ips"),
])
def test_each_setting_unfit_for_production_is_an_error_there(values, name):
    found = {check.name: check for check in settings_checks.checks(settings_of(**values))}
    assert found[name].state == "error" and found[name].fix
    assert [other for other, check in found.items() if check.state != "ok"] == [name]


def test_the_quickstarts_settings_are_warnings_on_a_developers_machine():
    quickstart = Settings(_env_file=None, SECRET_KEY="short-dev-key-123", PUBLIC_BASE_URL="http://127.0.0.1:8000",
                          DATABASE_URL="sqlite:///var/digest.sqlite3", DELIVERY_BACKEND="outbox")
    assert not is_production(quickstart)
    assert states(quickstart) == {"secret_key": "warning", "public_base_url": "warning", "postal_address": "ok",
                                  "database_kind": "warning", "delivery_backend": "warning",
                                  "forwarded_allow_ips": "ok"}


@pytest.mark.parametrize("url, production", [("http://localhost:8000", False), ("http://[::1]:8000", False),
                                             ("http://127.0.0.2", False), ("https://10.0.0.5", True),
                                             ("https://digest.example.org", True)])
def test_production_is_a_public_address_that_is_not_this_machine(url, production):
    assert is_production(settings_of(PUBLIC_BASE_URL=url)) is production


@pytest.mark.parametrize("timeout, state", [(20, "error"), (32, "error"), (400, "warning"), (600, "ok"), (3600, "ok")])
def test_the_visibility_timeout_must_outlast_a_send_and_the_longest_countdown(timeout, state):
    # A send may take SENDGRID_TIMEOUT_SECONDS (30) and the rate limit's inline wait (2 s); a
    # waiting batch's countdown is at most 300 s, cut to half the timeout below 600.
    check = redis_server.visibility(settings_of(BROKER_VISIBILITY_TIMEOUT_SECONDS=timeout))
    assert check.state == state
