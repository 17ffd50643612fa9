"""The outgoing message of a batch: the edition's stored render with each reader's own links
(unsubscribe, preferences, signed and credited to the edition) and, in a digest, their "For you"
list, as the sender hands it over."""

from __future__ import annotations

from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.for_you import NOTHING, ForYou, for_you_of_batch
from digest.delivery.message import EditionReader, EditionReaders, OutgoingBatch, is_plain
from digest.editions.placeholders import markers
from digest.ledger.writer import Waiting
from digest.reports.attribution import edition_query
from digest.store.models import Edition, EditionKind
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, alert_unfollow_maker, token_maker


def outgoing_batch(session: Session, edition: Edition, rendered, variant: str, batch_id: int,
                   readers: list[Waiting]) -> OutgoingBatch:
    links = ReaderLinks(edition.id, batch_id, alert=edition.kind == EditionKind.ALERT,
                        for_you=FOR_YOU_MARKER in rendered.text)
    recipients = [links.recipient(reader.subscriber_id, reader.email, reader.name) for reader in readers]
    if links.alike.for_you:
        lists = for_you_of_batch(session, edition, variant, [reader.subscriber_id for reader in readers])
        if lists:
            recipients = [_with_for_you(recipient, lists.get(recipient.reader_id, NOTHING))
                          for recipient in recipients]
    return edition_batch(edition, rendered, recipients)


# The text marker of a reader's "For you" list: a render made before the list existed has none.
FOR_YOU_MARKER = markers("text")["for_you"]


def _with_for_you(recipient: EditionReader, listed: ForYou) -> EditionReader:
    if listed is NOTHING:
        return recipient
    return recipient._replace(for_you_text=listed.text, for_you_html=listed.html)


class ReaderLinks:
    """What each reader of one edition carries of their own: unsubscribe and preference links,
    from which their placeholder values and headers are made (EditionReader). Made once per
    batch: the signers are keyed once, what readers share is made once, not per reader. An
    alert's readers also get a link that ends their alert follows on its topics (its one-click
    List-Unsubscribe): its token names the alert, so it needs no `?e=`."""

    def __init__(self, edition_id: int, batch_id: int, alert: bool = False, for_you: bool = False):
        settings = get_settings()
        # `?e=`: an unsubscribe or preference change through these links is credited to this edition.
        self.via = edition_query(edition_id)
        self.unsubscribe_token, self.preferences_token = token_maker(UNSUBSCRIBE), token_maker(PREFERENCES)
        self.unsubscribe_base, self.preferences_base = f"{settings.base_url}/u/", f"{settings.base_url}/p/"
        # A token is URL-safe text (hex, a dot, base64url), so the links are plain when these are.
        self.unfollow_token = alert_unfollow_maker(edition_id) if alert else None
        self.unfollow_base = f"{settings.base_url}/unfollow/"
        plain = all(is_plain(part) for part in (self.unsubscribe_base, self.preferences_base, self.unfollow_base,
                                                self.via))
        self.alike = EditionReaders(edition_arg=str(edition_id), batch_arg=str(batch_id),
                                    mailto=f"<mailto:{settings.unsubscribe_mailto}?subject=unsubscribe>",
                                    plain_links=plain, for_you=for_you)

    def recipient(self, subscriber_id: int, email: str, name: str | None) -> EditionReader:
        reader = EditionReader(subscriber_id, email, name,
                               f"{self.unsubscribe_base}{self.unsubscribe_token(subscriber_id)}{self.via}",
                               f"{self.preferences_base}{self.preferences_token(subscriber_id)}{self.via}",
                               self.alike)
        if self.unfollow_token is None:
            return reader
        return reader._replace(unfollow_url=f"{self.unfollow_base}{self.unfollow_token(subscriber_id)}")


def reader_recipient(edition_id: int, batch_id: int, subscriber_id: int, email: str,
                     name: str | None, alert: bool = False, for_you: bool = False) -> EditionReader:
    """One reader's part of a message, as a send builds it (without a "For you" list): what the
    pre-send checklist builds its sample reader's message from."""
    return ReaderLinks(edition_id, batch_id, alert, for_you).recipient(subscriber_id, email, name)


def edition_batch(edition: Edition, rendered, recipients: list[EditionReader]) -> OutgoingBatch:
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
