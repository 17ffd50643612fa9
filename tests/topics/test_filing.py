"""Articles are filed under the topics they name as the poller stores them: a section, a tag or
an author as the journal spells it, one topic however it is spelled, at a fixed cost."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import delete, select

from digest.store.db import unit_of_work
from digest.store.models import ArticleTopic, Topic, TopicKind
from digest.topics.admin import list_topics
from digest.topics.filing import file_articles, file_every_article
from digest.topics.keys import NAME_LENGTH
from tests.delivery.test_ledger_costs import statements
from tests.factories import polled_feed, poll_url, serve_feed, stored_articles
from tests.feed_documents import recent_items

HOSTILE = "<script>{{unsubscribe_url}}</script>" + "x" * 10_000


def _tagged(*tags_per_item):
    return [replace(item, tags=tuple(tags)) for item, tags in zip(recent_items(len(tags_per_item)), tags_per_item)]


def _counts() -> dict[tuple[str, str], int]:
    with unit_of_work() as session:
        return {(row.kind.value, row.name): row.articles for row in list_topics(session)}


def test_a_polled_feed_files_its_articles_under_sections_tags_and_authors(settings, feed_server):
    polled_feed(feed_server, _tagged(["Kazakhstan", "Energy"], ["Kazakhstan"], []))
    counts = _counts()
    assert counts[("section", "Analytical Articles")] == 3
    assert counts[("tag", "Kazakhstan")] == 2 and counts[("tag", "Energy")] == 1
    assert counts[("author", "Anna Keller")] == 1 and counts[("author", "Clara Ivers")] == 1


def test_two_spellings_of_a_tag_are_one_topic_named_by_the_first(settings, feed_server):
    polled_feed(feed_server, _tagged(["Kyrgyz Republic"], ["kyrgyz  republic."], ["Kyrgyz Republic"]))
    tags = {name: count for (kind, name), count in _counts().items() if kind == "tag"}
    assert tags == {"Kyrgyz Republic": 3}


def test_a_hostile_tag_is_filed_bounded(settings, feed_server):
    polled_feed(feed_server, _tagged([HOSTILE]))
    [name] = [name for (kind, name) in _counts() if kind == "tag"]
    assert name.startswith("<script>{{unsubscribe_url}}</script>") and len(name) == NAME_LENGTH


def test_an_updated_article_is_filed_under_its_new_tags_only(settings, feed_server):
    url = serve_feed(feed_server, _tagged(["Georgia"]))
    poll_url(url)
    items = _tagged(["Armenia"])
    serve_feed(feed_server, [replace(items[0], lead="A corrected lead.")])
    result = poll_url(url, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert result.updated == 1
    counts = _counts()
    assert counts[("tag", "Armenia")] == 1 and counts[("tag", "Georgia")] == 0


def test_filing_takes_as_many_statements_for_50_articles_as_for_1(settings):
    few, many = stored_articles(dt.datetime.now(dt.UTC)), stored_articles(*[dt.datetime.now(dt.UTC)] * 50)
    costs = []
    for ids in (few, many):
        with statements() as seen, unit_of_work() as session:
            file_articles(session, ids)
        costs.append(len(seen))
    assert costs[0] == costs[1] <= 6, costs
    assert _counts()[("author", "A. Writer")] == 51


def test_refiling_files_articles_stored_before_topics_existed(settings, feed_server):
    polled_feed(feed_server, _tagged(["Azerbaijan"], ["Azerbaijan"]))
    with unit_of_work() as session:
        session.execute(delete(ArticleTopic))
        session.execute(delete(Topic))
    with unit_of_work() as session:
        assert file_every_article(session) == 2
    assert _counts()[("tag", "Azerbaijan")] == 2


def test_an_article_naming_a_merged_tag_is_filed_under_the_topic_it_was_merged_into(settings):
    with unit_of_work() as session:
        target = Topic(kind=TopicKind.TAG, key="kyrgyzstan", name="Kyrgyzstan")
        session.add(target)
        session.flush()
        session.add(Topic(kind=TopicKind.TAG, key="kyrgyz republic", name="Kyrgyz Republic", merged_into_id=target.id))
    [article_id] = stored_articles(dt.datetime.now(dt.UTC))
    with unit_of_work() as session:
        from digest.store.models import Article

        session.get(Article, article_id).tags = ["Kyrgyz Republic"]
        session.flush()
        file_articles(session, [article_id])
        filed = session.scalars(select(Topic.name).join(ArticleTopic, ArticleTopic.topic_id == Topic.id)
                                .where(Topic.kind == TopicKind.TAG)).all()
    assert filed == ["Kyrgyzstan"]
