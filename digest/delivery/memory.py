"""The memory backend: messages kept in a list of this process, for tests."""

from __future__ import annotations

from email.message import EmailMessage

from digest.delivery.message import OutgoingBatch, Sender
from digest.delivery.mime import build_mime


class MemorySender(Sender):
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    def send(self, batch: OutgoingBatch) -> dict[int, str]:
        message_ids = {}
        for recipient in batch.recipients:
            message = build_mime(batch, recipient)
            self.messages.append(message)
            message_ids[recipient.reader_id] = message["Message-ID"]
        return message_ids
