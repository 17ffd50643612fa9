"""Editors' work on topics: a merge keeps every follower once and sends later articles to the
target; hidden and merged topics are not offered; each change is audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select

from digest.errors import InputError
from digest.store.db import unit_of_work
from digest.store.models import Article, ArticleTopic, AuditEntry, Follow, Pace, Topic, TopicKind
from digest.topics.admin import hide, list_topics, merge, offered_topics, rename, topic_followers
from digest.topics.filing import file_articles
from digest.topics.keys import find_topic
from tests.factories import polled_feed, stored_articles, subscribers
from tests.feed_documents import recent_items


def _kyrgyz_feed(feed_server) -> tuple[int, int]:
    items = recent_items(3)
    tags = [("Kyrgyzstan",), ("Kyrgyz Republic",), ("Kyrgyz Republic", "Energy")]
    polled_feed(feed_server, [replace(item, tags=tag) for item, tag in zip(items, tags)])
    with unit_of_work() as session:
        return (find_topic(session, TopicKind.TAG, "Kyrgyz Republic").id,
                find_topic(session, TopicKind.TAG, "Kyrgyzstan").id)


def _follow(session, subscriber_id: int, topic_id: int, pace: Pace = Pace.DIGEST) -> None:
    session.add(Follow(subscriber_id=subscriber_id, topic_id=topic_id, pace=pace))


def test_a_merge_keeps_every_follower_once_at_the_more_frequent_pace(settings, feed_server):
    source, target = _kyrgyz_feed(feed_server)
    both_alert, both_digest, only_source, only_target = subscribers(
        "both.alert@example.org", "both.digest@example.org", "only.source@example.org", "only.target@example.org")
    with unit_of_work() as session:
        _follow(session, both_alert, source, Pace.ALERT)
        _follow(session, both_alert, target)
        _follow(session, both_digest, source)
        _follow(session, both_digest, target)
        _follow(session, only_source, source, Pace.ALERT)
        _follow(session, only_target, target)
    with unit_of_work() as session:
        merge(session, source, target, "publisher@example.org")
    with unit_of_work() as session:
        follows = {(f.subscriber_id, f.topic_id): f.pace for f in session.scalars(select(Follow))}
        assert follows == {(both_alert, target): Pace.ALERT, (both_digest, target): Pace.DIGEST,
                           (only_source, target): Pace.ALERT, (only_target, target): Pace.DIGEST}
        assert topic_followers(session, target)[0] == 4
        counts = {row.name: (row.articles, row.followers) for row in list_topics(session, TopicKind.TAG)}
        assert counts == {"Kyrgyzstan": (3, 4), "Energy": (1, 0)}
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "topics:merge"))
        assert entry.details["by"] == "publisher@example.org" and entry.details["into"] == "Kyrgyzstan"


def test_a_later_article_naming_the_merged_tag_is_filed_under_the_target(settings, feed_server):
    source, target = _kyrgyz_feed(feed_server)
    with unit_of_work() as session:
        merge(session, source, target, "publisher@example.org")
    [article_id] = stored_articles(dt.datetime.now(dt.UTC))
    with unit_of_work() as session:
        session.get(Article, article_id).tags = ["KYRGYZ republic"]
        session.flush()
        file_articles(session, [article_id])
        assert session.scalar(select(ArticleTopic.topic_id).join(Topic).where(
            ArticleTopic.article_id == article_id, Topic.kind == TopicKind.TAG)) == target


def test_merging_into_itself_an_alias_or_another_kind_is_refused(settings, feed_server):
    source, target = _kyrgyz_feed(feed_server)
    with unit_of_work() as session:
        section = find_topic(session, TopicKind.SECTION, "Analytical Articles").id
        with pytest.raises(InputError, match="into itself"):
            merge(session, target, target, "p")
        with pytest.raises(InputError, match="only topics of one kind"):
            merge(session, target, section, "p")
        energy = find_topic(session, TopicKind.TAG, "Energy").id
        merge(session, source, target, "p")
        with pytest.raises(InputError, match="merge into that one"):
            merge(session, energy, source, "p")
        with pytest.raises(InputError, match="was merged into 'Kyrgyzstan'"):
            merge(session, source, energy, "p")


def test_an_alias_of_the_merged_topic_leads_to_the_new_target(settings, feed_server):
    source, target = _kyrgyz_feed(feed_server)
    with unit_of_work() as session:
        energy = find_topic(session, TopicKind.TAG, "Energy").id
        merge(session, target, source, "p")  # Kyrgyzstan into Kyrgyz Republic
        merge(session, source, energy, "p")  # then Kyrgyz Republic into Energy
    with unit_of_work() as session:
        assert session.get(Topic, target).merged_into_id == energy
        assert find_topic(session, TopicKind.TAG, "Kyrgyzstan").id == energy


def test_hidden_and_merged_topics_are_not_offered(settings, feed_server):
    source, target = _kyrgyz_feed(feed_server)
    with unit_of_work() as session:
        energy = find_topic(session, TopicKind.TAG, "Energy").id
        merge(session, source, target, "p")
        hide(session, energy, True, "p")
        session.add(Topic(kind=TopicKind.TAG, key="atlantis", name="Atlantis"))  # no article names it
    with unit_of_work() as session:
        offered = {row.name for row in offered_topics(session) if row.kind == TopicKind.TAG}
        assert offered == {"Kyrgyzstan"}
        hide(session, energy, False, "p")
    with unit_of_work() as session:
        assert {row.name for row in offered_topics(session) if row.kind == TopicKind.TAG} == {"Kyrgyzstan", "Energy"}
        assert [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))] == [
            "topics:merge", "topics:hide", "topics:unhide"]


def test_a_rename_changes_the_name_shown_and_files_the_old_spelling_still(settings, feed_server):
    _, target = _kyrgyz_feed(feed_server)
    with unit_of_work() as session:
        rename(session, target, "  Kyrgyz   stan (country) ", "p")
        with pytest.raises(InputError, match="cannot be empty"):
            rename(session, target, " \x00 ", "p")
    with unit_of_work() as session:
        assert session.get(Topic, target).name == "Kyrgyz stan (country)"
        assert find_topic(session, TopicKind.TAG, "kyrgyzstan").id == target
