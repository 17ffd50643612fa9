"""Settings: defaults that run, and a clear failure naming any missing or malformed one."""

import json
import subprocess
import sys

import pytest

from digest.config import ConfigError, get_settings


@pytest.fixture
def fresh(monkeypatch):
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_the_defaults_pick_the_outbox_without_a_sendgrid_key(fresh):
    fresh.delenv("DELIVERY_BACKEND")
    settings = get_settings()
    assert settings.DELIVERY_BACKEND == "outbox"
    assert settings.DATABASE_URL.startswith("sqlite:///var/")
    fresh.setenv("SENDGRID_API_KEY", "SG.key")
    get_settings.cache_clear()
    assert get_settings().DELIVERY_BACKEND == "sendgrid"


@pytest.mark.parametrize("name, value, expected", [
    ("SECRET_KEY", None, "SECRET_KEY: is required"),
    ("SECRET_KEY", "short", "SECRET_KEY"),
    ("PUBLICATION_TZ", "Mars/Olympus", "PUBLICATION_TZ: unknown time zone 'Mars/Olympus'"),
    ("PUBLIC_BASE_URL", "not a url", "PUBLIC_BASE_URL"),
    ("FROM_EMAIL", "nobody", "FROM_EMAIL"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
    ("SEND_BATCH_SIZE", "5000", "SEND_BATCH_SIZE"),
    ("DELIVERY_BACKEND", "sendgrid", "SENDGRID_API_KEY is required"),
    # Not JSON: pydantic-settings raised its own SettingsError, a traceback instead of a message.
    ("SECTION_ORDER", "Analytical Articles;News Digest", "SECTION_ORDER: is not valid JSON"),
    ("SEND_WARMUP_PLAN", "daily=5000", "SEND_WARMUP_PLAN: is not valid JSON"),
    ("SECTION_ORDER", "[" * 3000, "SECTION_ORDER: is nested too deeply to read"),
    # The scanners' user agents are matched against every open and click: bounded, never a
    # fragment short enough to match people's browsers.
    ("SCANNER_USER_AGENTS", '["Mo"]', "SCANNER_USER_AGENTS: entry 'Mo' must be 3 to 100 characters"),
    ("IMAGE_PROXY_USER_AGENTS", json.dumps(["x" * 101]), "IMAGE_PROXY_USER_AGENTS"),
    ("SCANNER_USER_AGENTS", json.dumps([f"agent{i}" for i in range(101)]), "101 entries; at most 100"),
    ("SCANNER_CLICK_SECONDS", "-1", "SCANNER_CLICK_SECONDS"),
    ("SCANNER_BURST_LINKS", "1", "SCANNER_BURST_LINKS"),
    # Moving editions to another weekday alone: the error says what else to change, and to what.
    ("EDITION_WEEKDAY", "thursday", "set EDITION_ANCHOR_DATE to a thursday as well, e.g. 2026-01-08"),
])
def test_a_bad_setting_is_named(fresh, name, value, expected):
    if value is None:
        fresh.delenv(name)
    else:
        fresh.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        get_settings()
    assert expected in str(raised.value)


def test_the_cli_fails_at_start_naming_the_setting(monkeypatch):
    monkeypatch.setenv("PUBLICATION_TZ", "Nowhere/Else")
    result = subprocess.run([sys.executable, "-m", "digest", "feeds", "list"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "PUBLICATION_TZ" in result.stderr and "Traceback" not in result.stderr
