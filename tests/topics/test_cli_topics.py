"""`digest topics ...`: the list from the articles polled, a hostile tag printed as text and
bounded, merge, rename, hide and the followers, bad input exiting 2 naming it."""

from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy import select

from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Follow, Pace, TopicKind
from digest.topics.keys import NAME_LENGTH, find_topic
from tests.cli import digest
from tests.factories import polled_feed, subscribers
from tests.feed_documents import recent_items

HOSTILE = "<script>{{unsubscribe_url}}</script>[bold]" + "x" * 10_000


def _feed(feed_server, *tags_per_item) -> None:
    items = recent_items(len(tags_per_item))
    polled_feed(feed_server, [replace(item, tags=tuple(tags)) for item, tags in zip(items, tags_per_item)])


def _listed(*args) -> list[dict]:
    result = digest("topics", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_topics_list_shows_what_the_articles_name_with_counts(settings, feed_server):
    _feed(feed_server, ["Kazakhstan"], ["kazakhstan", "Energy"])
    rows = {(row["kind"], row["name"]): row["articles"] for row in _listed()}
    assert rows == {("section", "Analytical Articles"): 2, ("tag", "Kazakhstan"): 2, ("tag", "Energy"): 1,
                    ("author", "Anna Keller"): 1, ("author", "Bakhyt Orlov"): 1}
    assert {row["name"] for row in _listed("--kind", "tag")} == {"Kazakhstan", "Energy"}
    table = digest("topics", "list").stdout
    assert "Kazakhstan" in table and "followers" in table


def test_a_hostile_tag_is_printed_as_text_and_bounded(settings, feed_server):
    _feed(feed_server, [HOSTILE])
    [row] = _listed("--kind", "tag")
    assert len(row["name"]) == NAME_LENGTH and row["name"].startswith("<script>{{unsubscribe_url}}</script>[bold]")
    table = digest("topics", "list", "--kind", "tag").stdout
    assert "<script>{{unsubscribe_url}}</script>[bold]" in "".join(table.split())


def test_merge_from_the_command_line_keeps_the_followers(settings, feed_server):
    _feed(feed_server, ["Kyrgyz Republic"], ["Kyrgyzstan"])
    [reader] = subscribers("reader@example.org")
    with unit_of_work() as session:
        session.add(Follow(subscriber_id=reader, topic_id=find_topic(session, TopicKind.TAG, "Kyrgyz Republic").id,
                           pace=Pace.ALERT))
    result = digest("topics", "merge", "tag", "kyrgyz republic", "Kyrgyzstan")
    assert result.returncode == 0, result.stderr
    assert "tag 'Kyrgyz Republic' merged into 'Kyrgyzstan'" in result.stdout
    assert [(r["name"], r["articles"], r["followers"]) for r in _listed("--kind", "tag")] == [("Kyrgyzstan", 2, 1)]
    followers = json.loads(digest("topics", "followers", "tag", "Kyrgyz Republic", "--json").stdout)
    assert followers == [{"email": "reader@example.org", "pace": "alert", "status": "confirmed"}]
    with unit_of_work() as session:
        assert session.scalar(select(AuditEntry.source).where(AuditEntry.action == "topics:merge")) == "cli"


def test_rename_and_hide_from_the_command_line(settings, feed_server):
    _feed(feed_server, ["Turkiye"])
    assert digest("topics", "rename", "tag", "Türkiye", "Türkiye").returncode == 0
    assert digest("topics", "hide", "tag", "turkiye").returncode == 0
    assert _listed("--kind", "tag") == []
    assert [row["name"] for row in _listed("--kind", "tag", "--hidden")] == ["Türkiye"]
    assert digest("topics", "hide", "tag", "Türkiye", "--unhide").returncode == 0
    assert [row["hidden"] for row in _listed("--kind", "tag")] == [False]


def test_bad_input_exits_2_naming_it(settings, feed_server):
    _feed(feed_server, ["Georgia"])
    for args, message in [(("merge", "tag", "Atlantis", "Georgia"), "tag 'Atlantis': no article names it"),
                          (("merge", "tag", "Georgia", "Georgia"), "cannot be merged into itself"),
                          (("rename", "tag", "Georgia", " "), "cannot be empty"),
                          (("hide", "country", "Georgia"), "country")]:
        result = digest("topics", *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_refile_files_every_article(settings, feed_server):
    _feed(feed_server, ["Armenia"])
    result = digest("topics", "refile")
    assert result.returncode == 0 and "1 articles filed" in result.stdout
