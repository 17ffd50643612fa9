"""List hygiene beyond bounces and complaints: readers who were delivered each of the last N
editions and neither opened nor clicked any. Inactive addresses hurt deliverability (mailbox
providers read silence as disinterest), so a publisher may pause them; a paused reader gets
nothing until they untick the pause on their preferences page, and each pause is in the audit log.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from digest.clock import utcnow
from digest.errors import Conflict
from digest.ledger.states import delivered_in_each
from digest.reports.trends import sent_editions
from digest.store.models import Delivery, ReaderMark, Subscriber, SubscriberStatus
from digest.subscribers.audit import audit
from digest.subscribers.lifecycle import not_paused


def _inactive(session: Session, editions: int):
    """The query of inactive readers over the last `editions` sent editions (None: too few sent)."""
    ids = [edition.id for edition in sent_editions(session, editions)]
    if len(ids) < editions:
        return None, ids
    # Any open or click of any of those editions (each delivery's first is marked once).
    theirs = aliased(Delivery)
    engaged = (select(ReaderMark.delivery_id).join(theirs, theirs.id == ReaderMark.delivery_id)
               .where(theirs.subscriber_id == Subscriber.id, theirs.edition_id.in_(ids),
                      ReaderMark.mark.in_(("event:open", "event:click"))).exists())
    query = (
        select(Subscriber.id, Subscriber.email, Subscriber.confirmed_at)
        .where(Subscriber.id.in_(delivered_in_each(ids)), Subscriber.status == SubscriberStatus.CONFIRMED,
               not_paused(), ~engaged))
    return query, ids


def sunset_readers(session: Session, editions: int, limit: int = 200) -> tuple[int, list[dict], bool]:
    """(how many, the first `limit` of them, whether enough editions went out to judge)."""
    query, _ = _inactive(session, editions)
    if query is None:
        return 0, [], False
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Subscriber.id).limit(limit)).all()
    return total, [{"id": r.id, "email": r.email, "confirmed_at": r.confirmed_at} for r in rows], True


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
