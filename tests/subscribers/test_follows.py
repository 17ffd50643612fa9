"""Follows with a pace, a pause with an end, and "digest only": a paused reader is planned for
no edition until the pause ends, and then for the next one with nothing lifting the pause; the
bounds of a pause; one follow per topic; every change audited."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import func, select

from digest.clock import utcnow
from digest.delivery.plan import release_edition
from digest.delivery.progress import planned_send
from digest.editions.lookup import get_edition
from digest.errors import InputError
from digest.store.db import unit_of_work
from digest.store.models import Follow, Pace, Topic, TopicKind
from digest.subscribers.audit import audit_trail
from digest.subscribers.follows import (follow, pause, pause_end, reader_follows, resume, set_digest_only,
                                        unfollow)
from digest.subscribers.preferences import get_subscriber
from digest.topics.keys import topic_key
from tests.delivery.batches import planned_readers
from tests.factories import approved_edition, planned, polled_feed, subscribers

READER, OTHER = "paused@example.org", "reader@example.org"


def topics(*named: tuple[TopicKind, str]) -> list[int]:
    with unit_of_work() as session:
        rows = [Topic(kind=kind, key=topic_key(name), name=name) for kind, name in named]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _paused_until_tomorrow(feed_server) -> tuple[int, int]:
    polled_feed(feed_server)
    reader, _ = subscribers(READER, OTHER)
    with unit_of_work() as session:
        pause(session, reader, utcnow() + dt.timedelta(days=1), source="test")
    return reader, approved_edition()


def _readers_at_start(edition_id: int) -> int:
    """How many readers the pages say a send started now would reach."""
    with unit_of_work() as session:
        return planned_send(session, release_edition(session, edition_id)).readers


def test_a_reader_paused_until_tomorrow_is_not_planned_today(settings, feed_server):
    _, edition_id = _paused_until_tomorrow(feed_server)
    with unit_of_work() as session:  # a send that starts after the pause counts the reader
        later = utcnow() + dt.timedelta(days=2)
        assert planned_send(session, get_edition(session, edition_id), later).readers == 2
    assert _readers_at_start(edition_id) == 1
    planned(edition_id)
    assert planned_readers(edition_id) == {OTHER}


def test_once_the_pause_has_ended_the_reader_is_planned_with_nothing_lifting_it(settings, feed_server):
    reader, edition_id = _paused_until_tomorrow(feed_server)
    with time_machine.travel(utcnow() + dt.timedelta(days=1, minutes=1), tick=False):
        assert _readers_at_start(edition_id) == 2
        planned(edition_id)
    assert planned_readers(edition_id) == {READER, OTHER}
    with unit_of_work() as session:  # no job ran: the row still says paused, with its end past
        assert get_subscriber(session, reader).paused is True


def test_a_paused_reader_without_an_end_stays_unplanned(settings, feed_server):
    polled_feed(feed_server)
    reader, _ = subscribers(READER, OTHER)
    with unit_of_work() as session:
        pause(session, reader, None, source="test")
    edition_id = approved_edition()
    with time_machine.travel(utcnow() + dt.timedelta(days=400), tick=False):
        planned(edition_id)
    assert planned_readers(edition_id) == {OTHER}


@pytest.mark.parametrize("ahead, said", [(dt.timedelta(days=3650), "at most a year"),
                                         (dt.timedelta(days=-1), "has passed")])
def test_a_pause_too_far_ahead_or_in_the_past_is_refused_naming_the_date(settings, ahead, said):
    [reader] = subscribers(READER)
    until = utcnow() + ahead
    with unit_of_work() as session, pytest.raises(InputError, match=said) as refused:
        pause(session, reader, until, source="test")
    assert until.astimezone(settings.tz).date().isoformat() in str(refused.value)
    with unit_of_work() as session:
        assert get_subscriber(session, reader).paused is False


def test_a_pause_is_chosen_as_weeks_or_a_date_and_refused_otherwise(settings):
    now = utcnow()
    assert pause_end(weeks=2, now=now) == now + dt.timedelta(weeks=2)
    end = pause_end(until="2026-12-20")
    assert end.astimezone(settings.tz).replace(tzinfo=None) == dt.datetime(2026, 12, 20)
    for wrong, named in [({"weeks": 3}, "'3'"), ({"until": "20/12/2026"}, "'20/12/2026'"), ({}, "choose")]:
        with pytest.raises(InputError, match=named):
            pause_end(**wrong)


def test_following_twice_is_one_follow_and_the_pace_can_change(settings):
    [reader] = subscribers(READER)
    [kyrgyz, author] = topics((TopicKind.TAG, "Kyrgyz Republic"), (TopicKind.AUTHOR, "S. Frederick Starr"))
    with unit_of_work() as session:
        assert follow(session, reader, kyrgyz, source="test") is True
        assert follow(session, reader, kyrgyz, "digest", source="test") is False
        assert follow(session, reader, kyrgyz, "alert", source="test", edition=7) is True
        follow(session, reader, author, source="test")
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Follow)) == 2
        assert [(f.kind, f.name, f.pace) for f in reader_follows(session, reader)] == [
            (TopicKind.AUTHOR, "S. Frederick Starr", Pace.DIGEST), (TopicKind.TAG, "Kyrgyz Republic", Pace.ALERT)]
        with pytest.raises(InputError, match="'weekly'"):
            follow(session, reader, author, "weekly", source="test")
    with unit_of_work() as session:
        assert unfollow(session, reader, kyrgyz, source="test") is True
        assert unfollow(session, reader, kyrgyz, source="test") is False
        trail = [(e.action, e.details) for e in audit_trail(session, READER)]
    follows = [details for action, details in trail if action == "follow"]
    assert [d["pace"] for d in follows] == [[None, "digest"], ["digest", "alert"], [None, "digest"]]
    assert follows[1]["edition"] == 7 and [a for a, _ in trail].count("unfollow") == 1


def test_a_follow_of_a_merged_topic_shows_the_topic_it_was_merged_into(settings):
    [reader] = subscribers(READER)
    [kyrgyzstan, kyrgyz] = topics((TopicKind.TAG, "Kyrgyzstan"), (TopicKind.TAG, "Kyrgyz Republic"))
    with unit_of_work() as session:
        follow(session, reader, kyrgyzstan, "alert", source="test")
        session.get(Topic, kyrgyzstan).merged_into_id = kyrgyz
    with unit_of_work() as session:
        assert [(f.topic_id, f.name, f.pace) for f in reader_follows(session, reader)] == [
            (kyrgyz, "Kyrgyz Republic", Pace.ALERT)]
        follow(session, reader, kyrgyzstan, "digest", source="test")  # the alias: the same topic
    with unit_of_work() as session:
        assert session.execute(select(Follow.topic_id, Follow.pace)).all() == [(kyrgyz, Pace.DIGEST)]
        unfollow(session, reader, kyrgyzstan, source="test")
        assert reader_follows(session, reader) == []


def test_digest_only_and_resume_are_recorded_once(settings):
    [reader] = subscribers(READER)
    with unit_of_work() as session:
        set_digest_only(session, reader, True, source="test")
        set_digest_only(session, reader, True, source="test")
        pause(session, reader, utcnow() + dt.timedelta(weeks=1), source="test")
        resume(session, reader, source="test")
        resume(session, reader, source="test")
    with unit_of_work() as session:
        subscriber = get_subscriber(session, reader)
        assert (subscriber.digest_only, subscriber.paused, subscriber.paused_until) == (True, False, None)
        actions = [e.action for e in audit_trail(session, READER)]
    assert actions == ["add", "digest_only", "pause", "resume"]


def test_a_pause_whose_end_has_passed_reads_as_over_everywhere(settings):
    """Nothing lifts a pause when its end passes: the list, the reader's page, the CSV export and
    the sunset view read it as over, as planning does."""
    import io
    import json

    from fastapi.testclient import TestClient
    from sqlalchemy import update

    from digest.store.models import Subscriber
    from digest.subscribers.csv_export import export_subscribers
    from digest.web.app import app
    from tests.cli import digest
    from tests.web.editor_helpers import logged_in

    over, still = subscribers("over@example.org", "still@example.org")
    with unit_of_work() as session:
        session.execute(update(Subscriber).where(Subscriber.id == over)
                        .values(paused=True, paused_until=utcnow() - dt.timedelta(hours=1)))
        session.execute(update(Subscriber).where(Subscriber.id == still)
                        .values(paused=True, paused_until=utcnow() + dt.timedelta(days=3)))
    listed = {row["email"]: row["paused"] for row in json.loads(digest("subscribers", "list", "--json").stdout)}
    assert listed == {"over@example.org": False, "still@example.org": True}
    out = io.StringIO()
    with unit_of_work() as session:
        export_subscribers(session, out, None)
    rows = {line.split(",")[0]: line for line in out.getvalue().splitlines()[1:]}
    assert ",html,no," in rows["over@example.org"] and ",html,yes," in rows["still@example.org"]
    with TestClient(app, base_url="https://testserver") as client:
        logged_in(client)
        assert "· paused" not in client.get(f"/subscribers/{over}").text
        assert "· paused until" in client.get(f"/subscribers/{still}").text
