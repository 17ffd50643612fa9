"""What is held about a person, shown whole; forgetting them; and the audit log of every change."""

from __future__ import annotations

import io
import json

from sqlalchemy import select, text

from digest.delivery.memory import MemorySender
from digest.store.db import get_engine, unit_of_work
from digest.store.models import AuditEntry, Base, Subscriber, SubscriberStatus, SuppressionReason
from digest.addresses import address_hash
from digest.subscribers.csv_import import import_subscribers
from digest.subscribers.lifecycle import confirm_subscription, sign_up, unsubscribe
from digest.subscribers.preferences import update_preferences
from digest.subscribers.suppressions import suppress, suppression_for
from digest.subscribers.tokens import CONFIRM, make_token
from tests.factories import approved_edition, polled_feed, send_now
from tests.cli import digest

PERSON = "zarina.tursunova@example.org"


def _subscribe(ip: str = "198.51.100.7") -> int:
    with unit_of_work() as session:
        subscriber_id = sign_up(session, PERSON, name="Zarina Tursunova", source="web", ip=ip).subscriber_id
    with unit_of_work() as session:
        confirm_subscription(session, make_token(CONFIRM, subscriber_id), ip=ip)
    return subscriber_id


def _send_an_edition(feed_server) -> None:
    polled_feed(feed_server)
    send_now(approved_edition(), MemorySender())


def _actions() -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry.action).where(AuditEntry.email_hash == address_hash(PERSON))
                                    .order_by(AuditEntry.id)))


def _tables_mentioning(needle: str) -> list[str]:
    """Every table with a row whose text mentions `needle` (the person's address or IP)."""
    found = []
    with get_engine().connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                if needle in " ".join(map(str, row)):
                    found.append(table.name)
                    break
    return found


def test_show_prints_everything_held_about_one_person(settings, feed_server, rate_limits):
    subscriber_id = _subscribe()
    _send_an_edition(feed_server)
    result = digest("subscribers", "show", PERSON.upper(), "--json")
    assert result.returncode == 0, result.stderr
    held = json.loads(result.stdout)
    person = held["subscriber"]
    assert (person["id"], person["email"], person["name"], person["status"]) == \
        (subscriber_id, PERSON, "Zarina Tursunova", "confirmed")
    assert (person["source"], person["signup_ip"], person["confirm_ip"]) == ("web", "198.51.100.7", "198.51.100.7")
    assert person["signup_at"] and person["confirmed_at"]
    assert [(d["edition_id"], d["status"]) for d in held["deliveries"]] == [(1, "accepted")]
    assert [e["action"] for e in held["audit_log"]] == ["signup", "confirm"]
    assert held["suppression"] is None and held["email_hash"] == address_hash(PERSON)
    readable = digest("subscribers", "show", PERSON)
    assert f"{PERSON}: subscriber {subscriber_id}, confirmed" in readable.stdout
    assert "1 deliveries" in readable.stdout


def test_forgetting_erases_the_person_and_keeps_only_a_hashed_suppression(settings, feed_server, rate_limits):
    _subscribe()
    _send_an_edition(feed_server)
    assert {"subscribers", "deliveries"} <= set(_tables_mentioning(PERSON))
    result = digest("subscribers", "forget", PERSON)
    assert result.returncode == 0 and "forgotten: 1 subscriber, 1 deliveries" in result.stdout, result.stderr
    assert _tables_mentioning(PERSON) == [] and _tables_mentioning("198.51.100.7") == []
    with unit_of_work() as session:
        entry = suppression_for(session, PERSON)
        assert (entry.email, entry.reason) == (None, SuppressionReason.FORGOTTEN)
        assert session.scalar(select(Subscriber).where(Subscriber.email == PERSON)) is None
        details = session.execute(select(AuditEntry.details, AuditEntry.ip, AuditEntry.subscriber_id)
                                  .where(AuditEntry.email_hash == address_hash(PERSON))).all()
    assert [tuple(row) for row in details] == [({}, None, None)] * 3, "the log keeps that things happened, not the details"
    assert _actions() == ["signup", "confirm", "forget"]
    held = json.loads(digest("subscribers", "show", PERSON, "--json").stdout)
    assert held["subscriber"] is None and held["deliveries"] == [] and held["suppression"]["email"] is None
    again = digest("subscribers", "forget", PERSON)
    assert again.returncode == 0 and "forgotten: 0 subscriber" in again.stdout


def test_a_forgotten_address_is_not_brought_back_by_an_import(settings, rate_limits):
    _subscribe()
    digest("subscribers", "forget", PERSON)
    csv = f"email,name,confirmed_at\n{PERSON.upper()},Zarina,2025-01-01\nother@example.org,Other,2025-01-01\n"
    with unit_of_work() as session:
        report = import_subscribers(session, io.BytesIO(csv.encode()))
    assert report.created == 1
    assert [(p.line, p.reason) for p in report.problems] == [(2, f"{PERSON} is suppressed (forgotten); not imported")]
    assert _tables_mentioning(PERSON) == []
    # Only the person, confirming a new sign-up, can come back.
    with unit_of_work() as session:
        subscriber_id = sign_up(session, PERSON, source="web", ip="203.0.113.5").subscriber_id
    with unit_of_work() as session:
        confirm_subscription(session, make_token(CONFIRM, subscriber_id), ip="203.0.113.5")
        assert suppression_for(session, PERSON) is None
        assert session.get(Subscriber, subscriber_id).status == SubscriberStatus.CONFIRMED


def test_every_state_change_is_in_the_audit_log(settings, rate_limits):
    subscriber_id = _subscribe()
    with unit_of_work() as session:
        update_preferences(session, subscriber_id, sections=["Field Reports"], format="text", paused=True, ip="198.51.100.7")
        unsubscribe(session, subscriber_id, ip="198.51.100.8")
    with unit_of_work() as session:
        sign_up(session, PERSON, source="api", ip="198.51.100.9")
    with unit_of_work() as session:
        confirm_subscription(session, make_token(CONFIRM, subscriber_id), ip="198.51.100.9")
        suppress(session, PERSON, SuppressionReason.OPERATOR, source="operator", detail="asked by phone")
        import_subscribers(session, io.BytesIO(b"email,organisation\n" + PERSON.encode() + b",Institute\n"))
    assert _actions() == ["signup", "confirm", "preferences", "unsubscribe", "suppress", "signup", "unsuppress",
                          "confirm", "suppress"]
    # The import skipped the suppressed address: no change, no entry. Lift it, and the import records one.
    with unit_of_work() as session:
        session.execute(text("DELETE FROM suppressions"))
        import_subscribers(session, io.BytesIO(b"email,organisation\n" + PERSON.encode() + b",Institute\n"))
    digest("subscribers", "forget", PERSON)
    assert _actions()[-2:] == ["import", "forget"]
    with unit_of_work() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "forget")).all()
    assert [(e.source, e.subscriber_id) for e in entries] == [("cli", None)]
