"""All settings of the service, read from the environment (and an optional `.env`) in one place.

Nothing else in the project reads the environment: every part asks `get_settings()`.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, EmailStr, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DeliveryBackend = Literal["outbox", "sendgrid", "memory"]


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


# The one file of settings besides the environment; DIGEST_ENV_FILE="" reads none (tests).
ENV_FILE = os.environ.get("DIGEST_ENV_FILE", ".env") or None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    DATABASE_URL: str = "sqlite:///var/digest.sqlite3"
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    SECRET_KEY: str = Field(min_length=16)
    PUBLIC_BASE_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")

    FROM_EMAIL: EmailStr = "digest@localhost.localdomain"
    FROM_NAME: str = "The CACI Analyst"
    REPLY_TO_EMAIL: EmailStr | None = None
    # The mailto: half of List-Unsubscribe; defaults to FROM_EMAIL's domain.
    UNSUBSCRIBE_MAILTO: EmailStr | None = None
    POSTAL_ADDRESS: str = "Central Asia-Caucasus Institute, 1619 Massachusetts Ave NW, Washington, DC 20036"

    # None means: sendgrid when SENDGRID_API_KEY is set, else outbox.
    DELIVERY_BACKEND: DeliveryBackend | None = None
    OUTBOX_DIR: Path = Path("var/outbox")
    SENDGRID_API_KEY: str | None = None
    SENDGRID_API_HOST: AnyHttpUrl = AnyHttpUrl("https://api.sendgrid.com")
    SENDGRID_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    SEND_BATCH_SIZE: int = Field(default=1000, ge=1, le=1000)

    PUBLICATION_TZ: str = "America/New_York"
    # Biweekly cadence: editions go out every EDITION_PERIOD_DAYS from the anchor date, at the
    # send time in PUBLICATION_TZ; the draft is composed EDITION_CUTOFF_HOURS before that.
    EDITION_ANCHOR_DATE: dt.date = dt.date(2026, 1, 7)
    EDITION_SEND_TIME: dt.time = dt.time(9, 0)
    EDITION_PERIOD_DAYS: int = Field(default=14, ge=1)
    EDITION_CUTOFF_HOURS: int = Field(default=24, ge=0)
    SECTION_ORDER: list[str] = [
        "Analytical Articles",
        "Feature Articles",
        "Field Reports",
        "News Digest",
    ]

    FEED_POLL_INTERVAL_MINUTES: int = Field(default=30, ge=1)
    FEED_TIMEOUT_SECONDS: float = Field(default=20.0, gt=0)
    FEED_MAX_BYTES: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Sign-up. A confirmation link is valid this many days; unsubscribe and preferences links
    # never expire. The limits are counted in Redis (REDIS_URL), so they hold across web
    # processes: sign-up requests per client IP, and confirmation emails per address.
    CONFIRM_TOKEN_DAYS: int = Field(default=7, ge=1)
    SIGNUP_LIMIT_PER_IP: int = Field(default=10, ge=1)
    SIGNUP_IP_WINDOW_SECONDS: int = Field(default=3600, ge=1)
    CONFIRMATION_LIMIT_PER_ADDRESS: int = Field(default=3, ge=1)
    CONFIRMATION_ADDRESS_WINDOW_SECONDS: int = Field(default=86400, ge=1)
    # Look up the domain's MX/A records for public sign-ups (needs DNS; off in tests).
    SIGNUP_CHECK_DELIVERABILITY: bool = False
    # Soft bounces in a row that suppress an address.
    SOFT_BOUNCE_LIMIT: int = Field(default=3, ge=1)
    # Bearer token for the subscriber import/export API; unset disables those endpoints.
    # (Editor sessions and per-editor API tokens replace it in a later version.)
    API_TOKEN: SecretStr | None = Field(default=None, min_length=24)

    @field_validator("PUBLICATION_TZ")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @model_validator(mode="after")
    def _backend_has_key(self) -> "Settings":
        if self.DELIVERY_BACKEND is None:
            self.DELIVERY_BACKEND = "sendgrid" if self.SENDGRID_API_KEY else "outbox"
        if self.DELIVERY_BACKEND == "sendgrid" and not self.SENDGRID_API_KEY:
            raise ValueError("SENDGRID_API_KEY is required when DELIVERY_BACKEND is sendgrid")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.PUBLICATION_TZ)

    @property
    def base_url(self) -> str:
        return str(self.PUBLIC_BASE_URL).rstrip("/")

    @property
    def unsubscribe_mailto(self) -> str:
        if self.UNSUBSCRIBE_MAILTO:
            return str(self.UNSUBSCRIBE_MAILTO)
        return "unsubscribe@" + str(self.FROM_EMAIL).rpartition("@")[2]


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if item["type"] != "missing" else f"{name}: is required")
    return "invalid configuration: " + "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, validated once; a bad value raises ConfigError naming it."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
