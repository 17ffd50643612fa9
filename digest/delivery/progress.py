"""How far a send has come, for editors and operators: counts by state, throughput and an
estimate of the time left, from the delivery rows and the edition's start time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.delivery.send import delivery_counts
from digest.store.models import DeliveryStatus, Edition

# Rows still waiting for a worker (or for an operator, when unknown).
WAITING = {s.value for s in DeliveryStatus.unfinished()}


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]
    total: int
    done: int  # handed over, failed or cancelled: no longer waiting
    per_minute: float | None  # handed over per minute since the start
    eta: dt.datetime | None

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    def as_dict(self) -> dict:
        return {"counts": self.counts, "total": self.total, "done": self.done, "percent": self.percent,
                "per_minute": self.per_minute, "eta": self.eta.isoformat() if self.eta else None}


def send_progress(session: Session, edition: Edition, now: dt.datetime | None = None) -> Progress:
    now = now or utcnow()
    counts = delivery_counts(session, edition.id)
    total = sum(counts.values())
    waiting = sum(count for status, count in counts.items() if status in WAITING)
    done = total - waiting
    per_minute = eta = None
    end = edition.sent_at or now
    if edition.started_at is not None and done:
        minutes = max((end - edition.started_at).total_seconds() / 60, 1 / 60)
        per_minute = round(done / minutes, 1)
        if waiting and edition.sent_at is None:
            eta = now + dt.timedelta(minutes=waiting / per_minute)
    return Progress(counts=counts, total=total, done=done, per_minute=per_minute, eta=eta)
