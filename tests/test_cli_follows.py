"""`digest subscribers follow|unfollow|pause|resume|digest-only` and what `show` says of them; bad
input (an unknown address, topic or date) exits 2 naming it and changes nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from digest.clock import utcnow
from digest.store.db import unit_of_work
from digest.store.models import Follow, Pace, TopicKind
from digest.subscribers.preferences import get_subscriber
from tests.cli import digest
from tests.factories import subscribers
from tests.subscribers.test_follows import topics

READER = "reader@example.org"


def _ok(*args: str) -> str:
    result = digest(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_operator_sets_follows_pace_pause_and_digest_only(settings, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    [reader] = subscribers(READER)
    topics((TopicKind.TAG, "Kyrgyz Republic"), (TopicKind.AUTHOR, "S. Frederick Starr"))
    assert "follows tag 'Kyrgyz Republic' (alert)" in _ok("subscribers", "follow", READER, "--tag", "kyrgyz  republic",
                                                          "--pace", "alert")
    assert "unchanged" in _ok("subscribers", "follow", READER, "--tag", "Kyrgyz Republic", "--pace", "alert")
    _ok("subscribers", "follow", READER, "--author", "S. Frederick Starr")
    day = (utcnow() + dt.timedelta(days=30)).astimezone(settings.tz).date()
    assert f"paused until {day.day} {day:%B %Y}" in _ok("subscribers", "pause", READER, "--until", day.isoformat())
    _ok("subscribers", "digest-only", READER)
    shown = _ok("subscribers", "show", READER)
    for line in (f"paused until {day.day} {day:%B %Y}", "digest only: every alert off",
                 "follows author 'S. Frederick Starr' (digest)", "follows tag 'Kyrgyz Republic' (alert)"):
        assert line in shown, shown
    _ok("subscribers", "unfollow", READER, "--author", "S. Frederick Starr")
    _ok("subscribers", "resume", READER)
    _ok("subscribers", "digest-only", READER, "--off")
    _ok("subscribers", "pause", READER, "--weeks", "2")
    with unit_of_work() as session:
        subscriber = get_subscriber(session, reader)
        assert subscriber.digest_only is False and subscriber.paused is True
        assert abs(subscriber.paused_until - (utcnow() + dt.timedelta(weeks=2))) < dt.timedelta(minutes=1)
        assert session.execute(select(Follow.pace)).scalars().all() == [Pace.ALERT]


def test_bad_input_exits_2_naming_it_and_changes_nothing(settings):
    subscribers(READER)
    topics((TopicKind.TAG, "Tajikistan"))
    far = (utcnow() + dt.timedelta(days=3650)).date().isoformat()
    for args, named in [
        (("follow", "nobody@example.org", "--tag", "Tajikistan"), "no subscriber nobody@example.org"),
        (("follow", READER, "--tag", "Atlantis"), "tag 'Atlantis'"),
        (("follow", READER, "--tag", "Tajikistan", "--author", "X"), "name one topic"),
        (("follow", READER, "--tag", "Tajikistan", "--pace", "hourly"), "pace 'hourly'"),
        (("unfollow", READER, "--section", "Nowhere"), "section 'Nowhere'"),
        (("pause", READER, "--until", "31/12/2026"), "'31/12/2026'"),
        (("pause", READER, "--until", far), far),
        (("pause", READER, "--until", "2001-01-01"), "2001-01-01"),
        (("pause", READER, "--weeks", "3"), "'3'"),
        (("pause", READER), "--until DATE or --weeks"),
        (("resume", "nobody@example.org"), "nobody@example.org"),
    ]:
        result = digest("subscribers", *args)
        assert result.returncode == 2 and named in result.stderr, (args, result)
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Follow)) == 0
    assert "paused" not in _ok("subscribers", "show", READER)
