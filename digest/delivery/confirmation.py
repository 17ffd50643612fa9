"""The double opt-in email: templates/email/confirm/, with a signed link that expires after
CONFIRM_TOKEN_DAYS, sent through the configured delivery backend (by a task, after the sign-up
commits)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.message import Sender
from digest.delivery.transactional import send_transactional
from digest.editions.render import TransactionalMail, render_message
from digest.store.models import Subscriber
from digest.subscribers.audit import audit
from digest.subscribers.tokens import CONFIRM, make_token


def confirm_url(subscriber_id: int, now: dt.datetime | None = None) -> str:
    return f"{get_settings().base_url}/confirm/{make_token(CONFIRM, subscriber_id, now)}"


def confirmation_email(subscriber: Subscriber, now: dt.datetime | None = None) -> TransactionalMail:
    settings = get_settings()
    return render_message("confirm", {
        "email": subscriber.email,
        "name": subscriber.name,
        "confirm_url": confirm_url(subscriber.id, now),
        "days": settings.CONFIRM_TOKEN_DAYS,
        "archive_url": f"{settings.base_url}/archive",
        "postal_address": settings.POSTAL_ADDRESS,
    })


def send_confirmation(session: Session, subscriber_id: int, sender: Sender,
                      now: dt.datetime | None = None) -> str | None:
    """Send a fresh confirmation link; None when the subscriber is gone (forgotten meanwhile)."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return None
    now = now or utcnow()
    message_id = send_transactional(
        sender, to=subscriber.email, name=subscriber.name, rendered=confirmation_email(subscriber, now),
        category="confirm", custom_args={"subscriber_id": str(subscriber.id)},
    )
    audit(session, "confirmation_sent", email=subscriber.email, source="worker",
          subscriber_id=subscriber.id, now=now, message_id=message_id)
    return message_id
