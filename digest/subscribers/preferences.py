"""A reader's preferences, set through the signed link in every email: the sections they want,
HTML (with its text part) or text only, and a pause. Stored on the subscriber; the next edition
that is planned reads them (paused readers are not planned at all)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import InputError, NotFound
from digest.store.models import Subscriber, SubscriberFormat
from digest.subscribers.audit import audit


def get_subscriber(session: Session, subscriber_id: int) -> Subscriber:
    """The reader's row: the session's own if it holds it already (a route that changed the reader
    shows them without reading them again), else read by a statement made once (Session.get
    builds its SELECT anew each time and derives the statement cache's key from it: about a
    quarter of what reading the reader cost every preference page)."""
    if session.identity_key(Subscriber, subscriber_id) in session.identity_map:
        subscriber = session.get(Subscriber, subscriber_id)  # also reloads it if it has expired
    else:
        subscriber = session.scalars(_subscriber_statement(), {"subscriber_id": subscriber_id}).one_or_none()
    if subscriber is None:
        raise NotFound("this subscription no longer exists")
    return subscriber


@lru_cache(maxsize=1)
def _subscriber_statement():
    # Without autoflush, as Session.get: reading the reader flushes nothing pending.
    return (select(Subscriber).where(Subscriber.id == bindparam("subscriber_id"))
            .execution_options(autoflush=False))


def paused_now(subscriber: Subscriber, now: dt.datetime | None = None) -> bool:
    """Whether nothing is sent to this reader now (the rule of lifecycle.eligible_readers): a
    pause with an end is over once its end has passed."""
    return subscriber.paused and (subscriber.paused_until is None or subscriber.paused_until > (now or utcnow()))


def chosen_sections(subscriber: Subscriber) -> list[str]:
    """The sections a reader receives, in edition order (stored empty means all of them)."""
    order = get_settings().SECTION_ORDER
    return [s for s in order if s in subscriber.sections] if subscriber.sections else list(order)


def update_preferences(session: Session, subscriber_id: int, *, sections: list[str], format: str,  # noqa: A002
                       paused: bool, source: str = "web", ip: str | None = None,
                       now: dt.datetime | None = None) -> Subscriber:
    """Validate and store; bad input raises InputError naming it and changes nothing."""
    order = get_settings().SECTION_ORDER
    unknown = [s for s in sections if s not in order]
    if unknown:
        raise InputError(f"section {unknown[0]!r} is not one of: {', '.join(order)}")
    if not sections:
        raise InputError("choose at least one section (or pause, or unsubscribe)")
    try:
        chosen_format = SubscriberFormat(format)
    except ValueError:
        raise InputError(f"format {format!r} must be html or text") from None
    subscriber = get_subscriber(session, subscriber_id)
    # Every section is stored as "all", so that a section added later reaches these readers too.
    stored = [] if set(sections) == set(order) else [s for s in order if s in sections]
    # The box shows the pause as it is now: ticked and left ticked keeps a pause's end; ticked
    # anew pauses until the reader unticks it; unticked ends any pause.
    was_paused = paused_now(subscriber, now)
    before = {"sections": subscriber.sections, "format": subscriber.format.value, "paused": was_paused}
    after = {"sections": stored, "format": chosen_format.value, "paused": paused}
    if before != after:
        subscriber.sections, subscriber.format, subscriber.paused = stored, chosen_format, paused
        if paused != was_paused:
            subscriber.paused_until = None
        changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
        audit(session, "preferences", email=subscriber.email, source=source, subscriber_id=subscriber.id,
              ip=ip, now=now, changes=changes)
    return subscriber
