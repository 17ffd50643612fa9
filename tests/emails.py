"""Every distinct email the service writes, as the bytes a reader's mail client receives: each
variant of an edition of the sample feed (all sections, one section each, text only, with "For
you" and "Already sent to you"), an alert, a sign-up confirmation and an editor's test send. The
messages go through the real path (poll, compose, approve, plan, send to the outbox), so what the
tests check is what a reader gets. Used by tests/delivery and tests/email_lint."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import select

from digest.alerts.compose import collect_new_articles
from digest.alerts.release import release_held_alerts
from digest.clock import utcnow
from digest.delivery.confirmation import send_confirmation
from digest.delivery.outbox import OutboxSender
from digest.delivery.proof import send_test
from digest.editions.render import edition_sections
from digest.sample.server import SAMPLE_FEED_PATH, make_server
from digest.store.db import unit_of_work
from digest.store.models import Article, ArticleTopic, Edition, Follow, Pace, Topic, TopicKind
from digest.subscribers.lifecycle import add_subscriber
from digest.subscribers.preferences import update_preferences
from tests.factories import approved_edition, poll_url, send_now
from tests.servers import serve_in_thread

FOLLOWER, ALERTED = "follower@example.org", "alerted@example.org"


@pytest.fixture
def sample_feed_url():
    server = make_server(port=0)
    serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_port}{SAMPLE_FEED_PATH}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def every_message(settings, sample_feed_url) -> dict[str, bytes]:
    """Label -> raw message, one for each distinct email a reader or editor can get."""
    assert poll_url(sample_feed_url).error is None
    with unit_of_work() as session:
        readers = {"all sections": add_subscriber(session, "all@example.org", name="Ada Reader", confirmed=True)}
        readers["text only"] = add_subscriber(session, "text@example.org", name="Tom Reader", confirmed=True)
        readers["for you"] = add_subscriber(session, FOLLOWER, name="Fay Reader", confirmed=True)
        readers["already sent to you"] = add_subscriber(session, ALERTED, name="Al Reader", confirmed=True)
        pending = add_subscriber(session, "new@example.org", name="Nia Reader")
        # Two tags of different articles: one followed in the digest, one at alert pace.
        tags = session.execute(select(Topic.id, ArticleTopic.article_id).join(ArticleTopic)
                               .where(Topic.kind == TopicKind.TAG).order_by(Topic.id)).all()
        digest_tag, article_id = tags[0]
        alert_tag, alerted_article = next((tag, article) for tag, article in tags if article != article_id)
        session.add(Follow(subscriber_id=readers["for you"].id, topic_id=digest_tag, pace=Pace.DIGEST))
        session.add(Follow(subscriber_id=readers["already sent to you"].id, topic_id=alert_tag, pace=Pace.ALERT))
        assert session.get(Article, alerted_article) is not None
    outbox = OutboxSender(settings.OUTBOX_DIR)
    with unit_of_work() as session:
        alert = collect_new_articles(session, [alerted_article], utcnow())
        assert alert is not None
        alert_id = alert.id
    with unit_of_work() as session:
        assert release_held_alerts(session, utcnow() + dt.timedelta(hours=1)) == [alert_id]
    send_now(alert_id, OutboxSender(settings.OUTBOX_DIR / "alert"))

    edition_id = approved_edition()
    with unit_of_work() as session:
        sections = edition_sections(session.get(Edition, edition_id))
        update_preferences(session, readers["text only"].id, sections=list(sections), format="text", paused=False)
        for number, section in enumerate(sections):
            reader = add_subscriber(session, f"section{number}@example.org", name="Sam Reader", confirmed=True)
            update_preferences(session, reader.id, sections=[section], format="html", paused=False)
            readers[f"section {section}"] = reader
        labels = {reader.email: label for label, reader in readers.items()}
    send_now(edition_id, outbox)
    with unit_of_work() as session:
        send_confirmation(session, pending.id, outbox)
        send_test(session.get(Edition, edition_id), ["editor@example.org"], outbox, requested_by="editor@example.org")
    messages = {}
    for path in sorted(Path(settings.OUTBOX_DIR).rglob("*.eml")):
        raw = path.read_bytes()
        to = str(message_from_bytes(raw, policy=policy.default)["To"])
        folder = path.relative_to(settings.OUTBOX_DIR).parts[0]
        if folder == "alert":
            label = "alert"
        elif folder == "transactional":  # named by category: confirmation-<id>.eml, test-<id>.eml
            label = path.name.partition("-")[0]
        else:
            label = labels[to]
        messages[label] = raw
    assert len(messages) == len(labels) + 3, sorted(messages)
    return messages


def html_part(raw: bytes) -> str | None:
    part = message_from_bytes(raw, policy=policy.default).get_body(preferencelist=("html",))
    return part.get_content() if part is not None else None


def every_html(messages: dict[str, bytes]) -> dict[str, str]:
    """Label -> HTML part of each message that has one (a text-only reader's has none)."""
    return {label: html for label, raw in messages.items() if (html := html_part(raw)) is not None}
