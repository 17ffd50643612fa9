"""One filled message as RFC 5322 (multipart/alternative), for the outbox and the memory backend."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.clock import utcnow
from digest.delivery.message import OutgoingBatch, Recipient
from digest.editions.render import fill


# Headers such as List-Unsubscribe hold long unbreakable URLs; folding them right after the
# colon is legal but trips naive parsers, so lines may run to the RFC 5322 limit instead.
MIME_POLICY = policy.default.clone(max_line_length=998)


def build_mime(batch: OutgoingBatch, recipient: Recipient) -> EmailMessage:
    filled = fill(batch.rendered, recipient.values)
    message = EmailMessage(policy=MIME_POLICY)
    message["Subject"] = filled.subject
    message["From"] = batch.sender
    message["To"] = recipient.email
    if batch.reply_to:
        message["Reply-To"] = batch.reply_to
    message["Date"] = format_datetime(utcnow())
    domain = batch.from_email.rpartition("@")[2]
    idstring = f"e{batch.edition_id}.d{recipient.delivery_id}" if batch.edition_id is not None else None
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
