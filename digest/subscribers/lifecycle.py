"""Subscribers: sign up (double opt-in), confirm, unsubscribe, and an operator's add.

Only confirmed, unpaused, unsuppressed subscribers receive editions (eligible_readers).
A sign-up never creates a second row and never changes a confirmed subscriber; whatever it
finds, the caller answers the same way, so the form cannot tell who is subscribed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.errors import Conflict, InputError
from digest.store.models import Subscriber, SubscriberFormat, SubscriberStatus, Suppression, SuppressionReason
from digest.store.upsert import insert_ignoring_duplicates
from digest.addresses import normalize_email
from digest.subscribers.audit import audit, audit_row, write_audit_rows
from digest.subscribers.ratelimit import allow_confirmation
from digest.subscribers.suppressions import lift_suppression, suppress_unlisted, suppression_for
from digest.subscribers.tokens import CONFIRM, BadToken, read_token

MAX_NAME = 200
# Unicode's control characters (category Cc: C0, DEL and C1) but tab and line breaks; one regex
# search instead of a category lookup per character (an import checks millions of them).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class SignUp:
    subscriber_id: int
    send_confirmation: bool  # False when the address has had its share of confirmations


def eligible_readers(now: dt.datetime | None = None):
    """Who receives editions: confirmed, not paused (or paused until a time now past), and the
    address not suppressed. Asked when an edition's readers are planned, and again when each
    batch is sent (a reader may leave in between). A pause with an end lapses by itself: the
    time is compared here, at `now` (the current time unless given), so no job has to lift it."""
    suppressed = exists().where(Suppression.email == Subscriber.email)
    return and_(Subscriber.status == SubscriberStatus.CONFIRMED, not_paused(now), ~suppressed)


def not_paused(now: dt.datetime | None = None):
    """Not paused at `now` (the current time unless given): never paused, or paused until a time
    already past. Never NULL (claim.py selects it as a column): an open pause is a definite
    "paused"."""
    # `now` may be a bound parameter (a statement made once and run with each time): no `or`.
    ended = and_(Subscriber.paused_until.is_not(None), Subscriber.paused_until <= (utcnow() if now is None else now))
    return or_(Subscriber.paused.is_(False), ended)


def refuse_control_characters(value: str, what: str) -> None:
    """NUL, escape, DEL, C1 and the like have no place in a name or an attribute, and can break
    a terminal, a CSV consumer or a mail header. Tab and line breaks are text (a spreadsheet's
    multi-line cell); names fold them into spaces."""
    if found := _CONTROL.search(value):
        raise InputError(f"{what} contains a control character (U+{ord(found.group()):04X})")


def clean_name(name: str | None, address: str) -> str | None:
    refuse_control_characters(name or "", "name")
    name = " ".join((name or "").split())
    if len(name) > MAX_NAME:
        raise InputError(f"name for {address} is longer than {MAX_NAME} characters")
    return name or None


def find_subscriber(session: Session, address: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email == address))


def add_subscriber(session: Session, email: str, *, name: str | None = None,
                   confirmed: bool = False, source: str = "cli", now: dt.datetime | None = None) -> Subscriber:
    """An operator adds someone whose consent they hold; a suppressed address is refused."""
    address = normalize_email(email)
    name = clean_name(name, address)
    if find_subscriber(session, address) is not None:
        raise Conflict(f"subscriber {address} already exists")
    suppression = suppression_for(session, address)
    if suppression is not None:
        raise Conflict(f"{address} is suppressed ({suppression.reason.value}); only a sign-up that "
                       "they confirm themselves can add it again")
    now = now or utcnow()
    subscriber = Subscriber(
        email=address, name=name,
        status=SubscriberStatus.CONFIRMED if confirmed else SubscriberStatus.PENDING,
        confirmed_at=now if confirmed else None, source=source, signup_at=now,
        sections=[], format=SubscriberFormat.HTML, paused=False, attributes={}, soft_bounces=0,
        created_at=now,
    )
    session.add(subscriber)
    session.flush()
    audit(session, "add", email=address, source=source, subscriber_id=subscriber.id, now=now,
          status=subscriber.status.value)
    return subscriber


def sign_up(session: Session, email: str, *, name: str | None = None, source: str,
            ip: str | None = None, check_deliverability: bool = False,
            now: dt.datetime | None = None) -> SignUp:
    """Record a request to subscribe and say whether to send a confirmation now.

    A new address becomes a pending row. A pending or unsubscribed row records this latest
    request (source, time, IP) and nothing else: a stranger's request must not change anyone's
    data. A confirmed row is left as it is. Every request is in the audit log."""
    address = normalize_email(email, check_deliverability=check_deliverability)
    name = clean_name(name, address)
    now = now or utcnow()
    # ON CONFLICT DO NOTHING: two requests for one new address at once still make one row.
    session.execute(insert_ignoring_duplicates(session, Subscriber).values(
        email=address, name=name, status=SubscriberStatus.PENDING, sections=[],
        format=SubscriberFormat.HTML, paused=False, attributes={}, soft_bounces=0,
        source=source, signup_at=now, signup_ip=ip, created_at=now,
    ))
    subscriber = find_subscriber(session, address)
    before = subscriber.status
    if subscriber.status != SubscriberStatus.CONFIRMED:
        subscriber.source, subscriber.signup_at, subscriber.signup_ip = source, now, ip
    send = allow_confirmation(address)
    audit(session, "signup", email=address, source=source, subscriber_id=subscriber.id, ip=ip,
          now=now, status=before.value, confirmation="sent" if send else "rate limited")
    return SignUp(subscriber.id, send)


def confirm_subscription(session: Session, token: str, *, ip: str | None = None,
                         source: str = "web", now: dt.datetime | None = None) -> Subscriber:
    """The reader followed a confirmation link: they are subscribed, and any suppression of
    their address is lifted (a new confirmed opt-in is the only way to lift one).

    A link sent before the address was unsubscribed or suppressed is refused: only a new
    sign-up brings an address back. Confirming twice changes nothing."""
    now = now or utcnow()
    claims = read_token(CONFIRM, token, now)
    subscriber = session.get(Subscriber, claims.subscriber_id)
    if subscriber is None:
        raise BadToken("this confirmation link is no longer valid; sign up again to get a new one")
    suppression = suppression_for(session, subscriber.email)
    left = [t for t in (subscriber.unsubscribed_at, suppression and suppression.created_at) if t]
    # Tokens carry milliseconds: compare at that precision.
    if left and claims.issued_at < max(left).replace(microsecond=max(left).microsecond // 1000 * 1000):
        raise BadToken("this confirmation link was sent before the address was unsubscribed; "
                       "sign up again to get a new one")
    if subscriber.status == SubscriberStatus.CONFIRMED and suppression is None:
        return subscriber
    subscriber.status = SubscriberStatus.CONFIRMED
    subscriber.confirmed_at, subscriber.confirm_ip = now, ip
    subscriber.unsubscribed_at = None
    subscriber.soft_bounces = 0
    lift_suppression(session, subscriber.email, source=source, ip=ip, subscriber_id=subscriber.id, now=now)
    audit(session, "confirm", email=subscriber.email, source=source, subscriber_id=subscriber.id,
          ip=ip, now=now)
    return subscriber


def list_subscribers(session: Session, limit: int | None = None,
                     status: SubscriberStatus | None = None) -> list[Subscriber]:
    query = select(Subscriber).order_by(Subscriber.id).limit(limit)
    if status is not None:
        query = query.where(Subscriber.status == status)
    return list(session.scalars(query))


_subscribers = Subscriber.__table__
# Made once: every reader who leaves after a send runs them (see unsubscribe).
_LEAVE = (update(_subscribers)
          .where(_subscribers.c.id == bindparam("subscriber_id"),
                 _subscribers.c.status != SubscriberStatus.UNSUBSCRIBED)
          .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=bindparam("now"))
          .returning(_subscribers.c.email))
_ADDRESS = select(_subscribers.c.email).where(_subscribers.c.id == bindparam("subscriber_id"))


def unsubscribe(session: Session, subscriber_id: int, *, source: str = "web", ip: str | None = None,
                now: dt.datetime | None = None) -> bool:
    """Idempotent: unsubscribing twice leaves the first time recorded. The address is also
    suppressed, so that nothing (an import, an operator) but a new confirmed sign-up brings it
    back. Returns whether this call unsubscribed the reader.

    Each of the two is written by one statement that writes it only where it is missing (an
    UPDATE of a reader not unsubscribed, an insert of an address not listed), so a mail client
    that sends its one-click POST twice at once (they retry) is recorded once: the second UPDATE
    waits for the first one's row lock, held until its commit, and then finds the reader
    unsubscribed; the second insert waits for the first's row and finds it."""
    # The session's own changes first: a Core statement does not flush them, and the log keeps their order.
    session.flush()
    now = now or utcnow()
    left = session.execute(_LEAVE, {"subscriber_id": subscriber_id, "now": now}).first()
    address = left.email if left else session.scalar(_ADDRESS, {"subscriber_id": subscriber_id})
    if address is None:
        return False
    rows = []
    if left:
        _show_change(session, subscriber_id)
        rows.append(audit_row("unsubscribe", email=address, source=source, subscriber_id=subscriber_id, ip=ip, now=now))
    suppressed = suppress_unlisted(session, address, SuppressionReason.UNSUBSCRIBE, source=source,
                                   subscriber_id=subscriber_id, ip=ip, now=now)
    write_audit_rows(session, rows + ([suppressed] if suppressed else []))
    return left is not None


def _show_change(session: Session, subscriber_id: int) -> None:
    """The reader's row, if this session has loaded it, is read again when next used: the ORM
    does not see a Core UPDATE."""
    loaded = session.identity_map.get(Session.identity_key(Subscriber, subscriber_id))
    if loaded is not None:
        session.expire(loaded, ["status", "unsubscribed_at"])
