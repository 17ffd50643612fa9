"""A reader's whole life with the digest, over real HTTP to the app served by uvicorn:
sign up -> confirmation email -> confirm -> the next edition arrives -> one-click unsubscribe
without cookies -> no further edition. Confirmations go out through a Celery worker process."""

from __future__ import annotations

import dataclasses
from email.message import EmailMessage

import httpx
import pytest

from digest.clock import utcnow
from digest.delivery.memory import MemorySender
from digest.editions.approve import approve_edition
from digest.editions.cadence import Cadence
from digest.editions.compose import compose_edition, compose_next_edition
from digest.feeds.poll import poll_feed
from digest.store.db import unit_of_work
from tests.factories import polled_feed, send_now, serve_feed, subscribers
from tests.feed_documents import recent_items
from tests.live_app import app_in_thread
from tests.subscribers.conftest import link_path, wait_for_confirmations

pytestmark = pytest.mark.slow

READER = "leyla.aliyeva@example.org"


@pytest.fixture
def live_app(settings):
    with app_in_thread() as base:
        yield base


def _send(edition_id: int) -> list[EmailMessage]:
    """Release, plan and send an approved edition in this process; the messages it sent."""
    sender = MemorySender()
    send_now(edition_id, sender)
    return sender.messages


def test_a_reader_signs_up_confirms_reads_and_leaves_in_one_click(settings, worker, live_app, feed_server):
    feed_id = polled_feed(feed_server)
    subscribers("colleague@example.org")  # a second reader, so that "no edition" means "not to her"

    with httpx.Client(base_url=live_app) as browser:
        signed_up = browser.post("/subscribe", data={"email": "Leyla.Aliyeva@Example.org", "name": "Leyla"})
        assert signed_up.status_code == 200 and "Check your inbox" in signed_up.text
        [confirmation] = wait_for_confirmations(settings.OUTBOX_DIR, READER)
        confirm = link_path(confirmation, "confirm")
        button = browser.get(confirm)
        assert button.status_code == 200 and f'action="{confirm}"' in button.text
        confirmed = browser.post(confirm)
        assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text

    with unit_of_work() as session:
        edition = compose_next_edition(session, utcnow())
        approve_edition(session, edition.id, "publisher@example.org")
        first = edition.id
    received = {m["To"]: m for m in _send(first)}
    assert set(received) == {READER, "colleague@example.org"}
    mine = received[READER]
    assert "Dear Leyla," in mine.get_body(("plain",)).get_content()
    assert link_path(mine, "p").startswith("/p/"), "the preferences link is in the footer"
    one_click = mine["List-Unsubscribe"].split(",")[0].strip("<> ")
    assert one_click.startswith("https://digest.example.org/u/")
    assert mine["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # What a mailbox provider does: a bare POST, no cookie, no session, no redirect followed.
    path = one_click.removeprefix("https://digest.example.org")
    answer = httpx.post(live_app + path, content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    assert "set-cookie" not in answer.headers

    # New articles, the next period's edition: it goes to the colleague only.
    newer = [dataclasses.replace(item, item_id=item.item_id + 100, title=item.title + ", Revisited")
             for item in recent_items(2)]
    serve_feed(feed_server, newer)
    with unit_of_work() as session:
        poll_feed(session, feed_id)
    with unit_of_work() as session:
        next_period = Cadence.from_settings(settings).upcoming(utcnow(), 2)[1]
        edition = compose_edition(session, next_period)
        assert edition is not None and edition.id != first
        approve_edition(session, edition.id, "publisher@example.org")
        second = edition.id
    assert [m["To"] for m in _send(second)] == ["colleague@example.org"]
