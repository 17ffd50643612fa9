"""SendGrid's signed Event Webhook: verified, kept, applied once; forged and stale refused."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from digest.delivery.backends import get_sender
from digest.delivery.events import (SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookRejected, process_webhook_batch,
                                   verify_sendgrid_request)
from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.store.models import DeliveryEvent, Subscriber, SubscriberStatus, WebhookBatch
from digest.web.app import app
from tests.factories import approved_edition, many_subscribers, polled_feed, send_now
from tests.sendgrid_standin import SendGridStandIn

# SendGrid's published example of a signed request (its library's documented test vector).
SAMPLE_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw"
              "+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")
SAMPLE_SIGNATURE = ("MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLt"
                    "EZtM=")
SAMPLE_TIMESTAMP = "1600112502"
SAMPLE_PAYLOAD = json.dumps([{
    "email": "hello@world.com", "event": "dropped", "reason": "Bounced Address",
    "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
    "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>", "timestamp": 1600112492,
}], sort_keys=True, separators=(",", ":")) + "\r\n"


@pytest.fixture
def client(standin):
    with TestClient(app) as client:
        yield client


def _sent(standin, feed_server, readers: int = 3) -> int:
    polled_feed(feed_server)
    many_subscribers(readers)
    edition_id = approved_edition()
    send_now(edition_id, get_sender())
    return edition_id


def _post(client, standin: SendGridStandIn, events: list[dict], timestamp: int | None = None):
    payload = json.dumps(events) + "\r\n"
    return client.post("/webhooks/sendgrid", content=payload.encode(),
                       headers=standin.signed_headers(payload, timestamp))


def _process_all() -> list[dict]:
    with unit_of_work() as session:
        ids = session.scalars(select(WebhookBatch.id).where(WebhookBatch.processed_at.is_(None))).all()
    results = []
    for batch_id in ids:
        with unit_of_work() as session:
            results.append(process_webhook_batch(session, batch_id))
    return results


def test_sendgrids_published_example_verifies_with_its_published_key():
    moment = dt.datetime.fromtimestamp(int(SAMPLE_TIMESTAMP), dt.UTC)
    verify_sendgrid_request(SAMPLE_PAYLOAD.encode(), SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_KEY, 600, now=moment)
    with pytest.raises(WebhookRejected, match="signature"):
        verify_sendgrid_request(SAMPLE_PAYLOAD.replace("dropped", "delivered").encode(), SAMPLE_SIGNATURE,
                                SAMPLE_TIMESTAMP, SAMPLE_KEY, 600, now=moment)
    with pytest.raises(WebhookRejected, match="timestamp"):
        verify_sendgrid_request(SAMPLE_PAYLOAD.encode(), SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_KEY, 600)


def test_the_published_example_passes_the_endpoint(standin, monkeypatch):
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", SAMPLE_KEY)
    from tests.conftest import reset_caches

    reset_caches()
    with time_machine.travel(int(SAMPLE_TIMESTAMP) + 30, tick=False), TestClient(app) as client:
        answer = client.post("/webhooks/sendgrid", content=SAMPLE_PAYLOAD.encode(), headers={
            "X-Twilio-Email-Event-Webhook-Signature": SAMPLE_SIGNATURE,
            "X-Twilio-Email-Event-Webhook-Timestamp": SAMPLE_TIMESTAMP})
    assert answer.status_code == 200, answer.text
    assert _process_all() == [{"new": 1, "duplicate": 0, "unmatched": 1, "skipped": 0}]


def test_a_signed_batch_settles_deliveries_and_ends_subscriptions(standin, feed_server, client):
    edition_id = _sent(standin, feed_server)
    events = standin.events("processed") + standin.events("delivered")
    spam = dict(standin.events("spamreport")[0])
    answer = _post(client, standin, events + [spam])
    assert answer.status_code == 200
    assert _process_all() == [{"new": 7, "duplicate": 0, "unmatched": 0, "skipped": 0}]
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"delivered": 3}
        status = session.scalar(select(Subscriber.status).where(Subscriber.email == spam["email"]))
    assert status == SubscriberStatus.UNSUBSCRIBED


def test_the_same_events_signed_anew_change_nothing_twice(standin, feed_server, client):
    """A request of events already applied, with a timestamp and signature of its own (not a
    replay of the first request): kept, and its events found duplicates when applied."""
    _sent(standin, feed_server)
    events = standin.events("delivered")
    now = int(time.time())
    assert _post(client, standin, events, timestamp=now - 1).status_code == 200
    assert _post(client, standin, events, timestamp=now).status_code == 200
    assert _process_all() == [{"new": 3, "duplicate": 0, "unmatched": 0, "skipped": 0},
                              {"new": 0, "duplicate": 3, "unmatched": 0, "skipped": 0}]
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 3


def _batches() -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(WebhookBatch))


def test_a_replayed_request_is_recognised_as_it_arrives_and_kept_once(standin, feed_server, client):
    _sent(standin, feed_server)
    payload = json.dumps(standin.events("delivered")) + "\r\n"
    headers = standin.signed_headers(payload)
    first = client.post("/webhooks/sendgrid", content=payload.encode(), headers=headers)
    assert first.status_code == 200 and first.text.startswith("accepted batch ")
    batch_id = int(first.text.removeprefix("accepted batch "))
    # 200 as well: SendGrid retries whatever is not 2xx, and a retry of a request whose answer
    # was lost must not be retried for ever.
    replay = client.post("/webhooks/sendgrid", content=payload.encode(), headers=headers)
    assert (replay.status_code, replay.text) == (200, f"already received as batch {batch_id}")
    # ECDSA signs anew with a random nonce: another valid signature of the same timestamp and
    # body is still the same request.
    resigned = dict(headers, **{SIGNATURE_HEADER: standin.sign(payload, headers[TIMESTAMP_HEADER])})
    assert resigned[SIGNATURE_HEADER] != headers[SIGNATURE_HEADER]
    again = client.post("/webhooks/sendgrid", content=payload.encode(), headers=resigned)
    assert (again.status_code, again.text) == (200, f"already received as batch {batch_id}")
    assert _batches() == 1
    assert _process_all() == [{"new": 3, "duplicate": 0, "unmatched": 0, "skipped": 0}]


def test_a_request_replayed_while_it_is_being_kept_is_kept_once(standin, feed_server):
    import threading

    _sent(standin, feed_server)
    payload = json.dumps(standin.events("delivered")) + "\r\n"
    headers = standin.signed_headers(payload)
    start, answers = threading.Barrier(4), []

    def deliver() -> None:
        with TestClient(app) as sender:
            start.wait()
            answers.append(sender.post("/webhooks/sendgrid", content=payload.encode(), headers=headers))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [answer.status_code for answer in answers] == [200] * 4
    assert sorted(answer.text.split(" batch ")[0] for answer in answers) == ["accepted"] + ["already received as"] * 3
    assert len({answer.text.split(" batch ")[1] for answer in answers}) == 1, "one batch, named by every answer"
    assert _batches() == 1


def test_late_events_never_move_a_delivery_backwards(standin, feed_server, client):
    edition_id = _sent(standin, feed_server, readers=1)
    _post(client, standin, standin.events("delivered"))
    _post(client, standin, standin.events("processed"))
    _process_all()
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"delivered": 1}


@pytest.mark.parametrize("tamper", ["forged", "stale", "missing", "garbled"])
def test_requests_not_provably_from_sendgrid_are_refused(standin, feed_server, client, tamper):
    _sent(standin, feed_server, readers=1)
    events = standin.events("delivered")
    payload = json.dumps(events) + "\r\n"
    headers = standin.signed_headers(payload)
    if tamper == "forged":
        headers = SendGridStandIn().signed_headers(payload)  # another key
    elif tamper == "stale":
        headers = standin.signed_headers(payload, int(time.time()) - 11 * 60)
    elif tamper == "missing":
        headers = {"Content-Type": "application/json"}
    else:
        headers["X-Twilio-Email-Event-Webhook-Signature"] = "not base64!"
    answer = client.post("/webhooks/sendgrid", content=payload.encode(), headers=headers)
    assert answer.status_code == 403
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(WebhookBatch)) == 0


def test_five_thousand_events_are_accepted_at_once_and_applied(standin, feed_server, client):
    _sent(standin, feed_server, readers=1000)
    events = (standin.events("processed") + standin.events("delivered") + standin.events("open")
              + standin.events("click") + standin.events("open"))
    assert len(events) == 5000
    assert _post(client, standin, events).status_code == 200
    assert _process_all() == [{"new": 5000, "duplicate": 0, "unmatched": 0, "skipped": 0}]


def test_without_a_key_events_wait_for_the_operator(standin, client, monkeypatch):
    monkeypatch.delenv("SENDGRID_WEBHOOK_PUBLIC_KEY")
    from tests.conftest import reset_caches

    reset_caches()
    assert _post(client, standin, []).status_code == 503


def test_provider_feedback_feeds_the_suppression_list(standin, feed_server, client):
    from digest.store.models import Suppression, SuppressionReason

    _sent(standin, feed_server, readers=6)
    [hard, blocked, soft, dropped, unsub, fine] = standin.events("bounce")
    hard.update(type="bounce", status="5.1.1", reason="550 no such user")
    blocked.update(type="blocked", status="5.7.1", reason="blocked by policy")
    soft.update(type="bounce", status="4.2.2", reason="mailbox full")
    dropped.update(event="dropped", reason="Spam Reporting Address")
    unsub.update(event="group_unsubscribe")
    fine.update(event="delivered")
    assert _post(client, standin, [hard, blocked, soft, dropped, unsub, fine]).status_code == 200
    _process_all()
    with unit_of_work() as session:
        reasons = dict(session.execute(select(Suppression.email, Suppression.reason)).all())
        soft_count = session.scalar(select(Subscriber.soft_bounces).where(Subscriber.email == soft["email"]))
        unsubscribed = session.scalar(select(Subscriber.status).where(Subscriber.email == unsub["email"]))
    assert reasons == {hard["email"]: SuppressionReason.HARD_BOUNCE, blocked["email"]: SuppressionReason.BLOCK,
                       dropped["email"]: SuppressionReason.SPAM_REPORT,
                       unsub["email"]: SuppressionReason.UNSUBSCRIBE}
    assert soft_count == 1 and unsubscribed == SubscriberStatus.UNSUBSCRIBED


def test_an_event_repeated_within_one_batch_is_applied_once(standin, feed_server, client):
    from digest.store.models import Suppression

    _sent(standin, feed_server, readers=1)
    [soft] = standin.events("bounce")
    soft.update(type="bounce", status="4.2.2", reason="mailbox full")
    assert _post(client, standin, [soft, dict(soft), dict(soft)]).status_code == 200
    assert _process_all() == [{"new": 1, "duplicate": 2, "unmatched": 0, "skipped": 0}]
    with unit_of_work() as session:
        assert session.scalar(select(Subscriber.soft_bounces).where(Subscriber.email == soft["email"])) == 1
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0
        assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 1


def test_deeply_nested_json_is_refused_as_unparseable(standin, client):
    payload = "[" * 100_000 + "]" * 100_000
    answer = client.post("/webhooks/sendgrid", content=payload.encode(), headers=standin.signed_headers(payload))
    assert answer.status_code == 400 and "not JSON" in answer.text
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(WebhookBatch)) == 0


def _hostile_batch(standin) -> tuple[list[dict], str]:
    """Four good events and, between them, every kind of value the service cannot read; the
    body is written by hand, since NaN, 1e400 and 50-digit ids are what an attacker types."""
    good = standin.events("delivered")
    hostile = [
        '{"event": "delivered", "sg_event_id": "inf", "delivery_id": 1e400}',
        '{"event": "delivered", "sg_event_id": "nan", "delivery_id": NaN}',
        '{"event": "delivered", "sg_event_id": "huge", "delivery_id": ' + "9" * 50 + "}",
        '{"event": "delivered", "sg_event_id": "big", "delivery_id": ' + str(2**64) + "}",
        '{"event": "delivered", "sg_event_id": "neg", "delivery_id": -3}',
        '{"event": "delivered", "sg_event_id": "list", "delivery_id": [1]}',
        '{"event": "delivered", "sg_event_id": "bool", "delivery_id": true}',
        '{"event": "delivered", "sg_event_id": "float", "delivery_id": 1.5}',
        '{"event": "delivered", "sg_event_id": {"nested": 1}}',
        '{"event": ["delivered"], "sg_event_id": "name"}',
        '{"event": "bounce", "sg_event_id": "nul", "email": "a\\u0000@example.org"}',
        '{"event": "bounce", "sg_event_id": "surrogate", "email": "\\ud800@example.org"}',
        '{"event": "delivered", "sg_event_id": "ts", "timestamp": 1e400}',
        '"just a string"', "17", "null",
    ]
    parts = [json.dumps(good[0]), *hostile[:8], json.dumps(good[1]), *hostile[8:], json.dumps(good[2])]
    return good, "[" + ",".join(parts) + "]\r\n"


def test_unreadable_events_are_skipped_and_counted_and_the_rest_applies(standin, feed_server, client):
    edition_id = _sent(standin, feed_server, readers=3)
    good, payload = _hostile_batch(standin)
    answer = client.post("/webhooks/sendgrid", content=payload.encode(), headers=standin.signed_headers(payload))
    assert answer.status_code == 200, answer.text
    assert _process_all() == [{"new": 3, "duplicate": 0, "unmatched": 0, "skipped": 16}]
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"delivered": 3}


def test_the_worker_function_skips_what_it_cannot_read(standin, feed_server):
    from digest.delivery.events import store_webhook_batch

    edition_id = _sent(standin, feed_server, readers=3)
    _, payload = _hostile_batch(standin)
    with unit_of_work() as session:
        batch_id = store_webhook_batch(session, payload.encode(), str(int(time.time()))).batch_id
    with unit_of_work() as session:
        assert process_webhook_batch(session, batch_id)["skipped"] == 16
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"delivered": 3}
        # Claimed once: a second run (the sweep racing the queue) applies nothing.
        assert process_webhook_batch(session, batch_id)["new"] == 0


def test_the_queue_and_the_sweep_racing_for_one_batch_apply_it_once(standin, feed_server, client):
    import threading

    _sent(standin, feed_server, readers=3)
    [soft, *_] = standin.events("bounce")
    soft.update(type="bounce", status="4.2.2", reason="mailbox full")
    assert _post(client, standin, standin.events("delivered") + [soft]).status_code == 200
    with unit_of_work() as session:
        batch_id = session.scalar(select(WebhookBatch.id))
    start, results = threading.Barrier(2), []

    def apply() -> None:
        start.wait()
        with unit_of_work() as session:
            results.append(process_webhook_batch(session, batch_id)["new"])

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [0, 4]
    with unit_of_work() as session:
        assert session.scalar(select(Subscriber.soft_bounces).where(Subscriber.email == soft["email"])) == 1
