"""The double opt-in email: templates/email/confirm/, with a signed link that expires after
CONFIRM_TOKEN_DAYS, sent through the configured delivery backend (by a task, after the sign-up
commits).

A sign-up from a public "Follow <topic>" page carries the follow asked for: the confirmation link
carries it too (signed, so nothing is stored until the address owner confirms), and a reader
already subscribed (confirmed, not suppressed) gets instead a link to their own signed follow page
for the topic (templates/email/follow/). A topic hidden or gone meanwhile is left out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.message import Sender
from digest.delivery.transactional import send_transactional
from digest.editions.render import TransactionalMail, render_message
from digest.errors import NotFound
from digest.store.models import Pace, Subscriber, SubscriberStatus, Topic
from digest.subscribers.audit import audit
from digest.subscribers.follows import public_topic
from digest.subscribers.suppressions import suppression_for
from digest.subscribers.tokens import CONFIRM, PREFERENCES, make_token


@dataclass(frozen=True)
class AskedFollow:
    """The follow a public "Follow <topic>" page asked for, as the confirmation task receives it."""
    topic_id: int
    pace: str  # digest or alert, checked by the page
    edition: int | None = None  # the edition whose archive page the link was on


def confirm_url(subscriber_id: int, now: dt.datetime | None = None, follow: tuple[int, str] | None = None) -> str:
    return f"{get_settings().base_url}/confirm/{make_token(CONFIRM, subscriber_id, now, follow)}"


def confirmation_email(subscriber: Subscriber, now: dt.datetime | None = None,
                       follow: tuple[Topic, str] | None = None) -> TransactionalMail:
    settings = get_settings()
    return render_message("confirm", {
        "email": subscriber.email,
        "name": subscriber.name,
        "confirm_url": confirm_url(subscriber.id, now, follow and (follow[0].id, follow[1])),
        "follow": follow and {"name": follow[0].name, "alert": follow[1] == Pace.ALERT.value},
        "days": settings.CONFIRM_TOKEN_DAYS,
        "archive_url": f"{settings.base_url}/archive",
        "postal_address": settings.POSTAL_ADDRESS,
    })


def follow_link_email(subscriber: Subscriber, topic: Topic, asked: AskedFollow) -> TransactionalMail:
    """A subscribed reader asked on a public page to follow `topic`: their own signed follow page."""
    settings = get_settings()
    query = {"e": str(asked.edition)} if asked.edition else {}
    if asked.pace == Pace.ALERT.value:
        query["pace"] = asked.pace
    link = f"{settings.base_url}/p/{make_token(PREFERENCES, subscriber.id)}/follow/{topic.id}"
    return render_message("follow", {
        "email": subscriber.email,
        "name": subscriber.name,
        "topic": topic.name,
        "follow_url": link + (f"?{urlencode(query)}" if query else ""),
        "archive_url": f"{settings.base_url}/archive",
        "postal_address": settings.POSTAL_ADDRESS,
    })


def send_confirmation(session: Session, subscriber_id: int, sender: Sender,
                      now: dt.datetime | None = None, follow: AskedFollow | None = None) -> str | None:
    """Send a fresh confirmation link (with the follow asked for, if any), or to a subscribed
    reader who asked to follow a topic their follow link; None when there is nothing to send
    (the subscriber is gone, or a subscribed reader's topic is no longer offered)."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return None
    now = now or utcnow()
    topic = _offered(session, follow.topic_id) if follow else None
    # A suppressed address receives nothing but a confirmation, whose pressing lifts it.
    subscribed = subscriber.status == SubscriberStatus.CONFIRMED and suppression_for(session, subscriber.email) is None
    if follow is not None and subscribed:
        if topic is None:
            return None
        rendered, category = follow_link_email(subscriber, topic, follow), "follow"
    else:
        rendered = confirmation_email(subscriber, now, (topic, follow.pace) if topic else None)
        category = "confirm"
    message_id = send_transactional(
        sender, to=subscriber.email, name=subscriber.name, rendered=rendered,
        category=category, custom_args={"subscriber_id": str(subscriber.id)},
    )
    audit(session, "confirmation_sent", email=subscriber.email, source="worker",
          subscriber_id=subscriber.id, now=now, message_id=message_id,
          **({"follow": topic.id} if topic else {}))
    return message_id


def _offered(session: Session, topic_id: int) -> Topic | None:
    """The topic a follow names (an alias leads to its topic), if readers may still follow it."""
    try:
        return public_topic(session, topic_id)
    except NotFound:
        return None
