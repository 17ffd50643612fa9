"""The outgoing message of a batch: the edition's stored render with each reader's own links
(unsubscribe, preferences, signed and credited to the edition) and, in a digest, their "For you"
list, as the sender hands it over."""

from __future__ import annotations

from functools import partial
from itertools import repeat

from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.for_you import NOTHING, ForYou, for_you_of_batch
from digest.delivery.message import EditionReader, EditionReaders, OutgoingBatch, is_plain
from digest.editions.lookup import EditionRow
from digest.editions.placeholders import markers
from digest.ledger.writer import Waiting
from digest.reports.attribution import edition_query
from digest.store.models import Edition, EditionKind
from digest.subscribers.tokens import (PREFERENCES, UNSUBSCRIBE, alert_unfollow_tokens, reader_payloads,
                                      signed_links)


def outgoing_batch(session: Session, edition: Edition | EditionRow, rendered, variant: str, batch_id: int,
                   readers: list[Waiting]) -> OutgoingBatch:
    links = ReaderLinks(edition.id, batch_id, alert=edition.kind == EditionKind.ALERT,
                        for_you=FOR_YOU_MARKER in rendered.text)
    # The readers' fields as columns (Waiting: delivery id, subscriber id, email, name, left).
    _, subscriber_ids, emails, names, _ = zip(*readers) if readers else ((),) * 5
    lists = for_you_of_batch(session, edition, variant, subscriber_ids) if links.alike.for_you and readers else {}
    return edition_batch(edition, rendered, links.recipients(subscriber_ids, emails, names, lists))


# The text marker of a reader's "For you" list: a render made before the list existed has none.
FOR_YOU_MARKER = markers("text")["for_you"]
# An EditionReader from a tuple of all its fields, made in C: a map over a batch's columns
# builds a thousand without a Python call each (what a NamedTuple's _make does, less its call).
_edition_reader = partial(tuple.__new__, EditionReader)


class ReaderLinks:
    """What each reader of one edition carries of their own: unsubscribe and preference links,
    from which their placeholder values and headers are made (EditionReader). Made once per
    batch: what readers share is made once, and their links are signed together
    (signed_links). An alert's readers also get a link that ends their alert follows on its
    topics (its one-click List-Unsubscribe): its token names the alert, so it needs no `?e=`."""

    def __init__(self, edition_id: int, batch_id: int, alert: bool = False, for_you: bool = False):
        settings = get_settings()
        self.edition_id, self.alert = edition_id, alert
        # `?e=`: an unsubscribe or preference change through these links is credited to this edition.
        self.via = edition_query(edition_id)
        self.unsubscribe_base, self.preferences_base = f"{settings.base_url}/u/", f"{settings.base_url}/p/"
        # A token is URL-safe text (hex, a dot, base64url), so the links are plain when these are.
        self.unfollow_base = f"{settings.base_url}/unfollow/"
        plain = all(is_plain(part) for part in (self.unsubscribe_base, self.preferences_base, self.unfollow_base,
                                                self.via))
        self.alike = EditionReaders(edition_arg=str(edition_id), batch_arg=str(batch_id),
                                    mailto=f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe>",
                                    plain_links=plain, for_you=for_you)

    def recipients(self, subscriber_ids, emails, names, lists: dict[int, ForYou] | None = None) -> list[EditionReader]:
        """The batch's readers (its columns: ids, addresses, names), each with their links and,
        in a digest, their "For you" list from `lists` (by subscriber id; none: nothing)."""
        count = len(subscriber_ids)
        payloads = reader_payloads(subscriber_ids)
        unsubscribe = signed_links(UNSUBSCRIBE, payloads, self.unsubscribe_base, self.via)
        preferences = signed_links(PREFERENCES, payloads, self.preferences_base, self.via)
        unfollow = repeat("", count)
        if self.alert:
            unfollow = alert_unfollow_tokens(self.edition_id, subscriber_ids, self.unfollow_base)
        texts, htmls = repeat("", count), repeat("", count)
        if lists:
            listed = [lists.get(subscriber_id, NOTHING) for subscriber_id in subscriber_ids]
            texts, htmls = [made.text for made in listed], [made.html for made in listed]
        return list(map(_edition_reader, zip(subscriber_ids, emails, names, unsubscribe, preferences,
                                             repeat(self.alike, count), unfollow, texts, htmls)))

    def recipient(self, subscriber_id: int, email: str, name: str | None) -> EditionReader:
        return self.recipients([subscriber_id], [email], [name])[0]


def reader_recipient(edition_id: int, batch_id: int, subscriber_id: int, email: str,
                     name: str | None, alert: bool = False, for_you: bool = False) -> EditionReader:
    """One reader's part of a message, as a send builds it (without a "For you" list): what the
    pre-send checklist builds its sample reader's message from."""
    return ReaderLinks(edition_id, batch_id, alert, for_you).recipient(subscriber_id, email, name)


def edition_batch(edition: Edition | EditionRow, rendered, recipients: list[EditionReader]) -> OutgoingBatch:
    settings = get_settings()
    send_at = int(edition.send_at.timestamp()) if edition.send_at > utcnow() else None
    return OutgoingBatch(
        edition_id=edition.id,
        from_email=str(settings.FROM_EMAIL),
        from_name=settings.FROM_NAME,
        reply_to=str(settings.REPLY_TO_EMAIL) if settings.REPLY_TO_EMAIL else None,
        rendered=rendered,
        recipients=recipients,
        categories=["edition", f"edition-{edition.id}"],
        send_at=send_at,
        provider_batch_id=edition.provider_batch_id,
    )
