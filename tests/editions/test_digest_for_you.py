"""The digest knows the reader: the articles on topics they follow are listed first under "For
you" (each reader's own list, filled when their batch is sent), and stay in full in their
sections; an article an alert already brought them is listed under "Already sent to you" with the
alert's date, not in full; a reader with no follows gets today's message; variants stay the
sections, the format and the alerted articles, each rendered once."""

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
    """Two analyses and a field report; the field report (the edition's last article) is on Georgia."""
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


def _messages(outbox) -> dict[str, email.message.EmailMessage]:
    return {message["To"]: message for message in (
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default) for path in outbox.rglob("*.eml"))}


def test_a_follower_finds_their_article_listed_first_under_for_you(settings, georgia):
    follower, plain = subscribers(FOLLOWER, PLAIN)
    _follow(follower, georgia["topic"])
    edition_id = approved_edition()
    send_now(edition_id, OutboxSender(settings.OUTBOX_DIR))
    texts = _texts(settings.OUTBOX_DIR)
    title = _title(georgia["article"])
    text = texts[FOLLOWER]
    assert text.index("FOR YOU") < text.index(f"- {title} (Georgia)") < text.index("ANALYTICAL ARTICLES")
    assert text.index("FIELD REPORTS") < text.rindex(title)  # and in full, in its section
    assert "FOR YOU" not in texts[PLAIN] and "[%" not in texts[PLAIN] and "[%" not in text
    html = _messages(settings.OUTBOX_DIR)[FOLLOWER].get_body(("html",)).get_content()
    assert html.index(">For you</h2>") < html.index(f">{title}</a>") < html.index("Analytical Articles")
    assert "[%" not in html


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
    assert variants[PLAIN] == variants[FOLLOWER] == DEFAULT_VARIANT.key  # one render for both
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
    assert text.count(title) == 1 and "FOR YOU" not in text  # not listed again for them
    assert "Lead of tbilisi report" not in text
    assert texts[FOLLOWER].index("FOR YOU") < texts[FOLLOWER].index(title)  # no alert: listed first


def test_follows_make_no_variants_each_distinct_combination_is_rendered_once(settings, georgia, monkeypatch):
    readers = subscribers(*(f"r{n}@example.org" for n in range(8)))
    kazakhstan = _topic("Kazakhstan")  # no article of it in the edition
    analysis = _topic("Energy", georgia["analyses"][0])
    for reader in readers[:3]:
        _follow(reader, georgia["topic"])
    _follow(readers[3], georgia["topic"], Pace.ALERT)
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
    # The approved render (verified once when sending starts) and the text reader's.
    assert keys == {"all:html", "all:text"} and stored == 2 and sorted(renders) == ["all:html", "all:text"]
    texts = _texts(settings.OUTBOX_DIR)
    energy, georgia_title = f"Analysis {georgia['analyses'][0] - 1}", _title(georgia["article"])
    assert f"- {energy} (Energy)" in texts["r5@example.org"] and f"- {georgia_title} (Georgia)" in texts["r5@example.org"]
    assert f"- {georgia_title} (Georgia)" in texts["r3@example.org"]  # any pace, text only too
    assert all("FOR YOU" not in texts[f"r{n}@example.org"] for n in (4, 7))


def test_a_variant_key_names_its_articles_and_reads_back():
    from digest.editions.render import Variant

    variant = Variant(("Field Reports",), True,
                      already_sent=((3, "2026-12-01"), (5, "2026-12-02"), (7, "2026-12-01")))
    assert variant.key == "Field Reports>sent=3,7@2026-12-01+5@2026-12-02:text"
    assert Variant.from_key(variant.key).key == variant.key
    assert Variant(("Field Reports",)).key == "Field Reports:html"  # without alerts: today's key


HOSTILE = '<script>alert(1)</script> [%unsubscribe_url%] [%name:html%] "Pipelines" & '


def test_a_long_hostile_list_stays_harmless_and_within_what_sendgrid_takes(standin, georgia):
    """Twelve followed articles with 1,000-character titles full of markup and placeholders and
    500-character links: the list is cut ("and N more"), stays under SendGrid's 10,000 bytes of
    substitutions (the stand-in refuses more), and shows every title as text."""
    from digest.delivery.backends import get_sender
    from digest.delivery.for_you import MAX_BYTES
    from digest.store.models import Article

    many = stored_articles(*(utcnow() - DAY for _ in range(12)), section="Field Reports")
    with unit_of_work() as session:
        for article_id in many:
            article = session.get(Article, article_id)
            article.title = (HOSTILE * 20)[:1000]
            article.url = f"https://example.org/item/{article_id}?" + "q=%C3%A9&" * 60
    [follower] = subscribers(FOLLOWER)
    _follow(follower, _topic("Pipelines " + HOSTILE, *many))
    edition_id = approved_edition()
    send_now(edition_id, get_sender())
    [body] = standin.requests  # accepted: the stand-in checks the substitutions' size
    substitutions = body["personalizations"][0]["substitutions"]
    text, html = substitutions["[%for_you%]"], substitutions["[%for_you:html%]"]
    assert len(text.encode()) + len(html.encode()) <= MAX_BYTES
    assert "more on your topics below" in text and "more on your topics below" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    # Placeholders in a title are broken (a word joiner after "["), so SendGrid fills nothing in them.
    assert "[%unsubscribe_url%]" not in text and "[%unsubscribe_url%]" not in html
    assert "[\u2060%unsubscribe_url%]" in text and "and 11 more" in text
