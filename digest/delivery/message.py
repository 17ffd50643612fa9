"""What a backend is given: one rendered edition and the readers of a batch, each with the values
that fill its placeholders and the headers that are theirs alone. A one-off message (a sign-up
confirmation) is a batch of one reader that belongs to no edition."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple
from email.headerregistry import Address
from digest.editions.render import RenderedEdition, TransactionalMail


class SendError(Exception):
    """The backend could not hand the batch over. Permanent errors fail the rows; others retry."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Throttled(SendError):
    """Not now, later: our rate limit or the provider's 429. Waiting, never counted as failing."""

    def __init__(self, message: str, wait: float):
        super().__init__(message, permanent=False, retry_after=wait)
        self.wait = wait


class CredentialsRefused(SendError):
    """401/403: no batch can succeed until an operator fixes the key; the edition is paused."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class BatchTooLarge(SendError):
    """413: the request was too big; half as many readers may pass."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class Recipient(NamedTuple):
    """One reader of a batch (a named tuple: a batch makes a thousand of them)."""

    delivery_id: int
    email: str
    name: str | None
    values: dict[str, str]  # placeholder values: name, unsubscribe_url, ...
    headers: dict[str, str]  # List-Unsubscribe and List-Unsubscribe-Post
    custom_args: dict[str, str]  # ids that come back with the provider's events


@dataclass(frozen=True)
class OutgoingBatch:
    edition_id: int | None  # None for a one-off message (digest.delivery.transactional)
    from_email: str
    from_name: str
    reply_to: str | None
    rendered: RenderedEdition | TransactionalMail
    recipients: list[Recipient]
    categories: list[str] = field(default_factory=list)
    send_at: int | None = None  # unix time: the provider holds the messages until then
    provider_batch_id: str | None = None

    def split(self) -> tuple["OutgoingBatch", "OutgoingBatch"]:
        half = len(self.recipients) // 2
        return (replace(self, recipients=self.recipients[:half]), replace(self, recipients=self.recipients[half:]))

    @property
    def sender(self) -> Address:
        username, _, domain = self.from_email.rpartition("@")
        return Address(self.from_name, username, domain)


class Unsupported(Exception):
    """A caller asked a backend for something its capabilities say it cannot do: a bug."""


class Sender:
    """A delivery backend. What one backend can do and another cannot is declared here as a
    capability, read by the callers (never probed with hasattr or by a setting's name)."""

    # The provider holds a batch until its send_at, so an edition may be handed over ahead of time
    # (SEND_SCHEDULE_AHEAD_MINUTES early).
    scheduled_sends: bool = False
    # A batch handed over ahead of its send_at can still be called back by its batch id.
    cancellable_batches: bool = False

    def send(self, batch: OutgoingBatch) -> dict[int, str]:
        """Hand the batch over; returns the message id per delivery id; raises SendError."""
        raise NotImplementedError

    def create_batch_id(self) -> str:
        """A batch id for a scheduled send (only when cancellable_batches)."""
        raise Unsupported(f"{type(self).__name__} has no cancellable batches")

    def cancel_scheduled(self, batch_id: str) -> None:
        """Call back every message of a scheduled batch (only when cancellable_batches)."""
        raise Unsupported(f"{type(self).__name__} has no cancellable batches")
