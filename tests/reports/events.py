"""An edition sent through the SendGrid stand-in, and events for it in the shapes SendGrid's Event
Webhook reference documents, posted signed to our endpoint and applied as the worker would."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from digest.delivery.backends import get_sender
from digest.delivery.events import process_webhook_batch
from digest.store.db import unit_of_work
from digest.store.models import Delivery, EditionCount, EditionLink, ReaderMark, WebhookBatch
from tests.factories import approved_edition, many_subscribers, polled_feed, send_now
from tests.sendgrid_standin import SendGridStandIn, merged_personalizations


class SentEdition:
    """One edition sent to `readers` readers; `event(i, kind, at, **fields)` makes reader i's event."""

    def __init__(self, standin: SendGridStandIn, feed_server, readers: int = 0, emails: list[str] | None = None):
        if feed_server is not None:  # else the articles are in the store already
            polled_feed(feed_server)
        self.emails = emails if emails is not None else many_subscribers(readers)
        self.edition_id = approved_edition()
        send_now(self.edition_id, get_sender())
        self.standin = standin
        with unit_of_work() as session:
            self.links = [link.url for link in session.scalars(
                select(EditionLink).where(EditionLink.edition_id == self.edition_id)
                .order_by(EditionLink.position))]
            from digest.store.models import Edition

            self.started_at = session.get(Edition, self.edition_id).started_at
        # Each reader's own substitutions and custom_args, as sent to this edition's readers (their
        # unsubscribe and preferences links; the ids their events carry back).
        sent = [p for body in standin.requests for p in merged_personalizations(body)
                if p["custom_args"].get("edition_id") == str(self.edition_id)]
        self.values = {p["to"][0]["email"]: p["substitutions"] for p in sent}
        self.delivery = {p["to"][0]["email"]: p["custom_args"] for p in sent}
        self.subscriber_ids = [int(self.delivery[email]["subscriber_id"]) for email in self.emails
                               if email in self.delivery]

    def event(self, reader: int, kind: str, minutes: float = 0, **fields) -> dict:
        email = self.emails[reader]
        return {"email": email, "timestamp": int(self.started_at.timestamp() + minutes * 60),
                "smtp-id": f"<{uuid.uuid4().hex}@ismtpd-555>", "event": kind, "category": ["edition"],
                "sg_event_id": uuid.uuid4().hex, "sg_message_id": f"{uuid.uuid4().hex[:22]}.filter0001.0",
                **self.delivery[email], **fields}

    def post(self, client, events: list[dict]) -> None:
        payload = json.dumps(events) + "\r\n"
        answer = client.post("/webhooks/sendgrid", content=payload.encode(),
                             headers=self.standin.signed_headers(payload))
        assert answer.status_code == 200, answer.text
        with unit_of_work() as session:
            ids = session.scalars(select(WebhookBatch.id).where(WebhookBatch.processed_at.is_(None))).all()
        for batch_id in ids:
            with unit_of_work() as session:
                result = process_webhook_batch(session, batch_id)
                assert result["skipped"] == 0, result


# Shapes from SendGrid's Event Webhook reference (fields beyond the common ones).
def delivered() -> dict:
    return {"ip": "168.1.1.1", "response": "250 OK", "tls": 1}


def deferred() -> dict:
    return {"ip": "168.1.1.1", "response": "400 try again later", "attempt": "5"}


def opened(machine: bool = False) -> dict:
    return {"ip": "255.255.255.255", "sg_machine_open": machine,
            "useragent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"}


def clicked(url: str, index: int = 0) -> dict:
    return {"ip": "255.255.255.255", "useragent": "Mozilla/5.0", "url": url,
            "url_offset": {"index": index, "type": "html"}}


def bounced(hard: bool) -> dict:
    if hard:
        return {"ip": "168.1.1.1", "reason": "550 5.1.1 The email account that you tried to reach does not exist",
                "status": "5.1.1", "type": "bounce", "bounce_classification": "Invalid Address", "tls": 0}
    return {"ip": "168.1.1.1", "reason": "421 4.7.0 Try again later, closing connection (rate limited)",
            "status": "4.7.0", "type": "blocked", "bounce_classification": "Reputation", "tls": 0}


def dropped() -> dict:
    return {"reason": "Bounced Address", "status": "5.0.0"}


def group_unsubscribed(group: int = 42) -> dict:
    return {"ip": "255.255.255.255", "useragent": "Mozilla/5.0", "asm_group_id": group,
            "url": "https://u.example.sendgrid.net/unsubscribe"}


def counts_and_marks(edition_id: int) -> tuple[dict, set]:
    """An edition's counters (key: (readers, total)) and its readers' marks: what a recount
    rebuilds, so what moving counts must leave as a recount would (test_reclassify, and
    bench/classify_events.py --check)."""
    with unit_of_work() as session:
        counts = {key: (readers, total) for key, readers, total in session.execute(
            select(EditionCount.key, EditionCount.readers, EditionCount.total)
            .where(EditionCount.edition_id == edition_id))}
        marks = set(session.execute(select(ReaderMark.delivery_id, ReaderMark.mark).join(
            Delivery, Delivery.id == ReaderMark.delivery_id).where(Delivery.edition_id == edition_id)).all())
    return counts, marks
