"""Alerts through a real worker process on Redis, on SQLite and on PostgreSQL: a new article filed
under a topic reaches the readers who follow it at pace alert, once, after the hold, through the
editions' one sending path; articles arriving within a hold are bundled; a reader gets at most
ALERT_MAX_PER_DAY alerts a day; 'digest only' readers, digest-pace followers and back catalogue
make none; an alert is never a digest (archive, trends, the next digest's articles)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from digest.alerts.compose import collect_new_articles
from digest.clock import utcnow
from digest.editions.cadence import Period
from digest.editions.compose import candidate_articles, next_period
from digest.reports.trends import sent_editions
from digest.store.db import unit_of_work
from digest.store.models import (Article, ArticleTopic, Edition, EditionKind, EditionStatus, Follow, Pace,
                                 Subscriber, Topic, TopicKind)
from digest.web.app import app
from tests.cli import digest
from tests.conftest import wait_for, wait_until_drained
from tests.factories import stored_articles, subscribers
from workers.tasks import edition_tick

pytestmark = pytest.mark.slow

ALERT_READER, DIGEST_PACE, DIGEST_ONLY, KAZAKH_READER = (
    "alert@example.org", "digest-pace@example.org", "digest-only@example.org", "kazakh@example.org")


def _topic(session, name: str) -> int:
    topic = Topic(kind=TopicKind.TAG, key=name.casefold(), name=name)
    session.add(topic)
    session.flush()
    return topic.id


@pytest.fixture
def readers(settings):
    """Three readers follow Georgia (at pace alert, at pace digest, at pace alert but 'digest
    only'), one follows Kazakhstan at pace alert. Returns the topic ids by name."""
    alert, digest_pace, digest_only, kazakh = subscribers(ALERT_READER, DIGEST_PACE, DIGEST_ONLY, KAZAKH_READER)
    with unit_of_work() as session:
        topics = {name: _topic(session, name) for name in ("Georgia", "Kazakhstan")}
        session.add_all([Follow(subscriber_id=alert, topic_id=topics["Georgia"], pace=Pace.ALERT),
                         Follow(subscriber_id=digest_pace, topic_id=topics["Georgia"], pace=Pace.DIGEST),
                         Follow(subscriber_id=digest_only, topic_id=topics["Georgia"], pace=Pace.ALERT),
                         Follow(subscriber_id=kazakh, topic_id=topics["Kazakhstan"], pace=Pace.ALERT)])
        session.execute(update(Subscriber).where(Subscriber.id == digest_only).values(digest_only=True))
    return topics


def _new_article(topic_id: int, prefix: str, back_catalogue: bool = False) -> int:
    """An article as a poll stores it, filed under the topic (the poller files it)."""
    [article_id] = stored_articles(utcnow(), prefix=prefix)
    with unit_of_work() as session:
        session.execute(update(Article).where(Article.id == article_id).values(back_catalogue=back_catalogue))
        session.add(ArticleTopic(article_id=article_id, topic_id=topic_id))
    return article_id


def _collect(*article_ids: int) -> int | None:
    with unit_of_work() as session:
        alert = collect_new_articles(session, list(article_ids), utcnow())
        return alert.id if alert else None


def _end_hold(alert_id: int) -> None:
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == alert_id)
                        .values(hold_until=utcnow() - dt.timedelta(seconds=1)))


def _status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return session.get(Edition, edition_id).status


def _release(alert_id: int) -> None:
    """The hold ends; beat's tick releases the alert and the worker sends it."""
    _end_hold(alert_id)
    edition_tick.delay()
    wait_for(lambda: _status(alert_id) == EditionStatus.SENT, what=f"alert {alert_id} to be sent")


def _messages(outbox: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(outbox.rglob("*.eml"))]


def _by_reader(outbox: Path) -> dict[str, list[email.message.EmailMessage]]:
    found: dict[str, list] = {}
    for message in _messages(outbox):
        found.setdefault(message["To"], []).append(message)
    return found


def _text(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_a_new_article_reaches_only_its_alert_followers_once_after_the_hold(settings, celery_worker, readers):
    article = _new_article(readers["Georgia"], "Tbilisi")
    alert_id = _collect(article)
    assert alert_id is not None

    edition_tick.delay()  # within the hold: nothing leaves
    wait_until_drained()
    assert _status(alert_id) == EditionStatus.DRAFT
    assert _messages(settings.OUTBOX_DIR) == []

    _release(alert_id)
    edition_tick.delay()  # a later tick sends nothing again
    wait_until_drained()
    sent = _by_reader(settings.OUTBOX_DIR)
    assert list(sent) == [ALERT_READER]
    [message] = sent[ALERT_READER]
    assert message["Subject"] == f"New on Georgia: Tbilisi {article - 1}"
    assert f"Tbilisi {article - 1}" in _text(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Unsubscribe from everything" in _text(message)


def test_articles_arriving_within_the_hold_are_bundled_per_reader(settings, celery_worker, readers):
    first = _new_article(readers["Georgia"], "Batumi")
    alert_id = _collect(first)
    second, kazakh = _new_article(readers["Georgia"], "Kutaisi"), _new_article(readers["Kazakhstan"], "Astana")
    assert _collect(second, kazakh) == alert_id

    _release(alert_id)
    sent = _by_reader(settings.OUTBOX_DIR)
    assert sorted(sent) == sorted([ALERT_READER, KAZAKH_READER])
    [georgian], [kazakh_message] = sent[ALERT_READER], sent[KAZAKH_READER]
    assert georgian["Subject"] == "New on Georgia: 2 articles"
    assert "Batumi" in _text(georgian) and "Kutaisi" in _text(georgian) and "Astana" not in _text(georgian)
    assert kazakh_message["Subject"].startswith("New on Kazakhstan: Astana")
    assert "Astana" in _text(kazakh_message) and "Batumi" not in _text(kazakh_message)


def test_a_reader_gets_at_most_the_daily_number_of_alerts(settings, celery_worker, readers):
    assert settings.ALERT_MAX_PER_DAY == 2
    for number in range(3):
        alert_id = _collect(_new_article(readers["Georgia"], f"Gori{number}"))
        _release(alert_id)
    sent = _by_reader(settings.OUTBOX_DIR)
    assert list(sent) == [ALERT_READER]
    assert ["Gori0" in _text(m) or "Gori1" in _text(m) for m in sent[ALERT_READER]] == [True, True]


def test_back_catalogue_and_unfollowed_articles_make_no_alert(settings, readers):
    assert _collect(_new_article(readers["Georgia"], "Old", back_catalogue=True)) is None
    [unfiled] = stored_articles(utcnow(), prefix="Unfiled")
    assert _collect(unfiled) is None
    with unit_of_work() as session:
        assert session.scalars(select(Edition)).all() == []


def test_an_alert_is_never_a_digest(settings, celery_worker, readers):
    article = _new_article(readers["Georgia"], "Zugdidi")
    alert_id = _collect(article)
    _release(alert_id)
    with unit_of_work() as session:
        now = utcnow()
        assert sent_editions(session, 10) == []
        # The digest still carries the article the alert carried.
        period = next_period(session, now)
        assert article in [a.id for a in candidate_articles(session, Period(period.date, now, period.send_at))]
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        assert "Zugdidi" not in client.get("/archive").text
        assert client.get(f"/archive/{alert_id}").status_code == 404
        assert "Zugdidi" not in client.get("/archive/feed.atom").text


def test_the_cli_lists_alerts_and_cancels_a_held_one(settings, readers):
    alert_id = _collect(_new_article(readers["Georgia"], "Poti"))
    listed = json.loads(digest("alerts", "list", "--json").stdout)
    assert [(row["id"], row["status"], row["articles"]) for row in listed] == [(alert_id, "draft", 1)]
    ran = digest("alerts", "cancel", str(alert_id))
    assert ran.returncode == 0, ran.stderr
    assert _status(alert_id) == EditionStatus.CANCELLED
    with unit_of_work() as session:
        assert session.get(Edition, alert_id).kind == EditionKind.ALERT


def test_a_poll_through_the_worker_files_a_new_article_and_makes_its_alert(settings, celery_worker, feed_server):
    """The whole way: the worker polls a feed, files the new article under its tag, the alert is
    formed in the poll's transaction, and once its hold ends the Georgia follower gets it."""
    from dataclasses import replace

    from digest.checklist.build import edition_checklist
    from digest.checklist.model import PENDING
    from digest.editions.lookup import get_edition
    from tests.factories import feed_at, poll_url, serve_feed
    from tests.feed_documents import recent_items
    from workers.tasks import poll_feed

    older, newer = recent_items(2)
    url = serve_feed(feed_server, [replace(older, tags=("Georgia",))])
    poll_url(url)  # the feed's first poll: the tag becomes a topic readers can follow
    [reader] = subscribers(ALERT_READER)
    with unit_of_work() as session:
        georgia = session.scalar(select(Topic.id).where(Topic.kind == TopicKind.TAG, Topic.name == "Georgia"))
        session.add(Follow(subscriber_id=reader, topic_id=georgia, pace=Pace.ALERT))
    serve_feed(feed_server, [replace(older, tags=("Georgia",)),
                             replace(newer, item_id=30001, title="Tbilisi Weighs a New Port", tags=("Georgia",),
                                     published=utcnow().replace(microsecond=0))])
    poll_feed.delay(feed_at(url).id)
    wait_until_drained()  # the poll, then the alert's slow checks it queued for the hold
    with unit_of_work() as session:
        [alert_id] = session.scalars(select(Edition.id).where(Edition.kind == EditionKind.ALERT)).all()
        checks = {check.key: check.level for check in edition_checklist(get_edition(session, alert_id), wait=False).checks}
    assert checks["links"] != PENDING and checks["spam"] != PENDING  # in before the release reads them
    _release(alert_id)
    [message] = _by_reader(settings.OUTBOX_DIR)[ALERT_READER]
    assert message["Subject"] == "New on Georgia: Tbilisi Weighs a New Port"


def test_the_alerts_one_click_unsubscribe_ends_only_that_alert_follow(settings, celery_worker, readers):
    """The alert's List-Unsubscribe turns the reader's alert follows on its topics to pace digest:
    they stay subscribed, keep Georgia in the digest, and the next digest plans them."""
    from urllib.parse import urlsplit

    from digest.store.models import AuditEntry, SendBatch, SubscriberStatus
    from tests.factories import approved_edition, planned

    alert_id = _collect(_new_article(readers["Georgia"], "Mtskheta"))
    _release(alert_id)
    [message] = _by_reader(settings.OUTBOX_DIR)[ALERT_READER]
    one_click = urlsplit(message["List-Unsubscribe"].split(",")[0].strip(" <>"))
    assert "Stop receiving these alerts" in _text(message) and "Unsubscribe from everything" in _text(message)
    assert one_click.geturl() in _text(message)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        page = client.get(one_click.path)  # a mail scanner opening the link changes nothing
        assert page.status_code == 200 and "Stop these alerts" in page.text
        with unit_of_work() as session:
            assert session.scalar(select(Follow.pace).where(Follow.topic_id == readers["Georgia"],
                                                            Follow.pace == Pace.DIGEST).where(
                Follow.subscriber_id == select(Subscriber.id).where(Subscriber.email == ALERT_READER)
                .scalar_subquery())) is None
        answer = client.post(one_click.path, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200, answer.text
        assert client.post(one_click.path, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # repeats
    with unit_of_work() as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email == ALERT_READER))
        assert reader.status == SubscriberStatus.CONFIRMED
        assert session.scalars(select(Follow.pace).where(Follow.subscriber_id == reader.id)).all() == [Pace.DIGEST]
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "follow")).all()
        assert entry.details["edition"] == alert_id and entry.details["pace"] == ["alert", "digest"]
        reader_id = reader.id
    digest_id = approved_edition()
    planned(digest_id)
    with unit_of_work() as session:
        members = [m for batch in session.scalars(select(SendBatch).where(SendBatch.edition_id == digest_id))
                   for m in batch.members]
    assert reader_id in members
