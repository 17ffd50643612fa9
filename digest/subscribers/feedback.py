"""What the provider tells us about a reader's address, applied to the subscription store.

Called for each new webhook event that names an address: spam reports and unsubscribes end the
subscription at once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.store.models import Subscriber
from digest.subscribers.lifecycle import unsubscribe

ENDS_SUBSCRIPTION = {"spamreport", "unsubscribe", "group_unsubscribe"}


def record_provider_feedback(session: Session, email: str, event: str, details: dict) -> None:
    if event not in ENDS_SUBSCRIPTION:
        return
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == email.strip().lower()))
    if subscriber_id is not None:
        unsubscribe(session, subscriber_id)
