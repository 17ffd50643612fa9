"""All checks, in the order an operator fixes things: settings, database, Redis, processes,
SendGrid. The last results are kept in Redis for the ops page and /metrics."""

from __future__ import annotations

import json
import time

from digest.config import get_settings
from digest.doctor import database, processes, redis_server, sendgrid_account, settings_checks
from digest.doctor.model import Check
from digest.redis_clients import write_quietly

RESULTS_KEY = "digest:ops:doctor"  # JSON of the last run: {"at": epoch, "checks": [...]}


def run_checks() -> list[Check]:
    settings = get_settings()
    found = settings_checks.checks(settings) + database.checks(settings) + redis_server.checks(settings)
    if not any(check.name == "redis_reachable" and check.state == "error" for check in found):
        found += processes.checks(settings)
    return found + sendgrid_account.checks(settings)


def record(found: list[Check], at: float | None = None) -> None:
    entry = json.dumps({"at": time.time() if at is None else at, "checks": [check.as_dict() for check in found]})
    write_quietly(lambda client: client.set(RESULTS_KEY, entry))
