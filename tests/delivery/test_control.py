"""Pause, resume and cancel a send; scheduled sends; the global rate limit; stuck rows."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from digest.clock import utcnow
from digest.delivery.backends import get_sender
from digest.delivery.control import cancel_send, pause_send, resend_unknown, resume_send, settle_unknown
from digest.delivery.reconcile import mark_stuck_unknown, stalled_batches, stalled_slices
from digest.delivery.plan import open_edition, plan_slice, release_edition, start_edition
from digest.delivery.send import SendRateLimited, send_batch
from digest.delivery.claim import claim_batch
from digest.ledger.states import reader_counts
from digest.editions.lookup import get_edition
from digest.errors import Conflict
from digest.store.db import unit_of_work
from digest.store.models import Delivery, Edition, EditionStatus, PlanSlice, SendBatch
from tests.conftest import reset_caches
from tests.delivery.batches import members, sizes
from tests.factories import approved_edition, many_subscribers, polled_feed


def _started(feed_server, readers: int = 2500, release: bool = True) -> tuple[int, list[int]]:
    polled_feed(feed_server)
    many_subscribers(readers)
    edition_id = approved_edition()
    if release:
        with unit_of_work() as session:
            release_edition(session, edition_id)
    with unit_of_work() as session:
        return edition_id, start_edition(session, edition_id, sender=get_sender())


BY = {"by": "ops@example.org", "source": "test"}


def _send(edition_id: int, batch: int) -> int:
    with unit_of_work() as session:
        return send_batch(session, edition_id, batch, get_sender())


def _status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return get_edition(session, edition_id).status


def test_pause_holds_the_rest_and_resume_never_resends(standin, feed_server):
    edition_id, batches = _started(feed_server)
    assert sizes(batches) == [1000, 1000, 500]
    assert _send(edition_id, batches[0]) == 1000
    with unit_of_work() as session:
        pause_send(session, edition_id, **BY)
    assert _send(edition_id, batches[1]) == 0
    with unit_of_work() as session:
        again = resume_send(session, edition_id, **BY).batches
    assert again == batches[1:]  # the batches never claimed, as they were
    for batch in again + batches:  # old messages arriving late change nothing
        _send(edition_id, batch)
    assert len(standin.requests) == 3
    assert set(standin.delivered.values()) == {1} and len(standin.delivered) == 2500
    assert _status(edition_id) == EditionStatus.SENT


def test_cancel_stops_what_was_not_handed_over(standin, feed_server):
    edition_id, batches = _started(feed_server)
    _send(edition_id, batches[0])
    with unit_of_work() as session:
        cancelled = cancel_send(session, edition_id, get_sender(), **BY).deliveries
    assert cancelled == 1500
    assert [_send(edition_id, b) for b in batches[1:]] == [0, 0]
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"accepted": 1000, "cancelled": 1500}
    assert _status(edition_id) == EditionStatus.CANCELLED
    with pytest.raises(Conflict), unit_of_work() as session:
        resume_send(session, edition_id, **BY)


def test_a_send_scheduled_ahead_carries_send_at_and_can_be_cancelled(standin, feed_server):
    edition_id, batches = _started(feed_server, readers=10, release=False)  # send_at is days ahead
    _send(edition_id, batches[0])
    [body] = standin.requests
    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        assert body["send_at"] == int(edition.send_at.timestamp())
        assert body["batch_id"] == edition.provider_batch_id
        cancel_send(session, edition_id, get_sender(), **BY)
    assert standin.cancelled_batches == [body["batch_id"]]


def test_a_fixed_key_resumes_a_paused_send(standin, feed_server):
    standin.api_key = "SG.rotated"
    edition_id, batches = _started(feed_server, readers=20)
    assert _send(edition_id, batches[0]) == 0
    assert _status(edition_id) == EditionStatus.PAUSED
    standin.api_key = "SG.test-key"
    with unit_of_work() as session:
        again = resume_send(session, edition_id, **BY).batches
    assert _send(edition_id, again[0]) == 20
    assert _status(edition_id) == EditionStatus.SENT


def test_a_batch_too_large_is_split_until_it_fits(standin, feed_server):
    edition_id, batches = _started(feed_server, readers=1000)
    standin.max_body_bytes = 200_000
    assert _send(edition_id, batches[0]) == 1000
    assert len(standin.requests) > 1 and set(standin.delivered.values()) == {1}


def test_stuck_claims_become_unknown_and_are_resent_only_on_request(standin, feed_server, monkeypatch):
    edition_id, batches = _started(feed_server, readers=30)
    with unit_of_work() as session:
        claim_batch(session, edition_id, batches[0], utcnow() - dt.timedelta(minutes=30))  # then "died"
    with unit_of_work() as session:
        assert mark_stuck_unknown(session) == 30
        assert reader_counts(session, edition_id) == {"unknown": 30}
        assert resend_unknown(session, edition_id, **BY).batches == []  # not old enough by default (60 min)
    with unit_of_work() as session:
        [again] = resend_unknown(session, edition_id, older_than_minutes=0, **BY).batches
    assert _send(edition_id, again) == 30
    assert set(standin.delivered.values()) == {1} and _status(edition_id) == EditionStatus.SENT


def test_an_operator_can_settle_unknown_rows(standin, feed_server):
    edition_id, batches = _started(feed_server, readers=5)
    with unit_of_work() as session:
        claim_batch(session, edition_id, batches[0], utcnow() - dt.timedelta(hours=1))
    with unit_of_work() as session:
        mark_stuck_unknown(session)
        assert settle_unknown(session, edition_id, "failed", **BY).deliveries == 5
    assert _status(edition_id) == EditionStatus.SENT
    assert standin.requests == []


def test_lost_queue_messages_are_found_and_reissued(standin, feed_server):
    edition_id, batches = _started(feed_server, readers=1500)
    with unit_of_work() as session:
        assert stalled_batches(session) == {}  # just started: not stalled yet
        session.execute(update(Edition).where(Edition.id == edition_id)
                        .values(started_at=utcnow() - dt.timedelta(hours=1)))
    with unit_of_work() as session:
        assert stalled_batches(session) == {edition_id: batches}


def test_a_lost_planning_lane_is_found_while_the_other_lane_still_sends(standin, feed_server, monkeypatch):
    monkeypatch.setenv("SEND_PLAN_SLICE_SIZE", "500")
    reset_caches()
    polled_feed(feed_server)
    many_subscribers(1500)
    edition_id = approved_edition()
    with unit_of_work() as session:
        release_edition(session, edition_id)
        first, *lost = open_edition(session, edition_id)
    with unit_of_work() as session:
        [batch] = plan_slice(session, edition_id, first)
    an_hour_ago = utcnow() - dt.timedelta(hours=1)
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == edition_id).values(started_at=an_hour_ago))
        assert stalled_slices(session) == {}  # a slice was planned a moment ago
        session.execute(update(PlanSlice).where(PlanSlice.planned_at.is_not(None)).values(planned_at=an_hour_ago))
    with unit_of_work() as session:
        claim_batch(session, edition_id, batch, utcnow())  # the other lane's batches are still claimed
    with unit_of_work() as session:
        assert stalled_slices(session) == {edition_id: lost} and len(lost) == 2


def test_a_send_whose_last_two_commits_crossed_is_finished_by_the_reconciliation(standin, feed_server):
    from digest.delivery.reconcile import finish_complete_editions
    from digest.store.models import PlanSlice

    edition_id, batches = _started(feed_server, readers=5)
    with unit_of_work() as session:
        # A slice still being planned when the last batch checked: the edition stayed sending.
        session.execute(update(PlanSlice).where(PlanSlice.edition_id == edition_id).values(planned_at=None))
    assert _send(edition_id, batches[0]) == 5
    with unit_of_work() as session:
        assert finish_complete_editions(session) == []  # a slice is unplanned: not finished
        session.execute(update(PlanSlice).where(PlanSlice.edition_id == edition_id).values(planned_at=utcnow()))
    with unit_of_work() as session:
        assert finish_complete_editions(session) == [edition_id]
    assert _status(edition_id) == EditionStatus.SENT


def test_a_batch_over_the_hourly_limit_waits_without_claiming(standin, feed_server, monkeypatch, redis_client):
    monkeypatch.setenv("SEND_RATE_PER_HOUR", "20")
    reset_caches()
    from digest.delivery.ratelimit import get_rate_limiter

    get_rate_limiter.cache_clear()
    redis_client.delete(*redis_client.keys("digest:send-rate:*") or ["none"])
    edition_id, batches = _started(feed_server, readers=15)
    assert _send(edition_id, batches[0]) == 15
    edition_two = batches  # the hour now holds 15 of 20
    with unit_of_work() as session:
        # The same batch waiting again, as if it had not been sent.
        session.execute(update(SendBatch).where(SendBatch.id == batches[0])
                        .values(state="pending", sent_at=None, message_id=None))
        session.execute(update(Edition).where(Edition.id == edition_id).values(status="sending"))
    with pytest.raises(SendRateLimited) as raised:
        _send(edition_id, edition_two[0])
    assert raised.value.retry_after > 2
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"pending": 15}
    get_rate_limiter.cache_clear()


def _unknown(feed_server, readers: int = 20) -> tuple[int, list[int]]:
    edition_id, batches = _started(feed_server, readers=readers)
    with unit_of_work() as session:
        claim_batch(session, edition_id, batches[0], utcnow() - dt.timedelta(hours=2))  # then "died"
    with unit_of_work() as session:
        mark_stuck_unknown(session)
    return edition_id, batches


def _event_for(edition_id: int, delivery_id: int | None, message: str = "first") -> None:
    from digest.store.models import DeliveryEvent

    with unit_of_work() as session:
        session.add(DeliveryEvent(delivery_id=delivery_id, provider_event_id=f"{message}-{delivery_id}-{edition_id}",
                                  event="processed", payload={"sg_message_id": f"{message}.filter-0"},
                                  occurred_at=utcnow()))


def test_silent_unknown_rows_are_resent_once_only_with_a_webhook_that_reported_on_the_edition(
        standin, feed_server, monkeypatch):
    from digest.delivery.reconcile import resend_silent_unknown
    from digest.store.models import AuditEntry

    edition_id, _ = _unknown(feed_server, readers=20)
    with unit_of_work() as session:
        assert resend_silent_unknown(session) == {}, "no event for this edition yet: no evidence"
        other = session.scalars(select(Delivery.id).where(Delivery.edition_id == edition_id)
                                .order_by(Delivery.id.desc()).limit(1)).one()
        first = session.scalars(select(Delivery.id).where(Delivery.edition_id == edition_id)
                                .order_by(Delivery.id).limit(1)).one()
    _event_for(edition_id, first)  # SendGrid reported one unknown row: it went out
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", "")
    reset_caches()
    with unit_of_work() as session:
        assert resend_silent_unknown(session) == {}, "without a webhook the rows wait for an operator"
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", standin.public_key)
    reset_caches()
    with unit_of_work() as session:
        done = resend_silent_unknown(session)
    assert list(done) == [edition_id] and done[edition_id].deliveries == 19
    [batch] = done[edition_id].batches
    assert first not in members(batch) and other in members(batch)
    with unit_of_work() as session:
        audit = session.scalars(select(AuditEntry)).one()
        assert (audit.action, audit.source, audit.details["automatic"]) == ("ops:resend_unknown", "beat", True)
    # Dies again: the second time the rows stay unknown for an operator.
    with unit_of_work() as session:
        claim_batch(session, edition_id, batch, utcnow() - dt.timedelta(hours=2))
    with unit_of_work() as session:
        assert mark_stuck_unknown(session) == 19
        assert resend_silent_unknown(session) == {}


def test_a_late_event_for_the_first_attempt_is_counted_as_maybe_twice(standin, feed_server):
    from digest.delivery.reconcile import resend_silent_unknown
    from digest.delivery.progress import send_progress

    edition_id, _ = _unknown(feed_server, readers=5)
    with unit_of_work() as session:
        any_delivery = session.scalars(select(Delivery.id).where(Delivery.edition_id == edition_id)).first()
    _event_for(edition_id, any_delivery, message="elsewhere")  # SendGrid reports on this edition
    with unit_of_work() as session:
        [batch] = resend_silent_unknown(session)[edition_id].batches
    assert _send(edition_id, batch) == 4
    with unit_of_work() as session:
        late = session.scalars(select(Delivery.id).where(Delivery.id.in_(members(batch)))).first()
    _event_for(edition_id, late, message="first-attempt")  # the first attempt got through after all
    with unit_of_work() as session:
        progress = send_progress(session, session.get(Edition, edition_id))
    assert (progress.resent, progress.maybe_twice) == (4, 1)
