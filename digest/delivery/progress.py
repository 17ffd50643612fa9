"""How far a send has come: counts by state, throughput and an estimate of the time left. The
one place these figures are computed: the edition page, the dashboard, the ops page, the JSON
API and `digest ops status` all show what this returns, so they never disagree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.sendrate import expected_finish, limits_on
from digest.ledger.states import handed_over_between, reader_counts
from digest.store.models import Delivery, DeliveryEvent, DeliveryStatus, Edition, Subscriber
from digest.subscribers.lifecycle import eligible_readers

# Rows still waiting for a worker (or for an operator, when unknown).
WAITING = {s.value for s in DeliveryStatus.unfinished()}
# Throughput is measured over this window (or since the start, if sooner); the ETA assumes it holds.
THROUGHPUT_WINDOW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # rows by state (states with none left out)
    total: int
    done: int  # handed over, failed or cancelled: no longer waiting
    per_minute: float | None  # handed over per minute, recently (or over the whole send once sent)
    eta: dt.datetime | None
    resent: int = 0  # unknown rows re-sent by themselves (no provider event came for them)
    maybe_twice: int = 0  # of those, readers a late event shows the first attempt reached too

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    def as_dict(self) -> dict:
        return {"counts": self.counts, "total": self.total, "done": self.done, "percent": self.percent,
                "per_minute": self.per_minute, "eta": self.eta.isoformat() if self.eta else None,
                "resent": self.resent, "maybe_twice": self.maybe_twice}


def _per_minute(session: Session, edition: Edition, now: dt.datetime) -> float | None:
    if edition.started_at is None:
        return None
    if edition.sent_at is not None:  # finished: the whole send's rate
        since, until = edition.started_at, edition.sent_at
        count = handed_over_between(session, edition.id, None)
    else:
        since, until = max(edition.started_at, now - THROUGHPUT_WINDOW), now
        count = handed_over_between(session, edition.id, since)
    if not count:
        return None
    return round(count / max((until - since).total_seconds() / 60, 1 / 60), 1)


def _copies(session: Session, edition_id: int) -> tuple[int, int]:
    """Rows re-sent by themselves, and of those how many a provider event for another message
    (the first attempt, which did get through after all) shows went out twice."""
    resent = session.execute(select(Delivery.id, Delivery.message_id).where(
        Delivery.edition_id == edition_id, Delivery.resent_at.is_not(None))).all()
    if not resent:
        return 0, 0
    current = dict(resent)
    twice = set()
    for delivery_id, payload in session.execute(select(DeliveryEvent.delivery_id, DeliveryEvent.payload).where(
            DeliveryEvent.delivery_id.in_(list(current)))):
        message = str((payload or {}).get("sg_message_id") or "").partition(".")[0]
        if message and message != current[delivery_id]:
            twice.add(delivery_id)
    return len(resent), len(twice)


def send_progress(session: Session, edition: Edition, now: dt.datetime | None = None) -> Progress:
    now = now or utcnow()
    counts = reader_counts(session, edition.id)
    total = sum(counts.values())
    waiting = sum(count for status, count in counts.items() if status in WAITING)
    per_minute = _per_minute(session, edition, now)
    eta = None
    if waiting and edition.sent_at is None and per_minute:
        eta = now + dt.timedelta(minutes=waiting / per_minute)
        # A rate limit or warm-up day ahead may hold the rest back longer than the recent pace says.
        settings = get_settings()
        eta = max(eta, expected_finish(waiting, now, settings.SEND_BATCH_SIZE,
                                       lambda day: limits_on(day, settings)))
    resent, twice = _copies(session, edition.id)
    return Progress(counts=counts, total=total, done=total - waiting, per_minute=per_minute, eta=eta,
                    resent=resent, maybe_twice=twice)


@dataclass(frozen=True)
class PlannedSend:
    readers: int
    start: dt.datetime
    finish: dt.datetime  # when the last batch is handed over, under the limits of each day

    @property
    def limited(self) -> bool:
        return self.finish > self.start


def planned_send(session: Session, edition: Edition, now: dt.datetime | None = None) -> PlannedSend:
    """Before approval: how many readers the edition would go to and when the send would end,
    started at its send time under the sending limits (the flat rates or the warm-up plan)."""
    settings = get_settings()
    start = max(edition.send_at, now or utcnow())
    # Those who receive it when it starts: a reader's pause that ends before then is over.
    readers = session.scalar(select(func.count()).select_from(Subscriber).where(eligible_readers(start)))
    return PlannedSend(readers, start, expected_finish(readers, start, settings.SEND_BATCH_SIZE,
                                                       lambda day: limits_on(day, settings)))
