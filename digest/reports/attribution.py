"""Unsubscribes and preference changes made through an edition's links, credited to that edition.

The links in an edition carry `?e=<edition id>` next to the reader's signed token. The parameter
itself is not signed, so it is believed only where it names an edition this reader was sent: a
reader can at worst credit their own unsubscribe to another edition they received. The credit is
a row among the edition's events (one per delivery and action), so the report counts it with the
provider's events in the same grouped query.

A reader's one-click unsubscribe (unsubscribe_through_link) is the hot path: every reader who
leaves after a send, their mail client's POST often repeated. Its statements are made once, and a
repeat is one read that finds everything recorded and writes nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, and_, bindparam, cast, exists, literal, select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.reports.counting import count_events
from digest.ledger.writer import record_reader
from digest.store.models import Delivery, DeliveryEvent, Subscriber, SubscriberStatus, Suppression
from digest.store.upsert import insert_ignoring_duplicates, made_once
from digest.subscribers.lifecycle import unsubscribe

# Our own event names, beside SendGrid's "unsubscribe" and "group_unsubscribe".
WEB_ACTIONS = ("web_unsubscribe", "web_preferences")

_deliveries, _events = Delivery.__table__, DeliveryEvent.__table__
_subscribers, _suppressions = Subscriber.__table__, Suppression.__table__
_THEIRS = select(_deliveries.c.id, _deliveries.c.edition_id, _deliveries.c.email).where(
    _deliveries.c.edition_id == bindparam("edition_id"), _deliveries.c.subscriber_id == bindparam("subscriber_id"))
# What a one-click unsubscribe needs to know before it writes anything, in one statement: the
# reader's state and address, whether the address is suppressed, and their delivery of the
# edition the link names (none without `?e=`) with whether it has its credit (the event's id as
# _credit_delivery makes it). The suppression is looked up by address here and by hash when
# written: a forgotten person's entry keeps only the hash, so unsubscribe() runs, and its insert
# finds the entry and writes nothing.
_LEAVING = (
    select(_subscribers.c.status, _subscribers.c.email,
           exists().where(_suppressions.c.email == _subscribers.c.email).label("suppressed"),
           _deliveries.c.id.label("delivery_id"), _deliveries.c.edition_id, _deliveries.c.email.label("delivery_email"),
           exists().where(_events.c.provider_event_id
                          == literal("web_unsubscribe:", String) + cast(_deliveries.c.id, String)).label("credited"))
    .select_from(_subscribers.outerjoin(_deliveries, and_(_deliveries.c.subscriber_id == _subscribers.c.id,
                                                          _deliveries.c.edition_id == bindparam("edition_id"))))
    .where(_subscribers.c.id == bindparam("subscriber_id")))


def edition_query(edition_id: int) -> str:
    """What an edition's reader links carry so that an action through them is credited."""
    return f"?e={edition_id}"


def edition_of(edition_param: str | None) -> int | None:
    """The edition `?e=` names; None for a missing or unreadable parameter."""
    if not edition_param or not edition_param.isascii() or not edition_param.isdigit() or len(edition_param) > 9:
        return None
    return int(edition_param)


def unsubscribe_through_link(session: Session, subscriber_id: int, edition_param: str | None, *,
                             ip: str | None = None, now: dt.datetime | None = None) -> None:
    """A reader's one-click unsubscribe (RFC 8058) or the unsubscribe page's button: the reader
    unsubscribed and their address suppressed (lifecycle.unsubscribe), and the edition whose
    link it came through credited, each once however often and however nearly at once the POST
    arrives. What is recorded already is read first, without a lock (on PostgreSQL a row lock is
    a write, and its commit a wait for the log): a repeat writes nothing."""
    edition_id = edition_of(edition_param)
    found = session.execute(_LEAVING, {"subscriber_id": subscriber_id, "edition_id": edition_id}).first()
    if found is None:
        return  # forgotten since the link was sent
    if found.status != SubscriberStatus.UNSUBSCRIBED or not found.suppressed:
        unsubscribe(session, subscriber_id, source="web", ip=ip, now=now)
    if edition_id is None or found.credited:
        return
    if found.delivery_id is None:  # not sent it, or its row not written yet (credit_edition writes it)
        credit_edition(session, subscriber_id, edition_param, "web_unsubscribe", now)
    else:
        _credit_delivery(session, found.delivery_id, found.edition_id, found.delivery_email, subscriber_id,
                         "web_unsubscribe", now)


def credit_edition(session: Session, subscriber_id: int, edition_param: str | None, action: str,
                   now: dt.datetime | None = None) -> bool:
    """Credit `action` to the edition `edition_param` names, if this reader was sent it. A missing
    or unreadable parameter credits nothing and is no error: the reader's action stands."""
    if action not in WEB_ACTIONS:
        raise ValueError(f"unknown reader action {action!r}")
    edition_id = edition_of(edition_param)
    if edition_id is None:
        return False
    theirs = {"edition_id": edition_id, "subscriber_id": subscriber_id}
    delivery = session.execute(_THEIRS, theirs).first()
    if delivery is None and record_reader(session, subscriber_id, edition_id):
        delivery = session.execute(_THEIRS, theirs).first()
    if delivery is None:
        return False
    _credit_delivery(session, delivery.id, delivery.edition_id, delivery.email, subscriber_id, action, now)
    return True


@made_once
def _credit(session: Session):
    return insert_ignoring_duplicates(session, _events).returning(_events.c.id)


def _credit_delivery(session: Session, delivery_id: int, edition_id: int, email: str, subscriber_id: int,
                     action: str, now: dt.datetime | None) -> None:
    """The action's event of this delivery, counted if it is new (one per delivery and action)."""
    now = now or utcnow()
    row = dict(delivery_id=delivery_id, provider_event_id=f"{action}:{delivery_id}", event=action, email=email,
               payload={}, occurred_at=now, received_at=now, edition_id=edition_id, subscriber_id=subscriber_id)
    if session.execute(_credit(session), row).first() is not None:
        count_events(session, [row])
