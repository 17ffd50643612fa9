"""Clicks by topic: the report counts the readers who clicked any article filed under a topic
(once each, however many of its articles they clicked) and the clicks, as they come in, and
shows them on the report page and in `digest editions report --json`."""

from __future__ import annotations

from sqlalchemy import select

from digest.reports.facts import edition_report
from digest.store.db import unit_of_work
from digest.store.models import ArticleTopic, EditionLink, Topic, TopicKind
from digest.topics.keys import topic_key
from tests.factories import polled_feed
from tests.reports.events import SentEdition, clicked
from tests.web.editor_helpers import logged_in

HOSTILE = "<b>{{ unsubscribe_url }}</b>"


def _file(articles: dict[str, list[int]]) -> None:
    with unit_of_work() as session:
        for name, article_ids in articles.items():
            topic = Topic(kind=TopicKind.TAG, key=topic_key(name), name=name)
            session.add(topic)
            session.flush()
            session.add_all(ArticleTopic(article_id=article_id, topic_id=topic.id) for article_id in article_ids)


def test_the_report_counts_each_reader_once_per_topic(standin, feed_server, client):
    polled_feed(feed_server)
    sent = SentEdition(standin, None, readers=3)
    with unit_of_work() as session:
        first, second = session.scalars(select(EditionLink.article_id).where(
            EditionLink.edition_id == sent.edition_id).order_by(EditionLink.position).limit(2)).all()
    _file({"Georgia": [first, second], "Energy": [first], HOSTILE: [second]})
    a, b, e = sent.links[0], sent.links[1], sent.event
    sent.post(client, [e(0, "click", 5, **clicked(a)), e(0, "click", 6, **clicked(b)),
                       e(1, "click", 7, **clicked(b)),
                       e(2, "click", 8, **clicked(a)), e(2, "click", 9, **clicked(a, 1))])
    with unit_of_work() as session:  # (the articles' sections and authors are topics too)
        topics = [t for t in edition_report(session, sent.edition_id).topics if t["kind"] == "tag"]
    assert [(t["name"], t["unique_clicks"], t["clicks"]) for t in topics] == [
        ("Georgia", 3, 5), ("Energy", 2, 3), (HOSTILE, 2, 2)]
    logged_in(client)
    html = client.get(f"/editions/{sent.edition_id}/report").text
    table = html[html.index('id="topics"'):html.index("</table>", html.index('id="topics"'))]
    assert "<td>Georgia</td><td>tag</td><td class=\"num\">3</td><td class=\"num\">5</td>" in table
    assert "&lt;b&gt;{{ unsubscribe_url }}&lt;/b&gt;" in table and "<b>" not in table
    with unit_of_work() as session:
        assert {t["name"] for t in edition_report(session, sent.edition_id).as_dict()["topics"]} >= {"Georgia"}
    # Across the latest editions, /reports ranks the tags by the readers who clicked them.
    reports = client.get("/reports").text
    tags = reports[reports.index('id="tags-heading"'):]
    assert tags.index("<td>Georgia</td><td class=\"num\">3</td>") < tags.index("<td>Energy</td><td class=\"num\">2</td>")
