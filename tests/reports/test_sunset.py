"""The sunset view: readers delivered the last N editions who never opened or clicked, and the
publisher's audited action that pauses them, which each reader can undo on their preferences page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Subscriber
from tests.conftest import reset_caches
from tests.reports.conftest import path_of
from tests.reports.events import SentEdition, bounced, clicked, delivered, opened
from tests.web.editor_helpers import csrf, logged_in


@pytest.fixture
def quiet_reader(standin, feed_server, client, monkeypatch):
    """One edition (SUNSET_EDITIONS=1) to four readers: one opened, one clicked, one bounced, and
    reader 2 was delivered it and did nothing."""
    monkeypatch.setenv("SUNSET_EDITIONS", "1")
    reset_caches()
    sent = SentEdition(standin, feed_server, readers=4)
    e = sent.event
    sent.post(client, [e(0, "delivered", 1, **delivered()), e(0, "open", 2, **opened()),
                       e(1, "delivered", 1, **delivered()), e(1, "click", 2, **clicked(sent.links[0])),
                       e(2, "delivered", 1, **delivered()), e(3, "bounce", 1, **bounced(hard=True))])
    return sent


def _paused() -> dict[str, bool]:
    with unit_of_work() as session:
        return dict(session.execute(select(Subscriber.email, Subscriber.paused)).all())


def test_the_view_lists_only_delivered_readers_who_did_nothing(quiet_reader, client):
    logged_in(client)
    html = client.get("/reports/sunset").text
    assert 'id="sunset-total">1<' in html and quiet_reader.emails[2] in html
    assert not any(quiet_reader.emails[i] in html for i in (0, 1, 3))


def test_only_a_publisher_with_the_pages_token_may_pause_them(quiet_reader, client):
    logged_in(client)
    token = csrf(client, "/reports/sunset")
    assert client.post("/reports/sunset/pause", data={"csrf_token": token}).status_code == 403
    logged_in(client, "publisher@example.org", "publisher")
    assert client.post("/reports/sunset/pause", data={"csrf_token": "forged"}).status_code == 400
    assert not any(_paused().values())


def test_a_pause_is_audited_and_the_reader_can_lift_it(quiet_reader, client):
    logged_in(client, "publisher@example.org", "publisher")
    answer = client.post("/reports/sunset/pause", data={"csrf_token": csrf(client, "/reports/sunset")},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/reports/sunset?paused=1", answer.text[-1500:]
    assert _paused() == {email: i == 2 for i, email in enumerate(quiet_reader.emails)}
    with unit_of_work() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "sunset_pause")).all()
    assert entry.details == {"by": "publisher@example.org", "editions": 1}
    # The reader unticks the pause on their own preferences page.
    preferences = path_of(quiet_reader.values[quiet_reader.emails[2]]["[%preferences_url%]"])
    assert client.post(preferences, data={"format": "html", "sections": ["Analytical Articles"]}).status_code == 200
    assert not _paused()[quiet_reader.emails[2]]


def test_too_few_editions_or_no_tracking_lists_nobody(quiet_reader, client, monkeypatch):
    logged_in(client, "publisher@example.org", "publisher")
    monkeypatch.setenv("SUNSET_EDITIONS", "2")
    reset_caches()
    assert "too soon" in client.get("/reports/sunset").text
    answer = client.post("/reports/sunset/pause", data={"csrf_token": csrf(client, "/reports/sunset")})
    assert answer.status_code == 400 and "needs 2" in answer.text
    monkeypatch.setenv("TRACK_OPENS", "false")
    monkeypatch.setenv("TRACK_CLICKS", "false")
    reset_caches()
    assert "are not tracked" in client.get("/reports/sunset").text
    assert not any(_paused().values())
