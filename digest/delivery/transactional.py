"""One-off messages to one person (the sign-up confirmation), through the same Sender as the
editions: a batch of one recipient that belongs to no edition. No List-Unsubscribe: a
transactional message is not bulk mail and there is nothing to unsubscribe from yet."""

from __future__ import annotations

from digest.config import get_settings
from digest.delivery.message import OutgoingBatch, Recipient, Sender
from digest.editions.render import TransactionalMail

# The Recipient's key in the backend's answer; no delivery row stands behind a one-off message.
ONE_OFF = 0


def send_transactional(sender: Sender, *, to: str, name: str | None, rendered: TransactionalMail,
                       category: str, custom_args: dict[str, str]) -> str:
    """Send `rendered` (already filled for its reader) to `to`; returns the message id.
    Raises SendError like an edition batch, for the caller to retry or give up."""
    settings = get_settings()
    batch = OutgoingBatch(
        edition_id=None,
        from_email=str(settings.FROM_EMAIL),
        from_name=settings.FROM_NAME,
        reply_to=str(settings.REPLY_TO_EMAIL) if settings.REPLY_TO_EMAIL else None,
        rendered=rendered,
        recipients=[Recipient(reader_id=ONE_OFF, email=to, name=name, values={}, headers={},
                              custom_args={"message": category, **custom_args})],
        categories=[category],
    )
    return sender.send(batch)[ONE_OFF]
