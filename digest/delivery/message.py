"""What a backend is given: one rendered edition and the readers of a batch, each with the values
that fill its placeholders and the headers that are theirs alone. A one-off message (a sign-up
confirmation) is a batch of one reader that belongs to no edition.

An edition's reader (EditionReader) reads as a Recipient does, but keeps only what is theirs
alone: its placeholder values, headers and custom_args are made when a backend asks for them, so
that a backend writing a batch of 1000 readers straight into its own format (SendGrid's JSON)
builds none of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import NamedTuple
from email.headerregistry import Address
from digest.editions.placeholders import NAMELESS_READER
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
    """One reader of a batch, every part made up front: a one-off message's reader (an edition's
    readers are EditionReaders)."""

    reader_id: int  # what the backend's message ids are keyed by in this batch
    email: str
    name: str | None
    values: dict[str, str]  # placeholder values: name, unsubscribe_url, ...
    headers: dict[str, str]  # List-Unsubscribe and List-Unsubscribe-Post
    custom_args: dict[str, str]  # ids that come back with the provider's events


# The List-Unsubscribe-Post header of every edition (RFC 8058): unsubscribing takes one POST.
ONE_CLICK_UNSUBSCRIBE = "List-Unsubscribe=One-Click"
# Printable ASCII but for what JSON escaping (a backslash, a double quote) or HTML escaping
# (& < > ' ") changes.
_PLAIN = re.compile(r"[ !#-%(-;=?-\[\]-~]*")


def is_plain(text: str) -> bool:
    """Whether `text` is the same after JSON's (ASCII) and HTML's escaping: writable as it is."""
    return _PLAIN.fullmatch(text) is not None


class EditionReaders(NamedTuple):
    """What the readers of one edition's batch have alike (one object for all of them)."""

    edition_arg: str  # the edition id, as custom_args carry it
    batch_arg: str  # the send batch's id: an event finds a reader the batch row alone recorded
    mailto: str  # List-Unsubscribe's mail address part, after the reader's own link
    # Every reader's links are plain (is_plain): whoever made them checked the parts they share,
    # and a signed token is URL-safe text.
    plain_links: bool
    # The render has a "For you" placeholder: every reader's table fills it, if only with nothing
    # (SendGrid leaves a key it is not given in the message as it is).
    for_you: bool = False

    @property
    def headers(self) -> dict[str, str]:
        """The headers every reader of the batch has alike."""
        return {"List-Unsubscribe-Post": ONE_CLICK_UNSUBSCRIBE}

    @property
    def custom_args(self) -> dict[str, str]:
        """The custom_args every reader of the batch has alike."""
        return {"edition_id": self.edition_arg, "batch_id": self.batch_arg}


class EditionReader(NamedTuple):
    """One reader of an edition's batch: the same attributes as a Recipient, made on demand from
    their own links and what the batch's readers share."""

    reader_id: int  # the subscriber's id: the edition and the reader name their delivery
    email: str
    name: str | None
    unsubscribe_url: str
    preferences_url: str
    alike: EditionReaders
    # An alert's reader: the link that ends their alert follows on its topics, which is then the
    # one-click List-Unsubscribe (the footer keeps "unsubscribe from everything"). "" otherwise.
    unfollow_url: str = ""
    # A digest's reader: their "For you" list, as text and as HTML (delivery/for_you.py).
    for_you_text: str = ""
    for_you_html: str = ""

    @property
    def values(self) -> dict[str, str]:
        values = {"name": self.name or NAMELESS_READER, "unsubscribe_url": self.unsubscribe_url,
                  "preferences_url": self.preferences_url}
        if self.unfollow_url:
            values["unfollow_url"] = self.unfollow_url
        if self.alike.for_you:
            values["for_you"], values["for_you_html"] = self.for_you_text, self.for_you_html
        return values

    @property
    def one_click_url(self) -> str:
        return self.unfollow_url or self.unsubscribe_url

    @property
    def headers(self) -> dict[str, str]:
        return {**self.own_headers, **self.alike.headers}

    @property
    def custom_args(self) -> dict[str, str]:
        return {"edition_id": self.alike.edition_arg, "subscriber_id": str(self.reader_id),
                "batch_id": self.alike.batch_arg}

    @property
    def own_headers(self) -> dict[str, str]:
        """The reader's headers less those the batch's readers have alike."""
        return {"List-Unsubscribe": f"<{self.one_click_url}>, {self.alike.mailto}"}

    @property
    def own_custom_args(self) -> dict[str, str]:
        """The reader's custom_args less those the batch's readers have alike."""
        return {"subscriber_id": str(self.reader_id)}


@dataclass(frozen=True)
class OutgoingBatch:
    edition_id: int | None  # None for a one-off message (digest.delivery.transactional)
    from_email: str
    from_name: str
    reply_to: str | None
    rendered: RenderedEdition | TransactionalMail
    recipients: list[Recipient | EditionReader]
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
    # One message id for a whole request (SendGrid's X-Message-Id): a batch handed over whole is
    # recorded by its row alone. Otherwise each reader's own message id is written in their row.
    message_id_per_request: bool = False

    def send(self, batch: OutgoingBatch) -> dict[int, str]:
        """Hand the batch over; returns the message id per reader_id; raises SendError."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Make ready, in this process, what its first send would otherwise make (a worker process
        calls it as it starts, so that the first batch of a send does not wait for it)."""

    def create_batch_id(self) -> str:
        """A batch id for a scheduled send (only when cancellable_batches)."""
        raise Unsupported(f"{type(self).__name__} has no cancellable batches")

    def cancel_scheduled(self, batch_id: str) -> None:
        """Call back every message of a scheduled batch (only when cancellable_batches)."""
        raise Unsupported(f"{type(self).__name__} has no cancellable batches")
