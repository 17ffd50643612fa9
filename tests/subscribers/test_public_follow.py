"""The public "Follow <topic>" page the archive's links open (no reader is known there): it asks
for an address and a pace, always answers "check your inbox", and goes the one sign-up way (its
IP limit, confirmations per address, honeypot). A subscribed reader is emailed a link to their own
signed follow page (credited to the edition); a new address gets the double opt-in, and the
follow exists once confirmed. A hidden topic is refused, hostile ids with a clear error."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from pathlib import Path

import lxml.html
from sqlalchemy import func, select

from digest.delivery.memory import MemorySender
from digest.store.db import unit_of_work
from digest.store.models import (AuditEntry, DeliveryEvent, Follow, Pace, Subscriber, SubscriberStatus, SuppressionReason,
                                 Topic, TopicKind)
from digest.subscribers.suppressions import suppress
from digest.subscribers.tokens import PREFERENCES, make_token
from tests.conftest import wait_for
from tests.factories import approved_edition, polled_feed, send_now, subscribers
from tests.feed_documents import recent_items
from tests.subscribers.conftest import link_path, settle_confirmations, wait_for_confirmations
from tests.subscribers.test_follows import topics

READER, NEWCOMER = "reader@example.org", "newcomer@example.org"


def _sent_edition(feed_server) -> tuple[int, int, int]:
    """A sent edition whose article is tagged Georgia: (edition id, its reader, Georgia's id)."""
    polled_feed(feed_server, [replace(item, tags=("Georgia",)) for item in recent_items(1)])
    [reader] = subscribers(READER)
    edition_id = approved_edition()
    send_now(edition_id, MemorySender())
    with unit_of_work() as session:
        georgia = session.scalar(select(Topic.id).where(Topic.kind == TopicKind.TAG, Topic.name == "Georgia"))
    return edition_id, reader, georgia


def _follow_mails(outbox: Path, to: str) -> list[email.message.EmailMessage]:
    messages = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted((outbox / "transactional").glob("follow-*.eml"))]
    return [m for m in messages if m["To"] == to]


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def _follows() -> list[tuple[int, int, Pace]]:
    with unit_of_work() as session:
        return session.execute(select(Follow.subscriber_id, Follow.topic_id, Follow.pace)
                               .order_by(Follow.subscriber_id)).all()


def test_a_subscribed_reader_and_a_new_address_get_the_same_answer_and_each_the_right_email(
        settings, client, worker, feed_server):
    edition_id, reader, georgia = _sent_edition(feed_server)
    form = lxml.html.fromstring(client.get(f"/follow/{georgia}?e={edition_id}").text)
    assert form.xpath("//h1")[0].text_content() == "Follow Georgia"
    assert form.xpath("//form/@action") == [f"/follow/{georgia}?e={edition_id}"]
    for field in form.xpath("//form//input"):
        assert form.xpath(f"//label[@for='{field.get('id')}']"), f"input {field.get('name')} has no label"

    answers = [client.post(f"/follow/{georgia}?e={edition_id}", data={"email": address, "pace": "alert"})
               for address in (READER, NEWCOMER)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].text == answers[1].text and "Check your inbox" in answers[0].text
    assert _follows() == []  # nothing until a link is pressed

    # The subscribed reader: their own signed follow page, the pace chosen, credited to the edition.
    [mail] = wait_for(lambda: _follow_mails(settings.OUTBOX_DIR, READER), what="the follow link email")
    assert "Georgia" in mail["Subject"] and "List-Unsubscribe" not in mail
    token = make_token(PREFERENCES, reader)
    link = re.search(r"https://digest\.example\.org(/p/\S+)", _text(mail)).group(1)
    assert link == f"/p/{token}/follow/{georgia}?e={edition_id}&pace=alert"
    page = lxml.html.fromstring(client.get(link).text)
    assert page.xpath("//input[@name='pace'][@checked]/@value") == ["alert"]
    assert client.post(page.xpath("//form/@action")[0], data={"pace": "alert", "do": "save"}).status_code == 200
    assert _follows() == [(reader, georgia, Pace.ALERT)]
    with unit_of_work() as session:
        [entry] = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "follow")).all()
        assert entry["edition"] == edition_id
        assert session.scalar(select(func.count()).select_from(DeliveryEvent).where(
            DeliveryEvent.event == "web_preferences")) == 1

    # The new address: the double opt-in, which follows the topic once pressed.
    [confirmation] = wait_for_confirmations(settings.OUTBOX_DIR, NEWCOMER)
    assert 'follow "Georgia" (an email soon after each new article)' in " ".join(_text(confirmation).split())
    confirm = link_path(confirmation, "confirm")
    assert "Confirm my subscription" in client.get(confirm).text
    assert _follows() == [(reader, georgia, Pace.ALERT)]  # opening the link changes nothing
    done = client.post(confirm)
    assert done.status_code == 200 and "You follow Georgia" in done.text
    with unit_of_work() as session:
        newcomer = session.scalar(select(Subscriber).where(Subscriber.email == NEWCOMER))
        assert newcomer.status == SubscriberStatus.CONFIRMED
    assert _follows() == [(reader, georgia, Pace.ALERT), (newcomer.id, georgia, Pace.ALERT)]
    assert client.post(confirm).status_code == 200  # confirming twice changes nothing
    assert _follows() == [(reader, georgia, Pace.ALERT), (newcomer.id, georgia, Pace.ALERT)]


def test_a_topic_hidden_before_confirming_is_left_out_and_the_subscription_stands(settings, client, worker,
                                                                                  feed_server):
    _, _, georgia = _sent_edition(feed_server)
    assert client.post(f"/follow/{georgia}", data={"email": NEWCOMER}).status_code == 200
    [confirmation] = wait_for_confirmations(settings.OUTBOX_DIR, NEWCOMER)
    with unit_of_work() as session:
        session.get(Topic, georgia).hidden = True
    done = client.post(link_path(confirmation, "confirm"))
    assert done.status_code == 200 and "You are subscribed" in done.text and "You follow" not in done.text
    assert _follows() == []


def test_a_hidden_topic_and_hostile_ids_are_refused_with_clear_errors(settings, client, worker):
    [hidden] = topics((TopicKind.TAG, "Internal"))
    with unit_of_work() as session:
        session.get(Topic, hidden).hidden = True
    assert client.get(f"/follow/{hidden}").status_code == 404
    assert client.post(f"/follow/{hidden}", data={"email": NEWCOMER}).status_code == 404
    for path in ("/follow/2147483647", "/follow/abc", "/follow/-1", "/follow/" + "9" * 40):
        assert client.get(path).status_code == 404, path
    for query in ("abc", "-1", "0", "9" * 40, "<script>alert(1)</script>"):
        for page in ("/preferences", f"/p/{make_token(PREFERENCES, 1)}"):
            answer = client.get(page, params={"e": "1", "follow": query})
            assert answer.status_code == 400 and "is not a topic" in answer.text, (page, query)
            assert "<script>alert" not in answer.text
    [shown] = topics((TopicKind.TAG, "Georgia"))
    wrong_pace = client.post(f"/follow/{shown}", data={"email": NEWCOMER, "pace": "hourly"})
    assert wrong_pace.status_code == 400 and "pace &#39;hourly&#39; must be digest or alert" in wrong_pace.text
    not_an_address = client.post(f"/follow/{shown}", data={"email": "not-an-address"})
    assert not_an_address.status_code == 400 and "is not a complete email address" in not_an_address.text
    settle_confirmations()
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_the_public_follow_page_counts_against_the_sign_up_limit_and_keeps_its_honeypot(settings, client, worker):
    [georgia] = topics((TopicKind.TAG, "Georgia"))
    answers = [client.post(f"/follow/{georgia}", data={"email": f"bot{n}@example.org", "website": "spam"})
               for n in range(settings.SIGNUP_LIMIT_PER_IP)]
    assert {answer.status_code for answer in answers} == {200}  # the bot is told the same
    refused = client.post(f"/follow/{georgia}", data={"email": NEWCOMER})
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_a_suppressed_reader_is_sent_the_confirmation_not_their_follow_link(settings, client, worker, feed_server):
    _, reader, georgia = _sent_edition(feed_server)
    with unit_of_work() as session:
        suppress(session, READER, SuppressionReason.HARD_BOUNCE, source="test")
    assert client.post(f"/follow/{georgia}", data={"email": READER}).status_code == 200
    [confirmation] = wait_for_confirmations(settings.OUTBOX_DIR, READER)
    assert _follow_mails(settings.OUTBOX_DIR, READER) == []
    assert client.post(link_path(confirmation, "confirm")).status_code == 200
    assert _follows() == [(reader, georgia, Pace.DIGEST)]
