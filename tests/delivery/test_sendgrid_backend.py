"""The sendgrid backend, through the official library, against a local SendGrid stand-in."""

from __future__ import annotations

import pytest

from digest.delivery.backends import get_sender
from digest.delivery.message import SendError
from digest.delivery.send import send_batch
from digest.ledger.states import reader_counts
from digest.store.db import unit_of_work
from digest.editions.lookup import get_edition
from digest.store.models import Delivery, EditionStatus, SendBatch
from tests.factories import sending_edition
from tests.delivery.batches import members
from tests.sendgrid_standin import merged_personalizations

READERS = ("ana@example.org", "bek@example.org", "cyrus@example.org")


def _batch(feed_server) -> tuple[int, list[int]]:
    edition_id, [batch] = sending_edition(feed_server, *READERS)
    return edition_id, batch


def test_one_request_carries_the_whole_batch(standin, feed_server):
    edition_id, batch = _batch(feed_server)
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, get_sender()) == 3
    [body] = standin.requests
    assert [p["to"][0]["email"] for p in body["personalizations"]] == list(READERS)
    first = merged_personalizations(body)[0]  # what the batch's readers share is given once
    assert body["headers"] == {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert first["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["custom_args"] == {"edition_id": str(edition_id), "subscriber_id": str(members(batch)[0]),
                                    "batch_id": str(batch)}
    assert first["substitutions"]["[%name%]"] == "Reader 0"
    assert first["substitutions"]["[%unsubscribe_url%]"].startswith("https://digest.example.org/u/")
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert "[%unsubscribe_url:html%]" in body["content"][1]["value"]
    with unit_of_work() as session:  # the batch's row records the three: no row each
        assert session.query(Delivery).all() == []
        sent = session.get(SendBatch, batch)
        assert (sent.state, sent.size, bool(sent.message_id), sent.recorded_at) == ("sent", 3, True, None)


@pytest.mark.parametrize("opens, clicks", [("true", "true"), ("false", "false"), ("true", "false")])
def test_every_request_states_what_sendgrid_may_track(standin, feed_server, monkeypatch, opens, clicks):
    from tests.conftest import reset_caches

    monkeypatch.setenv("TRACK_OPENS", opens)
    monkeypatch.setenv("TRACK_CLICKS", clicks)
    reset_caches()
    edition_id, batch = _batch(feed_server)
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, get_sender()) == 3
    [body] = standin.requests  # accepted: the stand-in checked the settings' shape
    assert body["tracking_settings"] == {
        "click_tracking": {"enable": clicks == "true", "enable_text": False},
        "open_tracking": {"enable": opens == "true"},
        "subscription_tracking": {"enable": False},
    }


def test_a_rejected_key_pauses_the_edition_and_keeps_every_row(standin, feed_server):
    standin.api_key = "SG.another-key"
    edition_id, batch = _batch(feed_server)
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, get_sender()) == 0
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"pending": 3}
        edition = get_edition(session, edition_id)
        assert edition.status == EditionStatus.PAUSED
        assert "401" in edition.note and "authorization grant is invalid" in edition.note
        # Nothing more goes out while paused.
        assert send_batch(session, edition_id, batch, get_sender()) == 0
    assert standin.requests == []


def test_a_server_error_is_retryable_and_nothing_is_lost(standin, feed_server):
    standin.fail_next = [503]
    edition_id, batch = _batch(feed_server)
    with unit_of_work() as session, pytest.raises(SendError) as raised:
        send_batch(session, edition_id, batch, get_sender())
    assert not raised.value.permanent
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"pending": 3}
        assert send_batch(session, edition_id, batch, get_sender()) == 3
    assert sorted(standin.delivered.values()) == [1, 1, 1]


def test_a_worker_process_makes_its_http_client_as_it_starts_and_sends_on_it(standin, feed_server):
    """A pool process starting (Celery's worker_process_init, as a worker's child sends it) makes
    the client its first batch sends on: the batch does not wait for the transport's imports and
    certificates. In a child of this process, as the pool's children are."""
    import os

    from celery.signals import worker_process_init

    import workers.app  # noqa: F401 - connects the worker's handlers

    edition_id, batch = _batch(feed_server)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the pool process
        try:
            worker_process_init.send(sender=None)
            sender = get_sender()
            ready = sender._client is not None and sender._client_pid == os.getpid()
            client = sender._client
            with unit_of_work() as session:
                sent = send_batch(session, edition_id, batch, sender)
            os.write(write, f"{ready} {sent} {sender._client is client}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        outcome = answer.read()
    os.waitpid(child, 0)
    assert outcome == "True 3 True"
    assert len(standin.requests) == 1
