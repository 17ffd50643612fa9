"""One-off messages (the sign-up confirmation) go through the same backends as editions."""

from __future__ import annotations

import email
import email.policy

from digest.delivery.backends import get_sender
from digest.delivery.memory import MemorySender
from digest.delivery.outbox import OutboxSender
from digest.store.db import unit_of_work
from digest.delivery.confirmation import send_confirmation
from tests.factories import subscribers


def test_a_confirmation_goes_out_through_each_backend(settings, request):
    [reader] = subscribers("reader@example.org", confirmed=False)
    memory = MemorySender()
    with unit_of_work() as session:
        message_id = send_confirmation(session, reader, memory)
    [message] = memory.messages
    assert message["Message-ID"] == message_id and message["To"] == "reader@example.org"
    assert message["X-Digest-Message"] == "confirm" and message["X-Digest-Subscriber-Id"] == str(reader)

    outbox = OutboxSender(settings.OUTBOX_DIR)
    with unit_of_work() as session:
        send_confirmation(session, reader, outbox)
        send_confirmation(session, reader, outbox)
    files = sorted((settings.OUTBOX_DIR / "transactional").glob("confirm-*.eml"))
    assert len(files) == 2, "each one-off message is a file of its own"
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert "/confirm/" in parsed.get_body(("plain",)).get_content()

    standin = request.getfixturevalue("standin")  # SendGrid from here on
    with unit_of_work() as session:
        assert send_confirmation(session, reader, get_sender())
    [body] = standin.requests
    assert body["categories"] == ["confirm"]
    [personalization] = body["personalizations"]
    assert personalization["to"] == [{"email": "reader@example.org", "name": "Reader 0"}]
    assert personalization["custom_args"] == {"message": "confirm", "subscriber_id": str(reader)}
    assert body["subject"].startswith("Confirm your subscription")
    assert "/confirm/" in body["content"][0]["value"] and "[%" not in body["content"][1]["value"]
