"""Who receives an edition, and the suppression list: bounces, spam reports, blocks, operators;
a suppressed address comes back only through a new confirmed opt-in."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import Conflict
from digest.store.db import unit_of_work
from digest.store.models import Subscriber, SubscriberStatus, SuppressionReason
from digest.subscribers.audit import audit_trail
from digest.subscribers.lifecycle import add_subscriber, confirm_subscription, sign_up, unsubscribe
from digest.subscribers.privacy import forget_subscriber
from digest.subscribers.suppressions import record_bounce, record_delivered, suppress, suppression_for
from digest.subscribers.tokens import CONFIRM, BadToken, make_token
from tests.delivery.batches import planned_readers
from tests.factories import approved_edition, planned, polled_feed, subscribers
from tests.cli import digest


def _planned(feed_server) -> set[str]:
    """Compose, approve and plan the next edition; the addresses it was planned for."""
    polled_feed(feed_server)
    edition_id = approved_edition()
    planned(edition_id)
    return planned_readers(edition_id)


def _reason(address: str) -> str | None:
    with unit_of_work() as session:
        entry = suppression_for(session, address)
        return entry and entry.reason.value


def test_only_confirmed_unpaused_unsuppressed_readers_are_planned(settings, feed_server, rate_limits):
    subscribers("reader@example.org", "paused@example.org", "bounced@example.org", "reported@example.org",
                "blocked@example.org", "operator@example.org")
    subscribers("pending@example.org", confirmed=False)
    with unit_of_work() as session:
        session.execute(update(Subscriber).where(Subscriber.email == "paused@example.org").values(paused=True))
        record_bounce(session, "bounced@example.org", "hard", detail="550 5.1.1 no such user")
        record_bounce(session, "blocked@example.org", "block", detail="554 blocked by policy")
        suppress(session, "reported@example.org", SuppressionReason.SPAM_REPORT, source="webhook")
        suppress(session, "operator@example.org", SuppressionReason.OPERATOR, source="operator")
    assert _planned(feed_server) == {"reader@example.org"}
    with unit_of_work() as session:
        entry = suppression_for(session, "bounced@example.org")
        assert (entry.reason, entry.detail, entry.source) == (SuppressionReason.HARD_BOUNCE, "550 5.1.1 no such user", "webhook")
        assert utcnow() - entry.created_at < dt.timedelta(minutes=1)
    assert (_reason("blocked@example.org"), _reason("reported@example.org")) == ("block", "spam_report")


def test_soft_bounces_suppress_only_after_the_limit_in_a_row(settings, monkeypatch):
    monkeypatch.setenv("SOFT_BOUNCE_LIMIT", "3")
    get_settings.cache_clear()
    subscribers("flaky@example.org")
    with unit_of_work() as session:
        for _ in range(2):
            assert record_bounce(session, "flaky@example.org", "soft") is None
        record_delivered(session, "Flaky@Example.org")  # the run is broken
        for _ in range(2):
            assert record_bounce(session, "flaky@example.org", "soft") is None
    assert _reason("flaky@example.org") is None
    with unit_of_work() as session:
        entry = record_bounce(session, "flaky@example.org", "soft", detail="452 mailbox full")
        assert entry.reason == SuppressionReason.SOFT_BOUNCES and entry.detail == "3 soft bounces in a row"
    # A soft bounce for an address nobody subscribed with is counted nowhere and suppresses nothing.
    with unit_of_work() as session:
        assert record_bounce(session, "stranger@example.org", "soft") is None
    assert _reason("stranger@example.org") is None
    with unit_of_work() as session, pytest.raises(ValueError):
        record_bounce(session, "flaky@example.org", "bounced-ish")


def test_an_operator_suppresses_from_the_command_line(settings):
    subscribers("reader@example.org")
    done = digest("subscribers", "suppress", "Reader@Example.org", "--reason", "spam_report", "--note", "complaint by phone")
    assert done.returncode == 0 and "reader@example.org is suppressed (spam_report" in done.stdout, done.stderr
    with unit_of_work() as session:
        entry = suppression_for(session, "reader@example.org")
        assert (entry.reason, entry.source, entry.detail) == (SuppressionReason.SPAM_REPORT, "operator", "complaint by phone")
    bad = digest("subscribers", "suppress", "other@example.org", "--reason", "dislike")
    assert bad.returncode == 2 and "--reason 'dislike' must be one of" in bad.stderr
    assert _reason("other@example.org") is None


def test_a_suppressed_address_comes_back_only_through_a_new_confirmed_opt_in(settings, feed_server, rate_limits):
    [reader] = subscribers("reader@example.org")
    old_link = make_token(CONFIRM, reader, utcnow() - dt.timedelta(minutes=1))
    with unit_of_work() as session:
        record_bounce(session, "reader@example.org", "hard")
    # Not by an operator, nor by a confirmation link sent before the bounce.
    with unit_of_work() as session:
        suppress(session, "newcomer@example.org", SuppressionReason.SPAM_REPORT, source="webhook")
    with unit_of_work() as session, pytest.raises(Conflict, match="suppressed .spam_report.; only a sign-up"):
        add_subscriber(session, "newcomer@example.org", confirmed=True)
    with unit_of_work() as session, pytest.raises(BadToken, match="sign up again"):
        confirm_subscription(session, old_link)
    assert _reason("reader@example.org") == "hard_bounce"
    # A new sign-up is a request only; its confirmation is the opt-in that lifts the suppression.
    with unit_of_work() as session:
        sign_up(session, "reader@example.org", source="web", ip="192.0.2.1")
    assert _reason("reader@example.org") == "hard_bounce"
    with unit_of_work() as session:
        confirm_subscription(session, make_token(CONFIRM, reader), ip="192.0.2.1")
    assert _reason("reader@example.org") is None
    assert _planned(feed_server) == {"reader@example.org"}


def test_unsubscribing_records_what_is_missing_once(settings):
    """unsubscribe writes the reader's status and the address's suppression each only where it
    is missing: a second call writes nothing, an address already suppressed (a bounce, or a
    forgotten person's, kept by hash alone, who signed up again) keeps its one entry and its
    reason. A Subscriber the session has loaded shows the change."""
    readers = dict(zip(("left", "bounced"), subscribers("left@example.org", "bounced@example.org")))
    with unit_of_work() as session:
        record_bounce(session, "bounced@example.org", "hard")
    with unit_of_work() as session:
        forget_subscriber(session, "returned@example.org")
        readers["returned"] = sign_up(session, "returned@example.org", source="web").subscriber_id
    for name, subscriber_id in readers.items():
        with unit_of_work() as session:
            loaded = session.get(Subscriber, subscriber_id)
            assert unsubscribe(session, subscriber_id, source="test") is True
            assert loaded.status == SubscriberStatus.UNSUBSCRIBED and loaded.unsubscribed_at is not None, name
        with unit_of_work() as session:
            assert unsubscribe(session, subscriber_id, source="test") is False
    with unit_of_work() as session:
        assert unsubscribe(session, max(readers.values()) + 1, source="test") is False  # no such reader
    trails = {}
    for name in readers:
        with unit_of_work() as session:
            trails[name] = [entry.action for entry in audit_trail(session, f"{name}@example.org")]
    assert trails == {"left": ["add", "unsubscribe", "suppress"], "bounced": ["add", "suppress", "unsubscribe"],
                      "returned": ["forget", "signup", "unsubscribe"]}
    assert {name: _reason(f"{name}@example.org") for name in readers} == \
        {"left": "unsubscribe", "bounced": "hard_bounce", "returned": "forgotten"}
