"""The preference page's follows, pause and "digest only", through the signed link: each change
is a POST, audited and credited to the edition the link came from; while paused, every page
says until when and offers the way back (a page with a button: GET never resumes)."""

from __future__ import annotations

import datetime as dt

import lxml.html
from sqlalchemy import func, select

from digest.clock import utcnow
from digest.delivery.memory import MemorySender
from digest.store.db import unit_of_work
from digest.store.models import (ArticleTopic, AuditEntry, DeliveryEvent, EditionLink, Follow, Pace, Topic,
                                 TopicKind)
from digest.subscribers.follows import follow, pause
from digest.subscribers.preferences import get_subscriber
from digest.subscribers.tokens import PREFERENCES, make_token
from tests.factories import approved_edition, polled_feed, send_now, subscribers
from tests.subscribers.test_follows import topics

READER = "reader@example.org"


def _reader_with_follows(*named) -> tuple[int, str, list[int]]:
    [reader] = subscribers(READER)
    ids = topics(*named)
    with unit_of_work() as session:
        for topic_id in ids:
            follow(session, reader, topic_id, source="test")
    return reader, f"/p/{make_token(PREFERENCES, reader)}", ids


def _audit(action: str) -> list[dict]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry.details).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.id)))


def test_the_page_lists_follows_with_their_pace_and_changes_are_credited_to_the_edition(client, feed_server):
    reader, url, [kyrgyz, starr] = _reader_with_follows((TopicKind.TAG, "Kyrgyz Republic"),
                                                        (TopicKind.AUTHOR, "S. Frederick Starr"))
    polled_feed(feed_server)
    edition_id = approved_edition()
    send_now(edition_id, MemorySender())
    tree = lxml.html.fromstring(client.get(f"{url}?e={edition_id}").text)
    assert [(li.xpath(".//span[@class='topic']")[0].text_content(), li.xpath(".//span[@class='muted']")[0].text)
            for li in tree.xpath("//ul[@class='follows']/li")] == [("S. Frederick Starr", "author"),
                                                                    ("Kyrgyz Republic", "tag")]
    assert tree.xpath(f"//select[@id='pace-{kyrgyz}']/option[@selected]/@value") == ["digest"]
    assert tree.xpath(f"//form[@action='{url}/follows/{kyrgyz}?e={edition_id}']")

    changed = client.post(f"{url}/follows/{kyrgyz}?e={edition_id}", data={"pace": "alert", "do": "save"})
    assert changed.status_code == 200 and "an email soon after each new article" in changed.text
    assert client.post(f"{url}/follows/{starr}?e={edition_id}", data={"do": "unfollow"}).status_code == 200
    with unit_of_work() as session:
        assert session.execute(select(Follow.topic_id, Follow.pace)).all() == [(kyrgyz, Pace.ALERT)]
        credited = session.scalar(select(func.count()).select_from(DeliveryEvent)
                                  .where(DeliveryEvent.event == "web_preferences"))
    assert credited == 1  # one credit per reader and edition, as for the sections form
    assert _audit("follow")[-1]["edition"] == edition_id and _audit("unfollow")[0]["edition"] == edition_id
    refused = client.post(f"{url}/follows/{kyrgyz}", data={"pace": "hourly"})
    assert refused.status_code == 400 and "pace &#39;hourly&#39;" in refused.text


def test_a_pause_shows_its_end_on_every_page_with_a_resume_button(client, settings):
    reader, url, _ = _reader_with_follows()
    paused = client.post(f"{url}/pause", data={"weeks": "2", "until": ""})
    end = (utcnow() + dt.timedelta(weeks=2)).astimezone(settings.tz).date()
    said = f"Paused until {end.day} {end:%B %Y}"
    assert paused.status_code == 200 and said in paused.text
    for page in (client.get(url), client.post(url, data={"sections": settings.SECTION_ORDER, "paused": "yes"})):
        tree = lxml.html.fromstring(page.text)
        notice = tree.xpath("//p[@id='paused-notice']")[0]
        assert said in notice.text_content() and notice.xpath("a/@href") == [f"{url}/resume"]
    with unit_of_work() as session:  # saving the sections with the box left ticked kept the end
        assert get_subscriber(session, reader).paused_until is not None
    button = client.get(f"{url}/resume")
    assert button.status_code == 200 and f'action="{url}/resume"' in button.text
    with unit_of_work() as session:
        assert get_subscriber(session, reader).paused is True  # GET resumed nothing
    resumed = client.post(f"{url}/resume")
    assert resumed.status_code == 200 and "paused-notice" not in resumed.text
    with unit_of_work() as session:
        subscriber = get_subscriber(session, reader)
        assert (subscriber.paused, subscriber.paused_until) == (False, None)
    assert [d.get("until") is not None for d in _audit("pause")] == [True] and len(_audit("resume")) == 1


def test_a_pause_date_beyond_a_year_or_past_is_refused_naming_it(client, settings):
    reader, url, _ = _reader_with_follows()
    far = (utcnow() + dt.timedelta(days=3650)).astimezone(settings.tz).date().isoformat()
    for until in (far, "2001-01-01", "31/12/2026", "<script>"):
        refused = client.post(f"{url}/pause", data={"until": until})
        assert refused.status_code == 400 and until.replace("<", "&lt;").replace(">", "&gt;") in refused.text
        assert "<script>" not in refused.text
    assert client.post(f"{url}/pause", data={"weeks": "52"}).status_code == 400
    with unit_of_work() as session:
        assert get_subscriber(session, reader).paused is False
    day = (utcnow() + dt.timedelta(days=20)).astimezone(settings.tz).date()
    assert f"Paused until {day.day} {day:%B %Y}" in client.post(f"{url}/pause", data={"until": day.isoformat()}).text


def test_digest_only_turns_every_alert_off_and_back_on(client):
    reader, url, _ = _reader_with_follows((TopicKind.TAG, "Georgia"))
    assert "Every alert is off" in client.post(f"{url}/digest-only", data={"on": "yes"}).text
    with unit_of_work() as session:
        assert get_subscriber(session, reader).digest_only is True
    assert "Turn alerts back on" in client.get(url).text
    client.post(f"{url}/digest-only", data={"on": "no"})
    with unit_of_work() as session:
        assert get_subscriber(session, reader).digest_only is False
    assert [d["on"] for d in _audit("digest_only")] == [True, False]


def test_a_hostile_topic_name_shows_escaped_and_bounded(client, settings):
    hostile = "<script>alert(1)</script>{{ 7*7 }}{% raw %}" + "Ж" * 10_000
    with unit_of_work() as session:  # PostgreSQL keeps 200 characters of it; SQLite all
        long_enough = hostile if session.get_bind().dialect.name == "sqlite" else hostile[:200]
    reader, url, _ = _reader_with_follows((TopicKind.TAG, long_enough))
    page = client.get(url).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}" in page
    assert "49" not in page and page.count("Ж") < 130
    with unit_of_work() as session:
        pause(session, reader, None, source="test")
    assert "Paused: nothing reaches you until you resume" in client.get(url).text


def test_a_follow_link_shows_the_topic_and_its_pace_and_only_the_button_follows(client, feed_server):
    polled_feed(feed_server)
    [reader] = subscribers(READER)
    edition_id = approved_edition()
    send_now(edition_id, MemorySender())
    [georgia, hidden] = topics((TopicKind.TAG, "Georgia"), (TopicKind.TAG, "Internal"))
    with unit_of_work() as session:
        session.get(Topic, hidden).hidden = True
    url = f"/p/{make_token(PREFERENCES, reader)}"
    shown = client.get(f"{url}/follow/{georgia}?e={edition_id}")
    tree = lxml.html.fromstring(shown.text)
    assert shown.status_code == 200 and tree.xpath("//h1")[0].text_content() == "Follow Georgia"
    assert tree.xpath("//input[@name='pace'][@checked]/@value") == ["digest"]
    assert tree.xpath("//form/@action") == [f"{url}/follows/{georgia}?e={edition_id}"]
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Follow)) == 0  # opening wrote nothing
    assert client.get(f"{url}/follow/{hidden}").status_code == 404
    assert client.get(f"{url}/follow/2147483647").status_code == 404
    client.post(f"{url}/follows/{georgia}?e={edition_id}", data={"pace": "alert", "do": "save"})
    again = lxml.html.fromstring(client.get(f"{url}/follow/{georgia}").text)
    assert again.xpath("//input[@name='pace'][@checked]/@value") == ["alert"]
    assert client.post(f"{url}/follows/{hidden}", data={"pace": "digest"}).status_code == 400
    assert _audit("follow")[0]["edition"] == edition_id


def test_the_page_suggests_the_topics_of_articles_the_reader_clicked_not_a_scanner(client, feed_server):
    polled_feed(feed_server)
    [reader] = subscribers(READER)
    edition_id = approved_edition()
    send_now(edition_id, MemorySender())
    [georgia, caspian, armenia] = topics((TopicKind.TAG, "Georgia"), (TopicKind.TAG, "Caspian"),
                                         (TopicKind.TAG, "Armenia"))
    with unit_of_work() as session:
        links = session.execute(select(EditionLink.url, EditionLink.article_id)
                                .where(EditionLink.edition_id == edition_id).order_by(EditionLink.id)).all()
        session.add_all([ArticleTopic(article_id=links[0].article_id, topic_id=georgia),
                         ArticleTopic(article_id=links[0].article_id, topic_id=caspian),
                         ArticleTopic(article_id=links[1].article_id, topic_id=armenia)])
        session.add(DeliveryEvent(provider_event_id="click-1", event="click", email=READER, payload={},
                                  occurred_at=utcnow(), edition_id=edition_id, subscriber_id=reader,
                                  url=links[0].url, audience="human"))
        # A link scanner's click on the other article suggests nothing: it is not the reader's.
        session.add(DeliveryEvent(provider_event_id="click-2", event="click", email=READER, payload={},
                                  occurred_at=utcnow(), edition_id=edition_id, subscriber_id=reader,
                                  url=links[1].url, audience="machine", audience_reason="click within 10 s"))
    url = f"/p/{make_token(PREFERENCES, reader)}"
    def suggested() -> list[str]:  # the clicked article's tags (its section and author are topics too)
        offered = lxml.html.fromstring(client.get(url).text).xpath("//a[text()='Follow']/@href")
        return [href for href in offered if href.rsplit("/", 1)[1] in {str(georgia), str(caspian), str(armenia)}]

    assert suggested() == [f"{url}/follow/{caspian}", f"{url}/follow/{georgia}"]  # by name, clicked alike
    client.post(f"{url}/follows/{georgia}", data={"pace": "digest"})
    assert suggested() == [f"{url}/follow/{caspian}"]
