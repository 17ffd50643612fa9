"""The digest knows the reader: the articles on topics they follow open it under "For you" and are
not repeated below; an article an alert already brought them is listed under "Already sent to you"
with the alert's date, not in full; a reader with no follows gets today's message; each distinct
combination is rendered once."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
from sqlalchemy import func, select

from digest.alerts.compose import collect_new_articles
from digest.alerts.release import release_held_alerts
from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery import plan
from digest.delivery.outbox import OutboxSender
from digest.editions.lookup import get_edition
from digest.editions.render import DEFAULT_VARIANT, render_edition
from digest.store.db import unit_of_work
from digest.store.models import (ArticleTopic, Delivery, EditionRender, Follow, Pace, SendBatch, SubscriberFormat,
                                 Subscriber, Topic, TopicKind)
from tests.factories import approved_edition, send_now, stored_articles, subscribers

DAY = dt.timedelta(days=1)
FOLLOWER, PLAIN, ALERTED = "follower@example.org", "plain@example.org", "alerted@example.org"


def _topic(name: str, *article_ids: int) -> int:
    with unit_of_work() as session:
        topic = Topic(kind=TopicKind.TAG, key=name.casefold(), name=name)
        session.add(topic)
        session.flush()
        session.add_all(ArticleTopic(article_id=article_id, topic_id=topic.id) for article_id in article_ids)
        return topic.id


def _follow(reader: int, topic_id: int, pace: Pace = Pace.DIGEST) -> None:
    with unit_of_work() as session:
        session.add(Follow(subscriber_id=reader, topic_id=topic_id, pace=pace))


@pytest.fixture
def georgia(settings, monkeypatch) -> dict:
    """Two analyses and a field report; the field report (the edition's last article) is on Georgia.
    DIGEST_FOR_YOU is on (off by default: tested last)."""
    monkeypatch.setenv("DIGEST_FOR_YOU", "true")
    get_settings.cache_clear()
    now = utcnow()
    analyses = stored_articles(now - DAY, now - 2 * DAY, section="Analytical Articles", prefix="Analysis")
    [report] = stored_articles(now - 3 * DAY, section="Field Reports", prefix="Tbilisi report")
    return {"article": report, "topic": _topic("Georgia", report), "analyses": analyses}


def _texts(outbox) -> dict[str, str]:
    found = {}
    for path in outbox.rglob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found[message["To"]] = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return found


def _title(article_id: int) -> str:
    return f"Tbilisi report {article_id - 1}"


def test_a_follower_gets_their_article_first_under_for_you_and_not_again_below(settings, georgia):
    follower, plain = subscribers(FOLLOWER, PLAIN)
    _follow(follower, georgia["topic"])
    edition_id = approved_edition()
    send_now(edition_id, OutboxSender(settings.OUTBOX_DIR))
    texts = _texts(settings.OUTBOX_DIR)
    title = _title(georgia["article"])
    text = texts[FOLLOWER]
    assert text.index("FOR YOU") < text.index(title) < text.index("ANALYTICAL ARTICLES")
    assert text.count(title) == 1 and "FIELD REPORTS" not in text
    assert "FOR YOU" not in texts[PLAIN] and texts[PLAIN].index("FIELD REPORTS") < texts[PLAIN].index(title)


def test_a_reader_without_follows_gets_todays_message(settings, georgia):
    follower, plain = subscribers(FOLLOWER, PLAIN)
    _follow(follower, georgia["topic"])
    edition_id = approved_edition()
    send_now(edition_id, OutboxSender(settings.OUTBOX_DIR))
    with unit_of_work() as session:
        variants = dict(session.execute(select(Delivery.email, Delivery.variant)).all())
        edition = get_edition(session, edition_id)
        stored = session.scalar(select(EditionRender).where(EditionRender.edition_id == edition_id,
                                                            EditionRender.variant == variants[PLAIN]))
        today = render_edition(edition)
    assert variants[PLAIN] == DEFAULT_VARIANT.key and variants[FOLLOWER] != DEFAULT_VARIANT.key
    assert (stored.subject, stored.html, stored.text) == (today.subject, today.html, today.text)
    assert stored.content_hash == edition.approved_hash


def _alert_for(article_id: int) -> int:
    """The alert a poll would compose for the new article, released at the end of its hold and
    sent in this process through the editions' path; returns its id."""
    with unit_of_work() as session:
        alert = collect_new_articles(session, [article_id], utcnow())
        assert alert is not None
        alert_id = alert.id
    with unit_of_work() as session:
        assert release_held_alerts(session, utcnow() + dt.timedelta(hours=1)) == [alert_id]
    send_now(alert_id, OutboxSender(get_settings().OUTBOX_DIR / "alerts"))
    return alert_id


def test_the_next_digest_lists_the_alerted_article_under_already_sent(settings, georgia):
    alerted, follower = subscribers(ALERTED, FOLLOWER)
    _follow(alerted, georgia["topic"], Pace.ALERT)
    _follow(follower, georgia["topic"])
    alert_id = _alert_for(georgia["article"])
    title = _title(georgia["article"])
    assert title in _texts(settings.OUTBOX_DIR / "alerts")[ALERTED]

    edition_id = approved_edition()
    send_now(edition_id, OutboxSender(settings.OUTBOX_DIR / "digest"))
    texts = _texts(settings.OUTBOX_DIR / "digest")
    with unit_of_work() as session:
        started = get_edition(session, alert_id).started_at.astimezone(settings.tz).date()
    on = f"{started.day} {started:%B %Y}"
    text = texts[ALERTED]
    assert f"ALREADY SENT TO YOU\n\n- {title} (alert of {on}): https://example.org/item/" in text
    assert text.count(title) == 1 and "FOR YOU" not in text
    assert "Lead of tbilisi report" not in text
    assert texts[FOLLOWER].index("FOR YOU") < texts[FOLLOWER].index(title)  # no alert: in full, first


def test_each_distinct_combination_is_rendered_once(settings, georgia, monkeypatch):
    readers = subscribers(*(f"r{n}@example.org" for n in range(8)))
    kazakhstan = _topic("Kazakhstan")  # no article of it in the edition
    analysis = _topic("Energy", georgia["analyses"][0])
    for reader in readers[:3]:
        _follow(reader, georgia["topic"])
    _follow(readers[3], georgia["topic"])
    _follow(readers[4], kazakhstan)
    _follow(readers[5], analysis)
    _follow(readers[5], georgia["topic"])
    _follow(readers[6], analysis)
    with unit_of_work() as session:
        session.get(Subscriber, readers[3]).format = SubscriberFormat.TEXT
    renders = []

    def counted(edition, variant=DEFAULT_VARIANT):
        renders.append(variant.key)
        return render_edition(edition, variant)

    monkeypatch.setattr(plan, "render_edition", counted)
    edition_id = approved_edition()
    send_now(edition_id, OutboxSender(settings.OUTBOX_DIR))
    with unit_of_work() as session:
        keys = set(session.scalars(select(SendBatch.variant).where(SendBatch.edition_id == edition_id)))
        stored = session.scalar(select(func.count()).select_from(EditionRender)
                                .where(EditionRender.edition_id == edition_id))
    # all:html (no follows, Kazakhstan, r7), Georgia (r0-r2), Georgia as text (r3), Energy and
    # Georgia (r5), Energy (r6); the first is the approved render, verified once when sending starts.
    assert len(keys) == 5 and stored == 5
    assert sorted(renders) == sorted([DEFAULT_VARIANT.key, *(keys - {DEFAULT_VARIANT.key})])


def test_a_variant_key_names_its_articles_and_reads_back():
    from digest.editions.render import Variant

    variant = Variant(("Field Reports",), True, for_you=(4, 9),
                      already_sent=((3, "2026-12-01"), (5, "2026-12-02"), (7, "2026-12-01")))
    assert variant.key == "Field Reports>you=4,9>sent=3,7@2026-12-01+5@2026-12-02:text"
    assert Variant.from_key(variant.key).key == variant.key
    assert Variant(("Field Reports",)).key == "Field Reports:html"  # without follows: today's key


def test_with_the_setting_off_a_follower_gets_the_edition_as_everyone_does(settings, georgia, monkeypatch):
    monkeypatch.setenv("DIGEST_FOR_YOU", "false")
    get_settings.cache_clear()
    _follow(subscribers(FOLLOWER)[0], georgia["topic"])
    edition_id = approved_edition()
    send_now(edition_id, OutboxSender(settings.OUTBOX_DIR))
    text = _texts(settings.OUTBOX_DIR)[FOLLOWER]
    assert "FOR YOU" not in text and text.index("FIELD REPORTS") < text.index(_title(georgia["article"]))
