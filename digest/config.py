"""All settings of the service, read from the environment (and an optional `.env`) in one place.

Nothing else in the project reads the environment: every part asks `get_settings()`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, BaseModel, EmailStr, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

DeliveryBackend = Literal["outbox", "sendgrid", "memory"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


# The one file of settings besides the environment; DIGEST_ENV_FILE="" reads none (tests).
ENV_FILE = os.environ.get("DIGEST_ENV_FILE", ".env") or None


class WarmupDay(BaseModel):
    """One day of an IP warm-up plan: at most `daily` messages that UTC day, `hourly` per hour (0: flat rate)."""
    daily: int = Field(ge=1)
    hourly: int = Field(default=0, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    DATABASE_URL: str = "sqlite:///var/digest.sqlite3"
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    SECRET_KEY: str = Field(min_length=16)
    # Rotating SECRET_KEY (digest/signing.py): the old key, accepted until the grace period ends.
    SECRET_KEY_PREVIOUS: str | None = Field(default=None, min_length=16)
    SECRET_KEY_PREVIOUS_UNTIL: dt.datetime | None = None
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
    # Subscriber ids per planning slice: each slice is planned by its own task (two at a time,
    # workers/tasks.py PLANNING_LANES), and its batches leave as soon as it is written.
    SEND_PLAN_SLICE_SIZE: int = Field(default=10_000, ge=1)
    # Global sending rate across all workers (0: no limit); per hour for IP warm-up.
    SEND_RATE_PER_SECOND: float = Field(default=0, ge=0)
    SEND_RATE_PER_HOUR: int = Field(default=0, ge=0)
    # An IP warm-up: day 1 of the plan is SEND_WARMUP_START (UTC); a JSON list of
    # {"daily": n, "hourly": n}, one per day; after its last day the flat rates above apply.
    SEND_WARMUP_START: dt.date | None = None
    SEND_WARMUP_PLAN: list[WarmupDay] = []
    # Failures (5xx, time-outs, dropped connections) a batch may retry; waiting for a rate limit
    # or a 429's reset is not a failure and spends none of these.
    SEND_MAX_RETRIES: int = Field(default=8, ge=0)
    # Retry n waits about base * 2**n seconds (with jitter, at most 10 minutes).
    SEND_RETRY_BASE_SECONDS: float = Field(default=5.0, gt=0)
    SEND_RECONCILE_INTERVAL_SECONDS: float = Field(default=60.0, gt=0)
    # A row claimed longer than this without an outcome: its worker died mid-request.
    SEND_STUCK_AFTER_SECONDS: int = Field(default=600, ge=1)
    # An edition sending with pending rows and no claim for this long lost its queue messages.
    SEND_STALL_AFTER_SECONDS: int = Field(default=300, ge=1)
    # Unknown rows no webhook event settled within this time are re-sent once by themselves when
    # the event webhook is configured and has reported on the edition; otherwise by an operator.
    SEND_UNKNOWN_RESEND_AFTER_MINUTES: float = Field(default=60, ge=0)
    # Hand batches to SendGrid this long before the send time, with send_at (at most 72 hours).
    SEND_SCHEDULE_AHEAD_MINUTES: int = Field(default=0, ge=0, le=72 * 60)
    SENDGRID_ASM_GROUP_ID: int | None = None
    # What SendGrid tracks in every edition (see docs/reports.md, "Tracking"): opens put a 1-pixel image in
    # the HTML part; clicks send each HTML link through SendGrid's redirect. Off: neither.
    TRACK_OPENS: bool = True
    TRACK_CLICKS: bool = True
    # The sunset view lists readers sent this many editions in a row with no open or click.
    SUNSET_EDITIONS: int = Field(default=12, ge=1, le=100)
    # Telling machines from people (docs/reports.md, "People and machines"): a click this soon
    # after its message was delivered is a scanner's; SCANNER_BURST_LINKS distinct links of one
    # message clicked within SCANNER_BURST_SECONDS are a scanner's; an open by an image proxy this
    # soon after delivery is the proxy's prefetch.
    SCANNER_CLICK_SECONDS: int = Field(default=10, ge=0, le=3600)
    SCANNER_BURST_LINKS: int = Field(default=3, ge=2, le=100)
    SCANNER_BURST_SECONDS: int = Field(default=2, ge=0, le=60)
    PROXY_OPEN_SECONDS: int = Field(default=10, ge=0, le=3600)
    # Parts of user agents (case ignored) that only machines send: link scanners, sandboxes and
    # HTTP libraries (a JSON list; each entry 3 to 100 characters, at most 100 entries).
    SCANNER_USER_AGENTS: list[str] = [
        "Barracuda", "Mimecast", "Proofpoint", "BingPreview", "HeadlessChrome", "PhantomJS",
        "python-requests", "python-urllib", "Go-http-client", "curl/", "Wget", "okhttp", "libwww-perl",
    ]
    # Parts of user agents of image proxies that fetch a message's images on arrival.
    IMAGE_PROXY_USER_AGENTS: list[str] = ["GoogleImageProxy", "YahooMailProxy"]
    # A reader's interest (their own clicks by topic, on their page for editors) covers this many
    # of the latest digests.
    INTEREST_EDITIONS: int = Field(default=12, ge=1, le=100)
    # Trends on the dashboard and /reports cover this many of the latest sent editions.
    REPORT_TREND_EDITIONS: int = Field(default=12, ge=2, le=100)
    # The Event Webhook's verification key (base64 DER, as SendGrid's settings show it).
    SENDGRID_WEBHOOK_PUBLIC_KEY: str | None = None
    WEBHOOK_MAX_AGE_SECONDS: int = Field(default=600, ge=1)
    # Beat applies kept webhook batches still unapplied after this long (their queue message was
    # lost); it looks that often too.
    WEBHOOK_SWEEP_AFTER_SECONDS: int = Field(default=60, ge=1)
    # Redis redelivers a message not acknowledged within this time (a worker killed mid-task).
    BROKER_VISIBILITY_TIMEOUT_SECONDS: int = Field(default=3600, ge=1)

    PUBLICATION_TZ: str = "America/New_York"
    # Biweekly cadence: editions go out every EDITION_PERIOD_DAYS from the anchor date, at the
    # send time in PUBLICATION_TZ; the draft is composed EDITION_CUTOFF_HOURS before that.
    EDITION_ANCHOR_DATE: dt.date = dt.date(2026, 1, 7)
    # Named so a mistyped anchor date fails at start instead of moving the send day.
    EDITION_WEEKDAY: Weekday = "wednesday"
    EDITION_SEND_TIME: dt.time = dt.time(9, 0)
    EDITION_PERIOD_DAYS: int = Field(default=14, ge=1)
    EDITION_CUTOFF_HOURS: int = Field(default=24, ge=0)
    # The first edition (no previous cutoff) looks back this far; a new feed's back catalogue stays out.
    EDITION_MAX_ARTICLE_AGE_DAYS: int = Field(default=28, ge=1)
    # Alerts: a new article on a topic a reader follows at pace "alert" is held this long (an
    # editor may edit or cancel it; articles arriving meanwhile join it), 0 sends at once; a
    # reader receives at most ALERT_MAX_PER_DAY alerts a day (local day in PUBLICATION_TZ); the
    # articles held back come with their first alert on a later day, or the digest if it is first.
    ALERT_HOLD_MINUTES: int = Field(default=30, ge=0)
    ALERT_MAX_PER_DAY: int = Field(default=2, ge=1)
    SECTION_ORDER: list[str] = [
        "Analytical Articles",
        "Feature Articles",
        "Field Reports",
        "News Digest",
    ]

    # Editor sessions: how long a login lasts; refused logins of an account within a window of
    # LOGIN_LOCKOUT_MINUTES that lock it for as long; failed login attempts per client IP in that
    # window (counted in Redis; without Redis only the account lock applies). Keep
    # LOGIN_MAX_FAILURES above twice LOGIN_ATTEMPTS_PER_IP so that one address cannot lock anyone out.
    SESSION_HOURS: int = Field(default=12, ge=1)
    LOGIN_MAX_FAILURES: int = Field(default=12, ge=1)
    LOGIN_LOCKOUT_MINUTES: int = Field(default=15, ge=1)
    LOGIN_ATTEMPTS_PER_IP: int = Field(default=5, ge=1)
    # Password checks running at once in one web process: each takes argon2's 64 MiB while it
    # runs. A login waits a moment for its turn, then is refused (503) with Retry-After.
    LOGIN_CONCURRENT_CHECKS: int = Field(default=4, ge=1)

    # Request bodies, refused with 413 while they stream (Content-Length checked first): the
    # webhook, subscriber CSV imports (API and page), and every other form or JSON request.
    WEBHOOK_MAX_BYTES: int = Field(default=20 * 1024 * 1024, ge=1024)
    IMPORT_MAX_BYTES: int = Field(default=50 * 1024 * 1024, ge=1024)
    REQUEST_MAX_BYTES: int = Field(default=1024 * 1024, ge=1024)
    # `digest serve` takes the client address from X-Forwarded-For/-Proto only when the direct
    # peer is one of these (comma-separated addresses or networks, e.g. "10.0.0.5,10.1.0.0/16");
    # empty: never, the peer's address is the client's.
    FORWARDED_ALLOW_IPS: str = ""
    # Threads of one `digest serve` process running the routes (anyio's default limiter, 40 unless
    # set): each holds the interpreter lock while it works, so past a few they only take turns and
    # a burst after a send waits longer for every request (bench/web_burst.py, one process: 128
    # requests/s with 40, 237 with 4; 4, 8 and 16 within the noise of one another). 8, not 4, so
    # that LOGIN_CONCURRENT_CHECKS password checks (a thread each, argon2's ~0.1 s) leave threads to
    # the readers. At most the database pool (20 connections): no thread waits for a connection.
    WEB_THREADS: int = Field(default=8, ge=1, le=20)

    FEED_POLL_INTERVAL_MINUTES: int = Field(default=30, ge=1)
    # Total time for one response (headers and body); connecting has its own, shorter limit.
    FEED_TIMEOUT_SECONDS: float = Field(default=20.0, gt=0)
    FEED_CONNECT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)
    FEED_MAX_BYTES: int = Field(default=10 * 1024 * 1024, ge=1024)
    # One request at a time per host, across every worker: how long a poll waits for the host
    # before it is deferred to a later tick instead of holding its worker.
    FEED_HOST_WAIT_SECONDS: float = Field(default=5.0, ge=0)
    # A feed that answers but has had nothing new for this many days is flagged stale.
    FEED_STALE_DAYS: int = Field(default=60, ge=1)
    # Feeds, their redirects and article pages are fetched from public addresses only; true lets
    # the poller reach loopback and private networks too (a development machine, the test suite).
    FEED_ALLOW_PRIVATE_ADDRESSES: bool = False

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

    # Operations: thresholds that turn into warnings (ops page, JSON, CLI exit code).
    OPS_QUEUE_WAITING_MAX: int = Field(default=5000, ge=0)
    OPS_QUEUE_OLDEST_MAX_SECONDS: float = Field(default=600.0, gt=0)
    # Workers heartbeat every 2 seconds; one silent this long is shown as lost.
    OPS_WORKER_LOST_AFTER_SECONDS: float = Field(default=30.0, gt=0)
    # Beat is silent too long when it misses the tick it announced by more than this.
    OPS_BEAT_GRACE_SECONDS: float = Field(default=120.0, ge=0)
    # Share of a task's runs in the last hour that failed, above which it warns (0 to 1).
    OPS_FAILURE_RATIO_MAX: float = Field(default=0.2, ge=0, le=1)
    OPS_FAILURES_KEPT: int = Field(default=100, ge=1, le=10000)
    # Seconds between the ops page's updates in place (while its tab is visible).
    OPS_PAGE_REFRESH_SECONDS: int = Field(default=15, ge=2)
    # The pre-send checklist warns (approval asks to confirm) when SpamAssassin scores an edition
    # above this; SpamAssassin itself calls 5.0 spam, and mailbox providers filter well below it.
    CHECKLIST_SPAM_SCORE_MAX: float = Field(default=2.5, ge=0)
    # The DNS server `digest doctor` asks about the sender's domain ("address" or "address:port",
    # e.g. an authoritative server, to see records before caches do); empty: the system's resolver,
    # and no DNS check on a development machine (PUBLIC_BASE_URL on loopback).
    DOCTOR_DNS_SERVER: str = ""
    # Log lines of web, workers and beat: "plain" text, or "json" (one object per line, for a log
    # shipper; digest/ops/logs.py).
    LOG_FORMAT: Literal["plain", "json"] = "plain"

    @field_validator("SCANNER_USER_AGENTS", "IMAGE_PROXY_USER_AGENTS")
    @classmethod
    def _agent_parts(cls, value: list[str]) -> list[str]:
        # Each entry is matched against every open and click: bounded, and never so short that
        # it would match people's browsers by accident.
        if len(value) > 100:
            raise ValueError(f"{len(value)} entries; at most 100")
        for part in value:
            if not 3 <= len(part.strip()) <= 100:
                raise ValueError(f"entry {part[:40]!r} must be 3 to 100 characters")
        return [part.strip() for part in value]

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

    @field_validator("FORWARDED_ALLOW_IPS")
    @classmethod
    def _addresses(cls, value: str) -> str:
        import ipaddress

        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("DOCTOR_DNS_SERVER")
    @classmethod
    def _dns_server(cls, value: str) -> str:
        if value.strip():
            dns_server_address(value)
        return value.strip()

    @field_validator("SENDGRID_WEBHOOK_PUBLIC_KEY")
    @classmethod
    def _loadable_key(cls, value: str | None) -> str | None:
        if value:
            from sendgrid.helpers.eventwebhook import EventWebhook

            try:
                EventWebhook().convert_public_key_to_ecdsa(value.strip())
            except (ValueError, TypeError) as exc:
                raise ValueError("is not a base64 ECDSA public key") from exc
        return value.strip() if value else None

    @model_validator(mode="after")
    def _anchor_on_weekday(self) -> "Settings":
        # Both name the weekday (the anchor fixes which weeks are edition weeks): to move the
        # editions, both change together; the error names the anchor date that would fit.
        actual = WEEKDAYS[self.EDITION_ANCHOR_DATE.weekday()]
        if actual != self.EDITION_WEEKDAY:
            shift = (WEEKDAYS.index(self.EDITION_WEEKDAY) - self.EDITION_ANCHOR_DATE.weekday()) % 7
            fitting = self.EDITION_ANCHOR_DATE + dt.timedelta(days=shift)
            raise ValueError(f"EDITION_ANCHOR_DATE {self.EDITION_ANCHOR_DATE} is a {actual}, not a "
                             f"{self.EDITION_WEEKDAY} (EDITION_WEEKDAY): to send on {self.EDITION_WEEKDAY}s, "
                             f"set EDITION_ANCHOR_DATE to a {self.EDITION_WEEKDAY} as well, e.g. {fitting}")
        return self

    @model_validator(mode="after")
    def _warmup_plan_fits(self) -> "Settings":
        if self.SEND_WARMUP_PLAN and self.SEND_WARMUP_START is None:
            raise ValueError("SEND_WARMUP_START is required when SEND_WARMUP_PLAN is set")
        for number, day in enumerate(self.SEND_WARMUP_PLAN, start=1):
            if day.daily < self.SEND_BATCH_SIZE:
                raise ValueError(f"SEND_WARMUP_PLAN day {number} allows {day.daily} a day, fewer than one batch "
                                 f"(SEND_BATCH_SIZE={self.SEND_BATCH_SIZE}); lower SEND_BATCH_SIZE")
        return self

    @model_validator(mode="after")
    def _rotation_has_an_end(self) -> "Settings":
        if self.SECRET_KEY_PREVIOUS and self.SECRET_KEY_PREVIOUS_UNTIL is None:
            raise ValueError("SECRET_KEY_PREVIOUS_UNTIL (when the old key stops being accepted, e.g. "
                             "2027-03-01T00:00Z) is required when SECRET_KEY_PREVIOUS is set")
        if self.SECRET_KEY_PREVIOUS_UNTIL is not None and self.SECRET_KEY_PREVIOUS_UNTIL.tzinfo is None:
            raise ValueError(f"SECRET_KEY_PREVIOUS_UNTIL {self.SECRET_KEY_PREVIOUS_UNTIL.isoformat()} needs a "
                             "time zone, e.g. 2027-03-01T00:00Z")
        return self

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


def dns_server_address(value: str) -> tuple[str, int]:
    """"192.0.2.53", "192.0.2.53:5353" or "[2001:db8::53]:5353" as (address, port); ValueError
    naming the value otherwise."""
    import ipaddress

    text = value.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            port = "none"  # "[::1" or "[::1]x": refused below
        else:
            port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address with an optional :port") from None
    if not 1 <= number <= 65535:
        raise ValueError(f"{value!r}: port {number} is not 1 to 65535")
    return str(address), number


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
    except SettingsError as exc:  # a list setting (SECTION_ORDER, SEND_WARMUP_PLAN) that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        raise ConfigError(f"invalid configuration: {found.group(1) if found else 'a list setting'}: "
                          "is not valid JSON (a list, e.g. [\"a\", \"b\"])") from None
    except RecursionError:  # JSON nested deeper than the parser's stack, in one of the list settings
        lists = " or ".join(name for name, field in Settings.model_fields.items() if get_origin(field.annotation) is list)
        raise ConfigError(f"invalid configuration: {lists}: is nested too deeply to read") from None
