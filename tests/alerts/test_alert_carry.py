"""Articles past the daily cap are carried into the reader's first alert of a later day, through a
real worker process on Redis, on SQLite and on PostgreSQL: once, not on the same day, not past the
cap, not after a digest showed them, not to a reader paused, 'digest only' or unsubscribed by
then, nor on a topic they stopped following at pace alert.

The worker keeps the real clock, so "tomorrow" is made by moving the past: the alerts sent so far
began, and their readers were held back, a day earlier."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import lxml.html
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.alerts.compose import collect_new_articles
from digest.clock import utcnow
from digest.delivery.plan import release_edition
from digest.editions.render import Variant
from digest.store.db import unit_of_work
from digest.store.models import (AlertCarry, ArticleTopic, Edition, EditionItem, EditionStatus, Follow,
                                 Pace, SendBatch, Topic, TopicKind)
from digest.subscribers.follows import pause, set_digest_only, unfollow
from digest.subscribers.lifecycle import unsubscribe
from digest.web.app import app
from tests.conftest import wait_for
from tests.factories import approved_edition, stored_articles, subscribers
from tests.web.editor_helpers import logged_in
from workers.tasks import edition_tick

pytestmark = pytest.mark.slow

READER, PAUSED, DIGEST_ONLY, LEFT, UNFOLLOWED = (
    "reader@example.org", "paused@example.org", "digest-only@example.org", "left@example.org",
    "unfollowed@example.org")
DAY = dt.timedelta(days=1)


@pytest.fixture
def readers(settings) -> dict:
    """Readers following Georgia at pace alert; UNFOLLOWED follows Armenia at pace alert too.
    Returns their ids by address and the topics' ids by name."""
    ids = dict(zip((READER, PAUSED, DIGEST_ONLY, LEFT, UNFOLLOWED),
                   subscribers(READER, PAUSED, DIGEST_ONLY, LEFT, UNFOLLOWED)))
    with unit_of_work() as session:
        topics = {name: Topic(kind=TopicKind.TAG, key=name.casefold(), name=name) for name in ("Georgia", "Armenia")}
        session.add_all(topics.values())
        session.flush()
        session.add_all([Follow(subscriber_id=reader, topic_id=topics["Georgia"].id, pace=Pace.ALERT)
                         for reader in ids.values()])
        session.add(Follow(subscriber_id=ids[UNFOLLOWED], topic_id=topics["Armenia"].id, pace=Pace.ALERT))
        return {"ids": ids, "topics": {name: topic.id for name, topic in topics.items()}}


def _alert(topic_id: int, prefix: str) -> int:
    """A new article on the topic, its alert released at the end of its hold and sent by the
    worker; returns the article's id."""
    [article_id] = stored_articles(utcnow(), prefix=prefix)
    with unit_of_work() as session:
        session.add(ArticleTopic(article_id=article_id, topic_id=topic_id))
        session.flush()
        alert = collect_new_articles(session, [article_id], utcnow())
        alert.hold_until = utcnow() - dt.timedelta(seconds=1)
        alert_id = alert.id
    _sent_by_the_worker(alert_id)
    return article_id


def _sent_by_the_worker(edition_id: int) -> None:
    edition_tick.delay()
    wait_for(lambda: _status(edition_id) == EditionStatus.SENT, what=f"edition {edition_id} to be sent")


def _status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return session.get(Edition, edition_id).status


def _title(article_id: int, prefix: str) -> str:
    return f"{prefix} {article_id - 1}"  # stored_articles numbers its titles from 0


def _a_day_passes() -> None:
    """Everything so far happened a day earlier: the alerts began, and readers were held back."""
    with unit_of_work() as session:
        for alert in session.scalars(select(Edition).where(Edition.started_at.is_not(None))):
            alert.started_at -= DAY
        for carry in session.scalars(select(AlertCarry)):
            carry.created_at -= DAY


def _owed() -> set[tuple[int, int]]:
    with unit_of_work() as session:
        return set(session.execute(select(AlertCarry.subscriber_id, AlertCarry.article_id)))


def _texts(outbox, since: set[str] = frozenset()) -> dict[str, list[tuple[str, str]]]:
    """Per address, the (subject, plain text) of each message in the outbox not among `since`
    (paths), oldest first."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(outbox.rglob("*.eml"), key=lambda path: path.stat().st_mtime_ns):
        if str(path) not in since:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            found.setdefault(message["To"], []).append(
                (message["Subject"], message.get_body(("plain",)).get_content().replace("\r\n", "\n")))
    return found


def _sent_so_far(outbox) -> set[str]:
    return {str(path) for path in outbox.rglob("*.eml")}


def _capped_on_georgia(readers) -> int:
    """Three alerts on Georgia today: every Georgia follower gets the first two; the third's article
    is owed to each of them. Returns that article."""
    georgia = readers["topics"]["Georgia"]
    _alert(georgia, "Gori")
    _alert(georgia, "Gori")
    held_back = _alert(georgia, "Gori")
    assert _owed() == {(reader, held_back) for reader in readers["ids"].values()}
    return held_back


def test_a_reader_held_back_gets_the_article_in_their_first_alert_the_next_day_once(settings, celery_worker, readers):
    """... and not before: a fourth alert the same day carries nothing (it is held back too); the
    next day's first alert brings both, under their own heading; the second does not repeat them;
    the third, past the cap, is owed in turn. The next digest lists the carried articles as
    already sent, with the day the alert brought them."""
    georgia, reader = readers["topics"]["Georgia"], readers["ids"][READER]
    held_back = _capped_on_georgia(readers)
    same_day = _alert(georgia, "Rustavi")
    assert len(_texts(settings.OUTBOX_DIR)[READER]) == 2
    assert (reader, same_day) in _owed()
    _a_day_passes()

    before = _sent_so_far(settings.OUTBOX_DIR)
    first = _alert(georgia, "Kutaisi")
    [(subject, text)] = _texts(settings.OUTBOX_DIR, before)[READER]
    assert subject == "New on Georgia: 3 articles"
    new, held = text.split("Held over from an earlier day")
    assert _title(first, "Kutaisi") in new
    assert _title(held_back, "Gori") in held and _title(same_day, "Rustavi") in held
    assert (reader, held_back) not in _owed() and (reader, same_day) not in _owed()

    before = _sent_so_far(settings.OUTBOX_DIR)
    second, third = _alert(georgia, "Batumi"), _alert(georgia, "Poti")
    [(subject, text)] = _texts(settings.OUTBOX_DIR, before)[READER]  # two a day, the carried one included
    assert subject == f"New on Georgia: {_title(second, 'Batumi')}"
    assert "Held over" not in text and _title(held_back, "Gori") not in text
    assert {article for owner, article in _owed() if owner == reader} == {third}

    with unit_of_work() as session:
        [carried_by] = session.scalars(select(EditionItem.edition_id).where(
            EditionItem.article_id == held_back, EditionItem.carried.is_(True)))
        day = session.get(Edition, carried_by).started_at.astimezone(settings.tz).date().isoformat()
    # The editor's page of that alert says which of its articles were held over, and for whom.
    with TestClient(app, base_url="https://testserver") as client:
        shown = lxml.html.fromstring(logged_in(client).get(f"/editions/{carried_by}").text)
    held_over = {" ".join(item.xpath("string(.//span[@class='title']/a)").split())
                 for item in shown.xpath("//section[@id='articles']//li[.//span[@class='carried']]")}
    assert held_over == {_title(held_back, "Gori"), _title(same_day, "Rustavi")}
    digest_id = approved_edition()
    with unit_of_work() as session:
        release_edition(session, digest_id)
    _sent_by_the_worker(digest_id)
    with unit_of_work() as session:
        [key] = [batch.variant for batch in session.scalars(select(SendBatch).where(SendBatch.edition_id == digest_id))
                 if reader in batch.members]
    assert {(held_back, day), (same_day, day)} <= set(Variant.from_key(key).already_sent)
    assert (reader, third) not in _owed(), "the digest showed it"


def test_an_article_a_digest_showed_the_reader_is_not_carried(settings, celery_worker, readers):
    georgia = readers["topics"]["Georgia"]
    held_back = _capped_on_georgia(readers)
    digest_id = approved_edition()
    with unit_of_work() as session:
        release_edition(session, digest_id)
    before = _sent_so_far(settings.OUTBOX_DIR)
    _sent_by_the_worker(digest_id)
    [(_, digest_text)] = _texts(settings.OUTBOX_DIR, before)[READER]
    assert digest_text.count(_title(held_back, "Gori")) == 2  # "For you", and in full: not sent before
    assert _owed() == set()
    _a_day_passes()

    before = _sent_so_far(settings.OUTBOX_DIR)
    kutaisi = _alert(georgia, "Kutaisi")
    [(subject, text)] = _texts(settings.OUTBOX_DIR, before)[READER]
    assert subject == f"New on Georgia: {_title(kutaisi, 'Kutaisi')}"
    assert _title(held_back, "Gori") not in text
    with unit_of_work() as session:
        assert session.scalars(select(EditionItem).where(EditionItem.carried.is_(True))).all() == []


def test_nothing_is_carried_to_a_reader_paused_digest_only_unsubscribed_or_no_longer_following(
        settings, celery_worker, readers):
    """By the next day one reader paused, one turned 'digest only', one unsubscribed, one stopped
    following Georgia (and still follows Armenia at pace alert): the next alerts, on Georgia and
    on Armenia, bring the held-back article to the one reader who still wants it."""
    ids, topics = readers["ids"], readers["topics"]
    held_back = _capped_on_georgia(readers)
    _a_day_passes()
    with unit_of_work() as session:
        pause(session, ids[PAUSED], utcnow() + 7 * DAY, source="test")
        set_digest_only(session, ids[DIGEST_ONLY], True, source="test")
        unsubscribe(session, ids[LEFT], source="test")
        unfollow(session, ids[UNFOLLOWED], topics["Georgia"], source="test")

    before = _sent_so_far(settings.OUTBOX_DIR)
    yerevan = _alert(topics["Armenia"], "Yerevan")
    [(subject, text)] = _texts(settings.OUTBOX_DIR, before)[UNFOLLOWED]
    assert subject == f"New on Armenia: {_title(yerevan, 'Yerevan')}"
    assert _title(held_back, "Gori") not in text
    kutaisi = _alert(topics["Georgia"], "Kutaisi")
    sent = _texts(settings.OUTBOX_DIR, before)
    assert sorted(sent) == [READER, UNFOLLOWED]
    [(_, text)] = sent[READER]
    assert _title(kutaisi, "Kutaisi") in text and _title(held_back, "Gori") in text
    # Still owed to those who did not get it: a digest that shows it to them clears it.
    assert _owed() == {(ids[reader], held_back) for reader in (PAUSED, DIGEST_ONLY, LEFT, UNFOLLOWED)}


def test_forgetting_a_reader_forgets_what_they_are_owed(settings):
    """The carries have no foreign key (they are written by the hundred thousand): forgetting a
    reader deletes theirs, and what is held about them lists them until then."""
    from digest.subscribers.privacy import describe_subscriber, forget_subscriber

    reader, other = subscribers(READER, PAUSED)
    [article] = stored_articles(utcnow(), prefix="Gori")
    with unit_of_work() as session:
        session.add_all([AlertCarry(subscriber_id=someone, article_id=article, alert_id=1, created_at=utcnow())
                         for someone in (reader, other)])
    with unit_of_work() as session:
        assert [row["article_id"] for row in describe_subscriber(session, READER)["alert_carries"]] == [article]
        forget_subscriber(session, READER)
    assert _owed() == {(other, article)}
