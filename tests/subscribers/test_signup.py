"""Sign-up through the web form, the JSON API and the CLI: validation, one row per person,
the same answer for every address, rate limits, the honeypot, consent on record."""

from __future__ import annotations

import lxml.html
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from digest.config import get_settings
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Subscriber, SubscriberStatus, SuppressionReason
from digest.addresses import address_hash
from digest.subscribers.lifecycle import unsubscribe
from digest.subscribers.suppressions import suppress
from digest.web.app import app
from tests.factories import subscribers
from tests.subscribers.conftest import confirmations, link_path, settle_confirmations, wait_for_confirmations
from tests.cli import digest


def _rows(address: str) -> list[Subscriber]:
    with unit_of_work() as session:
        return list(session.scalars(select(Subscriber).where(Subscriber.email == address)))


def _audit(action: str, address: str) -> list[AuditEntry]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.email_hash == address_hash(address)).order_by(AuditEntry.id)))


def test_the_form_works_without_javascript_and_labels_every_field(client):
    page = client.get("/subscribe")
    assert page.status_code == 200
    tree = lxml.html.fromstring(page.text)
    assert not tree.xpath("//script")
    [form] = tree.xpath("//form")
    assert form.get("method") == "post" and form.get("action") == "/subscribe"
    for field in form.xpath(".//input"):
        assert tree.xpath(f"//label[@for='{field.get('id')}']"), f"input {field.get('name')} has no label"
    honeypot = form.xpath(".//input[@name='website']")[0]
    assert honeypot.get("tabindex") == "-1" and honeypot.getparent().get("aria-hidden") == "true"


def test_a_sign_up_is_stored_normalised_with_its_consent_and_sends_a_confirmation(client, worker):
    answer = client.post("/subscribe", data={"email": "  Nino.Beridze@Example.ORG ", "name": "Nino  Beridze"})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [row] = _rows("nino.beridze@example.org")
    assert (row.status, row.name, row.source, row.signup_ip) == (SubscriberStatus.PENDING, "Nino Beridze", "web", "testclient")
    assert row.signup_at is not None and row.confirmed_at is None
    [message] = wait_for_confirmations(get_settings().OUTBOX_DIR, "nino.beridze@example.org")
    assert message["Subject"] == "Confirm your subscription to the Central Asia-Caucasus Analyst digest"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    html = message.get_body(("html",)).get_content()
    assert "style=" in html and "Central Asia-Caucasus Analyst" in html, "the editions' layout, CSS inlined"
    assert "works for 7 days" in message.get_body(("plain",)).get_content()
    assert link_path(message, "confirm").startswith("/confirm/")
    assert "List-Unsubscribe" not in message  # one transactional message, not bulk mail
    [signup] = _audit("signup", "nino.beridze@example.org")
    assert (signup.source, signup.ip, signup.details["confirmation"]) == ("web", "testclient", "sent")
    settle_confirmations()  # the worker writes the file, then commits its audit entry
    [sent] = _audit("confirmation_sent", "nino.beridze@example.org")
    assert sent.details["message_id"] == message["Message-ID"]


@pytest.mark.parametrize("email, words", [
    ("not-an-address", "“not-an-address” is not a complete email address. Please check it"),
    ("someone@", "“someone@” is not a complete email address."),
    ("someone@example", "“someone@example” is not a complete email address."),
    ("", "Please enter your email address."),
])
def test_a_bad_address_is_refused_on_the_form_in_its_words_and_nothing_is_stored(client, email, words):
    answer = client.post("/subscribe", data={"email": email, "name": "X"})
    assert answer.status_code == 400 and words in answer.text
    # The page speaks for itself: never the validator's message ("must have an @-sign").
    assert "@-sign" not in answer.text and "It should have a period" not in answer.text
    assert 'aria-invalid="true"' in answer.text and 'role="alert"' in answer.text
    api = client.post("/api/subscribers/signup", json={"email": email})
    assert api.status_code == 400 and "is not valid" in api.json()["error"]
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_a_name_too_long_is_refused_in_the_forms_words(client):
    answer = client.post("/subscribe", data={"email": "ada@example.org", "name": "A" * 201})
    assert answer.status_code == 400 and "Please give a name of at most 200 characters, or leave it empty." in answer.text
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_every_address_gets_the_same_answer_and_no_duplicate(client, worker, monkeypatch):
    """New, pending, confirmed, unsubscribed and suppressed addresses, and a bot in the honeypot,
    all see the same page and the same JSON: the form does not tell who is subscribed."""
    monkeypatch.setenv("SIGNUP_LIMIT_PER_IP", "100")
    get_settings.cache_clear()
    subscribers("confirmed@example.org")
    [gone] = subscribers("gone@example.org")
    with unit_of_work() as session:
        unsubscribe(session, gone)
    subscribers("pending@example.org", confirmed=False)
    with unit_of_work() as session:
        suppress(session, "bounced@example.org", SuppressionReason.HARD_BOUNCE, source="webhook")
    cases = [{"email": a} for a in ("new@example.org", "confirmed@example.org", "gone@example.org",
                                    "pending@example.org", "bounced@example.org")]
    cases.append({"email": "bot@example.org", "website": "http://spam.example"})
    pages = [client.post("/subscribe", data=case) for case in cases]
    assert {(p.status_code, p.text) for p in pages} == {(pages[0].status_code, pages[0].text)}
    apis = [client.post("/api/subscribers/signup", json=case) for case in cases]
    assert {(a.status_code, a.text) for a in apis} == {(202, apis[0].text)}
    with unit_of_work() as session:
        counts = dict(session.execute(select(Subscriber.email, func.count()).group_by(Subscriber.email)).all())
        statuses = dict(session.execute(select(Subscriber.email, Subscriber.status)).all())
    # One row per person, whatever was asked; asking changes nobody's status.
    assert set(counts.values()) == {1} and "bot@example.org" not in counts
    assert statuses["confirmed@example.org"] == SubscriberStatus.CONFIRMED
    assert statuses["gone@example.org"] == SubscriberStatus.UNSUBSCRIBED
    # Each real request re-sent the confirmation (twice: form and API); the bot got nothing.
    outbox = get_settings().OUTBOX_DIR
    for address in ("new@example.org", "confirmed@example.org", "gone@example.org", "pending@example.org",
                    "bounced@example.org"):
        wait_for_confirmations(outbox, address, 2)
    assert confirmations(outbox, "bot@example.org") == []


def test_confirmations_per_address_are_limited_silently(client, worker, monkeypatch):
    monkeypatch.setenv("CONFIRMATION_LIMIT_PER_ADDRESS", "2")
    get_settings.cache_clear()
    pages = [client.post("/subscribe", data={"email": "target@example.org"}) for _ in range(5)]
    assert {(p.status_code, p.text) for p in pages} == {(200, pages[0].text)}
    outbox = get_settings().OUTBOX_DIR
    settle_confirmations()
    assert len(confirmations(outbox, "target@example.org")) == 2
    assert [e.details["confirmation"] for e in _audit("signup", "target@example.org")] == \
        ["sent", "sent", "rate limited", "rate limited", "rate limited"]
    assert len(_rows("target@example.org")) == 1


def test_sign_ups_per_ip_are_limited_with_429(client, worker, monkeypatch):
    monkeypatch.setenv("SIGNUP_LIMIT_PER_IP", "3")
    get_settings.cache_clear()
    for i in range(3):
        assert client.post("/subscribe", data={"email": f"r{i}@example.org"}).status_code == 200
    refused = client.post("/subscribe", data={"email": "r3@example.org"})
    assert refused.status_code == 429 and "Too many sign-ups from your network; please try again later." in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    api = client.post("/api/subscribers/signup", json={"email": "r4@example.org"})
    assert api.status_code == 429 and "too many" in api.json()["error"]
    assert _rows("r3@example.org") == [] and _rows("r4@example.org") == []


def test_the_honeypot_stores_nothing_and_sends_nothing(client, worker):
    answer = client.post("/subscribe", data={"email": "bot@example.org", "website": "x"})
    normal = client.post("/subscribe", data={"email": "person@example.org"})
    assert (answer.status_code, answer.text) == (normal.status_code, normal.text)
    wait_for_confirmations(get_settings().OUTBOX_DIR, "person@example.org")
    assert _rows("bot@example.org") == [] and _audit("signup", "bot@example.org") == []


def test_the_cli_signs_up_with_a_confirmation(settings, worker):
    result = digest("subscribers", "signup", "Cli.Reader@Example.org", "--name", "Cli Reader")
    assert result.returncode == 0 and "confirmation email queued" in result.stdout, result.stderr
    [row] = _rows("cli.reader@example.org")
    assert (row.status, row.source, row.signup_ip) == (SubscriberStatus.PENDING, "cli", None)
    wait_for_confirmations(settings.OUTBOX_DIR, "cli.reader@example.org")
    bad = digest("subscribers", "signup", "nobody@")
    assert bad.returncode == 2 and "is not valid" in bad.stderr


def test_confirmations_travel_on_the_queue_of_short_tasks():
    from workers.app import app
    from workers.tasks import send_confirmation

    # Never behind an edition's send batches on `delivery`: the new reader is waiting for it.
    route = app.amqp.router.route({}, send_confirmation.name)
    assert route["queue"].name == "editions"


def _bot_signup(client_address: str) -> int:
    # The honeypot is filled: the address's limit is counted, nothing is stored or sent.
    with TestClient(app, client=(client_address, 4000)) as browser:
        return browser.post("/api/subscribers/signup", json={"email": "bot@example.org", "website": "x"}).status_code


def test_sign_ups_from_one_ipv6_64_share_one_allowance(settings, rate_limits, monkeypatch):
    monkeypatch.setenv("SIGNUP_LIMIT_PER_IP", "2")
    get_settings.cache_clear()
    assert [_bot_signup("2001:db8::1"), _bot_signup("2001:db8::2")] == [202, 202]
    assert _bot_signup("2001:db8::abcd:1") == 429, "another address of the same /64"
    assert _bot_signup("2001:db8:0:1::1") == 202, "the next /64 has its own allowance"
    assert [_bot_signup("198.51.100.1"), _bot_signup("::ffff:198.51.100.1")] == [202, 202]
    assert _bot_signup("198.51.100.1") == 429, "an IPv4-mapped address is its IPv4 address"
    assert _bot_signup("198.51.100.2") == 202, "IPv4 addresses are counted one by one"
