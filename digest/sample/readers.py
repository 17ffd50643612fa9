"""Invented confirmed readers in bulk, for the benchmarks and the tests alike (one way to seed a
list of any size: COPY on PostgreSQL, so a million readers take seconds, not minutes)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.store.bulk import write_rows
from digest.store.models import Subscriber

COLUMNS = ("email", "name", "status", "sections", "format", "paused", "attributes", "confirmed_at", "created_at",
           "soft_bounces")


def reader_email(number: int, domain: str = "readers.example.org") -> str:
    return f"reader{number:07d}@{domain}"


def add_readers(session: Session, count: int, domain: str = "readers.example.org", first: int = 0,
                now: dt.datetime | None = None) -> int:
    """`count` confirmed readers of every section, named "Reader N", numbered from `first`."""
    now = now or utcnow()
    added = 0
    for start in range(first, first + count, 50_000):  # a bounded list in memory on SQLite
        added += write_rows(session, Subscriber.__table__, COLUMNS, (
            (reader_email(n, domain), f"Reader {n}", "confirmed", [], "html", False, {}, now, now, 0)
            for n in range(start, min(start + 50_000, first + count))))
    return added
