"""What a check reports, and when a finding is an error rather than a warning."""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Literal

from digest.config import Settings

State = Literal["ok", "warning", "error"]
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


@dataclass(frozen=True)
class Check:
    name: str  # stable, for scripts and the /metrics label: "redis_eviction"
    state: State
    found: str  # what the check saw, in a sentence
    fix: str = ""  # what to do about it; empty when ok

    def as_dict(self) -> dict:
        return asdict(self)


def ok(name: str, found: str) -> Check:
    return Check(name, "ok", found)


def is_production(settings: Settings) -> bool:
    """A set-up whose public address is not this machine's own serves readers: there a setting
    that is only untidy on a laptop (SQLite, the outbox, http) is an error."""
    host = (settings.PUBLIC_BASE_URL.host or "").strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def hurts(settings: Settings) -> State:
    """The state of a finding that is harmless in development and harmful in production."""
    return "error" if is_production(settings) else "warning"
