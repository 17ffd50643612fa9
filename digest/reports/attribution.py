"""Unsubscribes and preference changes made through an edition's links, credited to that edition.

The links in an edition carry `?e=<edition id>` next to the reader's signed token. The parameter
itself is not signed, so it is believed only where it names an edition this reader was sent: a
reader can at worst credit their own unsubscribe to another edition they received. The credit is
a row among the edition's events (one per delivery and action), so the report counts it with the
provider's events in the same grouped query.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.reports.counting import count_events
from digest.ledger.writer import record_reader
from digest.store.models import Delivery, DeliveryEvent
from digest.store.upsert import insert_ignoring_duplicates

# Our own event names, beside SendGrid's "unsubscribe" and "group_unsubscribe".
WEB_ACTIONS = ("web_unsubscribe", "web_preferences")


def edition_query(edition_id: int) -> str:
    """What an edition's reader links carry so that an action through them is credited."""
    return f"?e={edition_id}"


def credit_edition(session: Session, subscriber_id: int, edition_param: str | None, action: str,
                   now: dt.datetime | None = None) -> bool:
    """Credit `action` to the edition `edition_param` names, if this reader was sent it. A missing
    or unreadable parameter credits nothing and is no error: the reader's action stands."""
    if action not in WEB_ACTIONS:
        raise ValueError(f"unknown reader action {action!r}")
    if not edition_param or not edition_param.isascii() or not edition_param.isdigit() or len(edition_param) > 9:
        return False
    edition_id = int(edition_param)
    theirs = select(Delivery.id, Delivery.edition_id, Delivery.email).where(
        Delivery.edition_id == edition_id, Delivery.subscriber_id == subscriber_id)
    delivery = session.execute(theirs).first()
    if delivery is None and record_reader(session, subscriber_id, edition_id):
        delivery = session.execute(theirs).first()
    if delivery is None:
        return False
    now = now or utcnow()
    row = dict(delivery_id=delivery.id, provider_event_id=f"{action}:{delivery.id}", event=action,
               email=delivery.email, payload={}, occurred_at=now, received_at=now,
               edition_id=delivery.edition_id, subscriber_id=subscriber_id)
    kept = session.execute(insert_ignoring_duplicates(session, DeliveryEvent.__table__).values(**row)
                           .returning(DeliveryEvent.id)).first()
    if kept is not None:
        count_events(session, [row])
    return True
