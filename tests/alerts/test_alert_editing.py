"""Editors and held alerts, through the web app: the dashboard lists held alerts with the end of
their hold and links to each; an alert's pages (edition, preview, report) work; an editor edits a
held alert's subject, which wins for every variant and is what the approval pins, or cancels it;
the dashboard ranks topics by followers."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from digest.alerts.compose import collect_new_articles
from digest.alerts.release import release_held_alerts
from digest.clock import utcnow
from digest.editions.lookup import get_edition
from digest.editions.render import Variant, render_edition
from digest.store.db import unit_of_work
from digest.store.models import Article, ArticleTopic, Edition, EditionStatus, Follow, Pace, Topic, TopicKind
from digest.web.app import app
from tests.factories import stored_articles, subscribers
from tests.web.editor_helpers import csrf, logged_in


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        logged_in(client, "publisher@example.org", "publisher")
        yield client


def held_alert_on_two_topics() -> tuple[int, int, int]:
    """A held alert with an article on Georgia and one on Armenia, one follower of each (at pace
    alert) and a digest-pace follower of Georgia. Returns the alert's id and both articles'."""
    georgian, armenian, other = subscribers("ge@example.org", "am@example.org", "digest@example.org")
    with unit_of_work() as session:
        georgia, armenia = Topic(kind=TopicKind.TAG, key="georgia", name="Georgia"), Topic(
            kind=TopicKind.TAG, key="armenia", name="Armenia")
        session.add_all([georgia, armenia])
        session.flush()
        session.add_all([Follow(subscriber_id=georgian, topic_id=georgia.id, pace=Pace.ALERT),
                         Follow(subscriber_id=armenian, topic_id=armenia.id, pace=Pace.ALERT),
                         Follow(subscriber_id=other, topic_id=georgia.id, pace=Pace.DIGEST)])
        topic_ids = georgia.id, armenia.id
    first, second = stored_articles(utcnow(), utcnow(), prefix="Tbilisi")
    with unit_of_work() as session:
        session.execute(update(Article).where(Article.id.in_([first, second])).values(back_catalogue=False))
        session.add_all([ArticleTopic(article_id=first, topic_id=topic_ids[0]),
                         ArticleTopic(article_id=second, topic_id=topic_ids[1])])
    with unit_of_work() as session:
        alert = collect_new_articles(session, [first, second], utcnow())
        return alert.id, first, second


def test_the_dashboard_lists_held_alerts_with_the_end_of_their_hold(client):
    alert_id, _, _ = held_alert_on_two_topics()
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert f'href="/editions/{alert_id}"' in page.text
    assert "Held alerts" in page.text
    assert "in 30 minutes" in page.text or "in 29 minutes" in page.text
    # Followers per topic: Georgia has two, Armenia one.
    assert page.text.index("Georgia") < page.text.index("Armenia")


def _alert_pages(client, alert_id: int) -> None:
    for path in [f"/editions/{alert_id}", f"/editions/{alert_id}?view=text", f"/editions/{alert_id}/preview",
                 f"/editions/{alert_id}/preview?format=text", f"/api/editions/{alert_id}/checklist",
                 f"/api/editions/{alert_id}/progress", f"/editions/{alert_id}/report",
                 f"/editions/{alert_id}/report.csv"]:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[-2000:])


def test_every_page_of_an_alert_works_held_held_for_an_editor_and_sent(client):
    from digest.delivery.memory import MemorySender
    from tests.factories import send_now

    alert_id, _, _ = held_alert_on_two_topics()
    _alert_pages(client, alert_id)
    page = client.get(f"/editions/{alert_id}").text
    assert "Held until" in page and "Cancel the alert" in page and "Find a recent article" not in page
    with unit_of_work() as session:  # a blocking check held it for an editor: no end to the hold
        session.execute(update(Edition).where(Edition.id == alert_id).values(hold_until=None, note="held for an editor"))
    _alert_pages(client, alert_id)
    assert "Held for an editor" in client.get(f"/editions/{alert_id}").text
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == alert_id).values(hold_until=utcnow()))
    with unit_of_work() as session:
        assert release_held_alerts(session, utcnow()) == [alert_id]
    send_now(alert_id, MemorySender())
    _alert_pages(client, alert_id)
    assert "What readers did" in client.get(f"/editions/{alert_id}").text


def test_an_edited_subject_wins_for_every_variant_and_is_what_the_approval_pins(client):
    alert_id, first, second = held_alert_on_two_topics()
    token = csrf(client, f"/editions/{alert_id}")
    answer = client.post(f"/editions/{alert_id}/text", data={"csrf_token": token, "subject": "Two new analyses"})
    assert answer.status_code == 303, answer.text
    with unit_of_work() as session:
        alert = get_edition(session, alert_id)
        for variant in (Variant(), Variant(articles=(first,)), Variant(articles=(second,), text_only=True)):
            assert render_edition(alert, variant).subject == "Two new analyses"
        # An article joining the held alert keeps the editor's subject.
        [third] = stored_articles(utcnow(), prefix="Batumi")
        session.add(ArticleTopic(article_id=third, topic_id=_topic_of(session, first)))
        session.flush()
        assert collect_new_articles(session, [third], utcnow()).subject == "Two new analyses"
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == alert_id)
                        .values(hold_until=utcnow() - dt.timedelta(seconds=1)))
    with unit_of_work() as session:
        assert release_held_alerts(session, utcnow()) == [alert_id]
        alert = get_edition(session, alert_id)
        assert alert.approved_hash == render_edition(alert).content_hash
        assert render_edition(alert).subject == "Two new analyses"


def _topic_of(session, article_id: int) -> int:
    from sqlalchemy import select

    return session.scalar(select(ArticleTopic.topic_id).where(ArticleTopic.article_id == article_id))


def test_an_editor_cancels_a_held_alert_from_its_page(client):
    alert_id, _, _ = held_alert_on_two_topics()
    token = csrf(client, f"/editions/{alert_id}")
    answer = client.post(f"/editions/{alert_id}/cancel", data={"csrf_token": token})
    assert answer.status_code == 303, answer.text
    with unit_of_work() as session:
        assert session.get(Edition, alert_id).status == EditionStatus.CANCELLED
    assert client.get(f"/editions/{alert_id}").status_code == 200
    assert f'href="/editions/{alert_id}"' not in client.get("/dashboard").text.split("Held alerts")[1].split("<h2")[0]
