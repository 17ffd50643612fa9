"""What the provider reports about a reader's address, applied to the subscription store.

Called by the delivery webhook for each new event that names an address: hard bounces, blocks
and spam reports suppress; soft bounces are counted; unsubscribes end the subscription; a
delivery ends a run of soft bounces.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import InputError
from digest.store.models import Subscriber, SuppressionReason
from digest.addresses import normalize_email
from digest.subscribers.lifecycle import unsubscribe
from digest.subscribers.suppressions import record_bounce, record_delivered, record_delivered_to, suppress

# SendGrid's `reason` on a dropped event, for addresses it already refuses to mail.
_DROPPED = {
    "bounced address": "hard",
    "invalid": "hard",
    "spam reporting address": "spam",
    "unsubscribed address": "unsubscribe",
}


def record_provider_feedback(session: Session, email: str, event: str, details: dict) -> None:
    try:
        address = normalize_email(email)
    except InputError:
        return  # not an address we could have sent to
    detail = str(details.get("reason") or details.get("response") or "")[:500] or None
    if event == "delivered":
        record_delivered(session, address)
    elif event == "bounce":
        status = str(details.get("status") or "")
        kind = "block" if details.get("type") == "blocked" else ("soft" if status.startswith("4") else "hard")
        record_bounce(session, address, kind, detail=detail)
    elif event == "dropped":
        verdict = _DROPPED.get(str(details.get("reason") or "").strip().lower())
        if verdict == "hard":
            record_bounce(session, address, "hard", detail=detail)
        elif verdict == "spam":
            _end(session, address, SuppressionReason.SPAM_REPORT, detail)
        elif verdict == "unsubscribe":
            _end(session, address, SuppressionReason.UNSUBSCRIBE, detail)
    elif event == "spamreport":
        _end(session, address, SuppressionReason.SPAM_REPORT, detail)
    elif event in ("unsubscribe", "group_unsubscribe"):
        _end(session, address, SuppressionReason.UNSUBSCRIBE, detail)


def record_deliveries(session: Session, emails: list[str]) -> None:
    """`delivered` events for many addresses at once (a webhook request reports hundreds)."""
    addresses = set()
    for email in emails:
        try:
            addresses.add(normalize_email(email))
        except InputError:
            pass  # not an address we could have sent to
    record_delivered_to(session, sorted(addresses))


def _end(session: Session, address: str, reason: SuppressionReason, detail: str | None) -> None:
    """Suppress with the provider's reason, and end the subscription if there is one."""
    suppress(session, address, reason, source="webhook", detail=detail)
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == address))
    if subscriber_id is not None:
        unsubscribe(session, subscriber_id, source="webhook")
