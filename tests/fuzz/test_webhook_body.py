"""The body of a (verified) SendGrid webhook request, as a buggy or hostile sender could make it:
events with wrong types, huge numbers, NUL, lone surrogates, deep nesting, ids of our real
deliveries and of nothing, and bodies that are no JSON at all. A body is stored as a batch or
refused with WebhookRejected; applying a batch accounts for every event (new, duplicate or
skipped), raises nothing, and never moves a delivery backwards."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from digest.delivery.backends import get_sender
from digest.delivery.events import _RANK, WebhookRejected, process_webhook_batch, store_webhook_batch
from digest.store.db import unit_of_work
from digest.store.models import Delivery, SendBatch, WebhookBatch
from tests.factories import approved_edition, many_subscribers, polled_feed, send_now
from tests.fuzz.strategies import budget, hostile_text

EVENT_NAMES = ["processed", "deferred", "delivered", "open", "click", "bounce", "dropped", "spamreport",
               "unsubscribe", "group_unsubscribe", "blocked", ""]
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2**80, 2**80), st.floats(), hostile_text,
    st.sampled_from(["", "0", "-1", "1e400", "٣", "2147483648", "9" * 20, "9" * 5000, "\x00", "\ud800"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.fixture
def sent(settings, feed_server):
    """An edition sent to three readers: the deliveries events may name."""
    polled_feed(feed_server)
    many_subscribers(3)
    edition_id = approved_edition()
    send_now(edition_id, get_sender())
    with unit_of_work() as session:
        batch_id = session.scalar(select(SendBatch.id))  # the one batch of three readers
        return [(d.id, d.edition_id, d.subscriber_id, batch_id) for d in session.scalars(select(Delivery))]


def events(deliveries) -> st.SearchStrategy[list]:
    ours = st.sampled_from(deliveries)

    @st.composite
    def event(draw) -> object:
        delivery_id, edition_id, subscriber_id, batch_id = draw(ours)
        fields = {
            "event": st.one_of(st.sampled_from(EVENT_NAMES), odd_values),
            "edition_id": st.one_of(st.just(str(edition_id)), st.just(edition_id), odd_values),
            "subscriber_id": st.one_of(st.just(str(subscriber_id)), odd_values),
            "delivery_id": st.one_of(st.just(str(delivery_id)), odd_values),
            "batch_id": st.one_of(st.just(str(batch_id)), odd_values),
            "email": st.one_of(st.emails(), odd_values),
            "timestamp": st.one_of(st.integers(0, 2**33), odd_values),
            "sg_event_id": st.one_of(st.text(max_size=120), odd_values),
            "sg_message_id": odd_values, "url": odd_values, "reason": odd_values, "type": odd_values,
            "bounce_classification": odd_values, "response": odd_values,
        }
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, min_size=1))
        built = {name: draw(fields[name]) for name in chosen}
        return draw(st.one_of(st.just(built), st.just(built), odd_values))

    return st.lists(event(), max_size=8)


def _bodies(deliveries) -> st.SearchStrategy[bytes]:
    nested = st.integers(1, 3000).map(lambda depth: ("[" * depth + "]" * depth).encode())
    return st.one_of(
        events(deliveries).map(lambda found: json.dumps(found).encode()),
        events(deliveries).map(lambda found: json.dumps(found, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        nested, st.binary(max_size=200), hostile_text.map(lambda text: text.encode("utf-8")),
        st.sampled_from([b"{}", b"null", b"[1e400]", b'[{"event": "open", "timestamp": 1e999}]', b"[" + b"9" * 5000 + b"]"]),
    )


_timestamps = itertools.count(1_700_000_000)


def _ranks() -> dict[int, int]:
    with unit_of_work() as session:
        return {d.id: _RANK[d.status] for d in session.scalars(select(Delivery))}


@settings(max_examples=budget(40), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_a_body_is_stored_or_refused_and_every_event_is_accounted_for(sent, data):
    body = data.draw(_bodies(sent))
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        assume(False)  # verify_sendgrid_request refuses it before it could be stored
    before = _ranks()
    try:
        with unit_of_work() as session:
            # A timestamp of its own: the same body under the same timestamp is a replay.
            kept = store_webhook_batch(session, body, str(next(_timestamps)))
            assert not kept.replayed
            batch_id = kept.batch_id
            count = session.scalar(select(WebhookBatch.event_count).where(WebhookBatch.id == batch_id))
    except WebhookRejected:
        return
    with unit_of_work() as session:
        counts = process_webhook_batch(session, batch_id)
    assert counts["new"] + counts["duplicate"] + counts["skipped"] == count, counts
    assert 0 <= counts["unmatched"] <= counts["new"]
    after = _ranks()
    assert all(after[delivery] >= rank for delivery, rank in before.items()), "a delivery moved backwards"
