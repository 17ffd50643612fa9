"""The outbox backend: one .eml file per message in a folder, for development and the demo."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from digest.delivery.message import OutgoingBatch, Sender, SendError
from digest.delivery.mime import build_mime


class OutboxSender(Sender):
    def __init__(self, directory: Path):
        self.directory = directory

    def path_for(self, edition_id: int, subscriber_id: int) -> Path:
        return self.directory / f"edition-{edition_id}" / f"{subscriber_id}.eml"

    def _path(self, batch: OutgoingBatch, reader_id: int) -> Path:
        if batch.edition_id is None:
            # One-off messages are not retried per delivery row: each gets a file of its own.
            category = batch.categories[0] if batch.categories else "message"
            return self.directory / "transactional" / f"{category}-{uuid.uuid4().hex}.eml"
        return self.path_for(batch.edition_id, reader_id)

    def send(self, batch: OutgoingBatch) -> dict[int, str]:
        message_ids = {}
        for recipient in batch.recipients:
            message = build_mime(batch, recipient)
            path = self._path(batch, recipient.reader_id)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Write then rename: a crash never leaves half a message, and a resend of the
                # same reader replaces its file rather than adding a second one.
                fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
                with os.fdopen(fd, "wb") as handle:
                    handle.write(message.as_bytes())
                os.replace(temporary, path)
            except OSError as exc:
                raise SendError(f"cannot write {path}: {exc}", permanent=False) from exc
            message_ids[recipient.reader_id] = message["Message-ID"]
        return message_ids
