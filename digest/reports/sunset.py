"""List hygiene beyond bounces and complaints: readers who were delivered each of the last N
editions and neither opened nor clicked any, as far as people go: machines' opens and clicks
(Apple Mail's prefetch, link scanners) show nobody read it, so a reader with only those is listed
too, as "unknown", and counted apart. Inactive addresses hurt deliverability (mailbox
providers read silence as disinterest), so a publisher may pause them; a paused reader gets
nothing until they untick the pause on their preferences page, and each pause is in the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, aliased

from digest.clock import utcnow
from digest.errors import Conflict
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


@dataclass
class SunsetView:
    total: int  # inactive readers
    machine_only: int  # of them, readers whose messages only machines opened or clicked ("unknown")
    readers: list[dict]  # the first of them
    judged: bool  # whether enough editions went out to judge


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


def pause_inactive(session: Session, editions: int, *, by: str, source: str = "web",
                   ip: str | None = None, now: dt.datetime | None = None) -> int:
    """Pause every reader the sunset view lists now; returns how many. Each pause is audited."""
    query, ids = _inactive(session, editions)
    if query is None:
        raise Conflict(f"only {len(ids)} editions have gone out; the sunset view needs {editions}")
    now = now or utcnow()
    readers = session.execute(query).all()
    chosen = [reader.id for reader in readers]
    for start in range(0, len(chosen), 1000):
        session.execute(update(Subscriber).where(Subscriber.id.in_(chosen[start:start + 1000]))
                        .values(paused=True, paused_until=None).execution_options(synchronize_session=False))
    for reader in readers:
        audit(session, "sunset_pause", email=reader.email, source=source, subscriber_id=reader.id, ip=ip,
              now=now, by=by, editions=editions)
    return len(chosen)
