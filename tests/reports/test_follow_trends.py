"""Trends show the follows gained and lost between sends: for each sent digest, the new follows
and the unfollows audited since the digest before it, read from the audit rows in the same number
of statements for 2 editions as for 6."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from digest.clock import utcnow
from digest.reports.trends import edition_trends
from digest.store.db import unit_of_work
from digest.store.models import Edition, EditionKind, EditionStatus, Pace, TopicKind
from digest.subscribers.follows import follow, unfollow
from digest.web.app import app
from tests.delivery.test_ledger_costs import statements
from tests.factories import subscribers
from tests.subscribers.test_follows import topics
from tests.web.editor_helpers import logged_in

DAY = dt.timedelta(days=1)


def _sent_digest(session, started_at: dt.datetime, number: int) -> int:
    edition = Edition(kind=EditionKind.DIGEST, period=started_at.date() + number * DAY, cutoff_at=started_at,
                      send_at=started_at, started_at=started_at, sent_at=started_at, status=EditionStatus.SENT,
                      subject=f"Edition {number}", preheader="", intro="", created_at=started_at,
                      updated_at=started_at)
    session.add(edition)
    session.flush()
    return edition.id


def test_each_send_shows_the_follows_gained_and_lost_since_the_one_before(settings):
    start = utcnow() - 30 * DAY
    first_reader, second_reader = subscribers("one@example.org", "two@example.org")
    [georgia, energy] = topics((TopicKind.TAG, "Georgia"), (TopicKind.TAG, "Energy"))
    with unit_of_work() as session:
        follow(session, first_reader, georgia, source="test", now=start - DAY)  # before every send: not shown
        _sent_digest(session, start, 0)
        follow(session, second_reader, georgia, source="test", now=start + DAY)
        follow(session, second_reader, energy, source="test", now=start + DAY)
        follow(session, second_reader, energy, Pace.ALERT, source="test", now=start + 2 * DAY)  # a pace: no gain
        _sent_digest(session, start + 3 * DAY, 1)
        unfollow(session, first_reader, georgia, source="test", now=start + 4 * DAY)
        _sent_digest(session, start + 5 * DAY, 2)
    with unit_of_work() as session:
        trends = edition_trends(session, 2)  # the first send is not shown: its window still counts
        assert [(t.subject, t.follows_gained, t.follows_lost) for t in trends] == [
            ("Edition 1", 2, 0), ("Edition 2", 0, 1)]
        with statements() as few:
            edition_trends(session, 2)
        for number in range(3, 7):
            _sent_digest(session, start + (5 + number) * DAY, number)
        with statements() as many:
            edition_trends(session, 6)
        assert len(many) == len(few)
    with TestClient(app, base_url="https://testserver") as client:
        logged_in(client)
        table = client.get("/reports").text.split('id="trend-table"')[1]
    assert "Follows gained" in table and "Follows lost" in table
