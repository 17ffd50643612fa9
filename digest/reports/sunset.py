"""List hygiene beyond bounces and complaints: readers who were delivered each of the last N
editions and neither opened nor clicked any, as far as people go. Machines' opens and clicks
(Apple Mail's prefetch, link scanners) show nothing either way, so a reader with only those is
listed apart, as "unknown": not active, and not inactive either. Inactive addresses hurt
deliverability (mailbox providers read silence as disinterest), so a publisher may pause them; the
unknown ones are paused only by a separate, explicit choice (Apple Mail fetches their messages
whether or not they read them, and many of them do). A paused reader gets nothing until they
untick the pause on their preferences page, and each pause is in the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, aliased

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import Conflict, InputError
from digest.ledger.states import delivered_in_each
from digest.reports.trends import sent_edition_ids
from digest.store.models import Delivery, ReaderMark, Subscriber, SubscriberStatus
from digest.subscribers.audit import audit
from digest.subscribers.lifecycle import not_paused


# What shows a person read the edition: a person's open or click, or one nobody can tell (kept
# before classification, or an open SendGrid gave no machine flag), never a machine's.
PEOPLE = ("human:event:open", "unknown:event:open", "human:event:click", "unknown:event:click")
MACHINES = ("machine:event:open", "machine:event:click")


def _marked(marks: tuple[str, ...], ids: list[int]):
    theirs = aliased(Delivery)
    return (select(ReaderMark.delivery_id).join(theirs, theirs.id == ReaderMark.delivery_id)
            .where(theirs.subscriber_id == Subscriber.id, theirs.edition_id.in_(ids), ReaderMark.mark.in_(marks))
            .exists())


def _inactive(session: Session, editions: int):
    """The query of inactive readers over the last `editions` sent editions (None: too few sent),
    each with whether machines opened or clicked their messages (`machine_only`)."""
    ids = sent_edition_ids(session, editions)
    if len(ids) < editions:
        return None, ids
    query = (
        select(Subscriber.id, Subscriber.email, Subscriber.confirmed_at, _marked(MACHINES, ids).label("machine_only"))
        .where(Subscriber.id.in_(delivered_in_each(ids)), Subscriber.status == SubscriberStatus.CONFIRMED,
               not_paused(), ~_marked(PEOPLE, ids)))
    return query, ids


# Whom a pause takes: readers with no activity at all, or those with only machines' ("unknown").
INACTIVE, UNKNOWN = "none", "unknown"


@dataclass
class SunsetView:
    total: int  # readers listed: inactive and unknown
    machine_only: int  # of them, readers whose messages only machines opened or clicked ("unknown")
    readers: list[dict]  # the first of them
    judged: bool  # whether enough editions went out to judge

    @property
    def inactive(self) -> int:
        """Readers no one, person or machine, opened or clicked for: the ones "Pause" takes."""
        return self.total - self.machine_only


def sunset_readers(session: Session, editions: int, limit: int = 200) -> SunsetView:
    query, _ = _inactive(session, editions)
    if query is None:
        return SunsetView(0, 0, [], False)
    inactive = query.subquery()
    total, machine_only = session.execute(select(
        func.count(), func.coalesce(func.sum(case((inactive.c.machine_only, 1), else_=0)), 0))).one()
    rows = session.execute(query.order_by(Subscriber.id).limit(limit)).all()
    return SunsetView(total, int(machine_only), [
        {"id": r.id, "email": r.email, "confirmed_at": r.confirmed_at,
         "activity": "unknown" if r.machine_only else "none"} for r in rows], True)


def pause_inactive(session: Session, editions: int, *, by: str, activity: str = INACTIVE, source: str = "web",
                   ip: str | None = None, now: dt.datetime | None = None) -> int:
    """Pause the readers the sunset view lists now with `activity`: INACTIVE (no open or click at
    all), or, as a choice of its own, UNKNOWN (only machines'); returns how many. Each pause is
    audited with the activity it was chosen by."""
    if activity not in (INACTIVE, UNKNOWN):
        raise InputError(f"readers {activity[:20]!r} must be {INACTIVE!r} or {UNKNOWN!r}")
    settings = get_settings()
    if not (settings.TRACK_OPENS or settings.TRACK_CLICKS):
        raise Conflict("opens and clicks are not tracked (TRACK_OPENS and TRACK_CLICKS are off): every reader "
                       "would look inactive, so no one is paused")
    query, ids = _inactive(session, editions)
    if query is None:
        raise Conflict(f"only {len(ids)} editions have gone out; the sunset view needs {editions}")
    now = now or utcnow()
    machine_only = _marked(MACHINES, ids)
    readers = session.execute(query.where(machine_only if activity == UNKNOWN else ~machine_only)).all()
    chosen = [reader.id for reader in readers]
    for start in range(0, len(chosen), 1000):
        session.execute(update(Subscriber).where(Subscriber.id.in_(chosen[start:start + 1000]))
                        .values(paused=True, paused_until=None).execution_options(synchronize_session=False))
    for reader in readers:
        audit(session, "sunset_pause", email=reader.email, source=source, subscriber_id=reader.id, ip=ip,
              now=now, by=by, editions=editions, activity=activity)
    return len(chosen)
