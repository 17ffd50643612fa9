"""The editors' topics pages over HTTP: the list by kind with counts, a hostile tag shown escaped,
a topic's articles and followers, and a publisher's rename, merge and hide (an editor may only look)."""

from __future__ import annotations

from dataclasses import replace
from html import escape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Follow, Pace, Topic, TopicKind
from digest.topics.keys import find_topic
from digest.web.app import app
from tests.factories import polled_feed, subscribers
from tests.feed_documents import recent_items
from tests.web.editor_helpers import csrf, logged_in

HOSTILE = "<script>{{unsubscribe_url}}</script>" + "x" * 10_000


@pytest.fixture
def client(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _feed(feed_server, *tags_per_item) -> dict[str, int]:
    items = recent_items(len(tags_per_item))
    polled_feed(feed_server, [replace(item, tags=tuple(tags)) for item, tags in zip(items, tags_per_item)])
    with unit_of_work() as session:
        return {t.name: t.id for t in session.scalars(select(Topic).where(Topic.kind == TopicKind.TAG))}


def test_the_topics_page_lists_each_kind_with_articles_and_a_hostile_tag_escaped(client, feed_server):
    tags = _feed(feed_server, ["Kazakhstan", HOSTILE], ["Kazakhstan"])
    logged_in(client)
    answer = client.get("/topics")
    assert answer.status_code == 200
    assert "<script>{{" not in answer.text and "unsubscribe_url" in answer.text
    assert escape("<script>{{unsubscribe_url}}</script>", quote=False) in answer.text
    assert len(answer.text) < 20_000 + 4 * 200
    for heading in ("Sections", "Tags", "Authors"):
        assert f"<h2>{heading}</h2>" in answer.text
    row = answer.text.split(f'id="topic-{tags["Kazakhstan"]}"')[1].split("</tr>")[0]
    assert f'href="/topics/{tags["Kazakhstan"]}"' in row and '<td class="num">2</td>' in row
    hostile = client.get(f"/topics/{next(i for n, i in tags.items() if n != 'Kazakhstan')}")
    assert hostile.status_code == 200 and "<script>{{" not in hostile.text
    assert "Topics</a>" in hostile.text  # the editors' navigation links the page


def test_a_topic_page_shows_its_articles_and_followers_with_their_pace(client, feed_server):
    tags = _feed(feed_server, ["Georgia"], ["Georgia"])
    alert, digest = subscribers("alert.reader@example.org", "digest.reader@example.org")
    with unit_of_work() as session:
        session.add_all([Follow(subscriber_id=alert, topic_id=tags["Georgia"], pace=Pace.ALERT),
                         Follow(subscriber_id=digest, topic_id=tags["Georgia"])])
    logged_in(client)
    text = client.get(f"/topics/{tags['Georgia']}").text
    assert "Followers (2)" in text and "alert.reader@example.org</a></td><td>alert" in text
    assert text.count('<li><a href="http') == 2
    assert "Only a publisher may" in text
    assert client.get(f"/topics/{tags['Georgia']}?page=2").status_code == 200


def test_an_editor_may_not_merge_rename_or_hide(client, feed_server):
    tags = _feed(feed_server, ["Georgia", "Sakartvelo"])
    logged_in(client)
    token = csrf(client, "/topics")
    for path, data in [("merge", {"into": tags["Georgia"]}), ("rename", {"name": "X"}), ("hide", {})]:
        answer = client.post(f"/topics/{tags['Sakartvelo']}/{path}", data={"csrf_token": token, **data})
        assert answer.status_code == 403, path
    with unit_of_work() as session:
        assert session.get(Topic, tags["Sakartvelo"]).merged_into_id is None


def test_a_publisher_merges_renames_and_hides_from_the_topic_page(client, feed_server):
    tags = _feed(feed_server, ["Kyrgyz Republic"], ["Kyrgyzstan"], ["Energy"])
    [reader] = subscribers("reader@example.org")
    with unit_of_work() as session:
        session.add(Follow(subscriber_id=reader, topic_id=tags["Kyrgyz Republic"]))
    logged_in(client, "publisher@example.org", "publisher")
    token = csrf(client, "/topics")
    source, target = tags["Kyrgyz Republic"], tags["Kyrgyzstan"]
    page = client.get(f"/topics/{source}").text
    assert f'<option value="{target}">Kyrgyzstan (1 article, 0 followers)</option>' in page
    assert f'<option value="{source}">' not in page
    merged = client.post(f"/topics/{source}/merge", data={"csrf_token": token, "into": str(target)})
    assert merged.status_code == 303 and merged.headers["location"] == f"/topics/{target}?notice=merged"
    shown = client.get(merged.headers["location"]).text
    assert "Followers (1)" in shown and "reader@example.org" in shown
    again = client.post(f"/topics/{source}/merge", data={"csrf_token": token, "into": str(tags["Energy"])})
    assert again.status_code == 400 and "was merged into" in again.text
    itself = client.post(f"/topics/{target}/merge", data={"csrf_token": token, "into": str(target)})
    assert itself.status_code == 400 and "into itself" in itself.text
    assert client.post(f"/topics/{target}/rename", data={"csrf_token": token, "name": "Kyrgyz Rep."}).status_code == 303
    assert client.post(f"/topics/{target}/hide", data={"csrf_token": token}).status_code == 303
    assert "Hidden: readers are not offered" in client.get(f"/topics/{target}").text
    assert client.post(f"/topics/{target}/unhide", data={"csrf_token": token}).status_code == 303
    with unit_of_work() as session:
        assert find_topic(session, TopicKind.TAG, "kyrgyz republic").name == "Kyrgyz Rep."
        entries = session.execute(select(AuditEntry.action, AuditEntry.source).order_by(AuditEntry.id)).all()
        assert [action for action, _ in entries if action.startswith("topics:")] == [
            "topics:merge", "topics:rename", "topics:hide", "topics:unhide"]
        assert all(source.startswith("editor:") for action, source in entries if action.startswith("topics:"))


def test_a_merge_into_a_topic_that_does_not_exist_is_not_found(client, feed_server):
    tags = _feed(feed_server, ["Georgia"])
    logged_in(client, "publisher@example.org", "publisher")
    token = csrf(client, "/topics")
    for into, status in [("999999", 404), ("0", 404), ("x", 400), ("", 400)]:
        answer = client.post(f"/topics/{tags['Georgia']}/merge", data={"csrf_token": token, "into": into})
        assert answer.status_code == status, (into, answer.status_code)
