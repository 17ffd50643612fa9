"""One filled message as RFC 5322 (multipart/alternative), for the outbox and the memory backend.

The bytes are what a reader's mail client receives, less the provider's own headers: CRLF line
ends, quoted-printable lines of at most 76 characters (RFC 2045), headers folded."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid

from digest.clock import utcnow
from digest.delivery.message import OutgoingBatch, Recipient

# Headers that are lists of <URI>s. Python folds an unbreakable URI longer than the line limit
# into RFC 2047 encoded words, which no client reads back as a URI: these are folded between the
# list's items instead (RFC 2369), each item whole on its own line (under RFC 5322's 998).
URI_LIST_HEADERS = frozenset({"list-unsubscribe", "list-help", "list-subscribe", "list-archive"})


_URI_LIST = re.compile(r"\s*<[\x21-\x7e]+?>\s*(?:,\s*<[\x21-\x7e]+?>\s*)*")
_URI = re.compile(r"<[\x21-\x7e]+?>")


class _MailPolicy(EmailPolicy):
    def fold(self, name: str, value: str) -> str:
        return self._fold_uri_list(name, value) or self._fold_words(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        folded = self._fold_uri_list(name, value) or self._fold_words(name, value)
        return folded.encode("ascii") if folded else super().fold_binary(name, value)

    def _fold_words(self, name: str, value: str) -> str | None:
        """An ASCII subject folded between words, filling each line. Python would fold a subject
        that does not fit right after the colon, which some clients show as a leading space."""
        value = str(value)
        words = value.split()
        if name.lower() != "subject" or not value.isascii() or " ".join(words) != value:
            return None
        lines = [f"{name}:"]
        for word in words:
            if len(lines[-1]) + 1 + len(word) > self.max_line_length and lines[-1] != f"{name}:":
                lines.append("")  # the fold: the next line starts with the space before the word
            lines[-1] += f" {word}"
        return self.linesep.join(lines) + self.linesep

    def _fold_uri_list(self, name: str, value: str) -> str | None:
        value = str(value)
        if name.lower() not in URI_LIST_HEADERS or not _URI_LIST.fullmatch(value):
            return None
        return f"{name}: " + f",{self.linesep} ".join(_URI.findall(value)) + self.linesep


# 76 is RFC 2045's limit for an encoded line, which the quoted-printable encoder takes from here.
MIME_POLICY = _MailPolicy(max_line_length=76, linesep="\r\n")


def build_mime(batch: OutgoingBatch, recipient: Recipient) -> EmailMessage:
    filled = batch.rendered.fill(recipient.values)
    message = EmailMessage(policy=MIME_POLICY)
    message["Subject"] = filled.subject
    message["From"] = batch.sender
    message["To"] = recipient.email
    if batch.reply_to:
        message["Reply-To"] = batch.reply_to
    message["Date"] = format_datetime(utcnow())
    domain = batch.from_email.rpartition("@")[2]
    idstring = f"e{batch.edition_id}.s{recipient.reader_id}" if batch.edition_id is not None else None
    message["Message-ID"] = make_msgid(idstring, domain=domain)
    for name, value in recipient.headers.items():
        message[name] = value
    for name, value in recipient.custom_args.items():
        message[f"X-Digest-{name.replace('_', '-').title()}"] = value
    # Plain text first: clients show the last part they understand, so HTML wins where it can.
    message.set_content(filled.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if filled.html:  # empty for readers who chose text only
        message.add_alternative(filled.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message
