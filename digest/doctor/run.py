"""All checks, in the order an operator fixes things: settings, database, Redis, processes,
SendGrid, DNS. The last results are kept in Redis for the ops page and /metrics."""

from __future__ import annotations

from digest.config import get_settings
from digest.doctor import database, dns_records, processes, redis_server, sendgrid_account, settings_checks
from digest.doctor.model import Check
from digest.ops.records import record_doctor


def run_checks() -> list[Check]:
    settings = get_settings()
    found = settings_checks.checks(settings) + database.checks(settings) + redis_server.checks(settings)
    if not any(check.name == "redis_reachable" and check.state == "error" for check in found):
        found += processes.checks(settings)
    cnames: dict[str, str] = {}  # what SendGrid asks the sender's domain to publish
    found += sendgrid_account.checks(settings, records=cnames)
    return found + dns_records.checks(settings, cnames)


def record(found: list[Check]) -> None:
    record_doctor([check.as_dict() for check in found])
