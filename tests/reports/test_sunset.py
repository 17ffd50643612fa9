"""The sunset view: readers delivered the last N editions whom no person was seen opening or
clicking, and the publisher's audited action that pauses them, which each reader can undo on their
preferences page. Readers only machines opened for ("unknown") are counted apart and paused only
by a choice of their own, on the page and in `digest subscribers sunset`."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Subscriber
from digest.web.app import app
from tests import accessibility
from tests.browser import ARTIFACTS, log_in
from tests.cli import digest
from tests.reports.test_report_browser import WIDER_THAN_SCREEN
from tests.conftest import reset_caches
from tests.reports.conftest import path_of
from tests.reports.events import SentEdition, bounced, clicked, delivered, opened
from tests.web.answered import AnswerWatch
from tests.web.editor_helpers import csrf, logged_in, make_editor


@pytest.fixture
def quiet_reader(standin, feed_server, client, monkeypatch):
    """One edition (SUNSET_EDITIONS=1) to five readers: one opened, one clicked, one bounced,
    reader 2 was delivered it and did nothing, and reader 4's only open is Apple Mail's prefetch
    (`sg_machine_open`): unknown."""
    monkeypatch.setenv("SUNSET_EDITIONS", "1")
    reset_caches()
    sent = SentEdition(standin, feed_server, readers=5)
    e = sent.event
    sent.post(client, [e(0, "delivered", 1, **delivered()), e(0, "open", 2, **opened()),
                       e(1, "delivered", 1, **delivered()), e(1, "click", 2, **clicked(sent.links[0])),
                       e(2, "delivered", 1, **delivered()), e(3, "bounce", 1, **bounced(hard=True)),
                       e(4, "delivered", 1, **delivered()), e(4, "open", 1.1, **opened(machine=True))])
    return sent


def _paused() -> dict[str, bool]:
    with unit_of_work() as session:
        return dict(session.execute(select(Subscriber.email, Subscriber.paused)).all())


def test_the_view_lists_delivered_readers_no_person_opened_for_machine_only_apart(quiet_reader, client):
    logged_in(client)
    html = client.get("/reports/sunset").text
    assert 'id="sunset-inactive">1<' in html and 'id="sunset-machine-only">1<' in html
    assert quiet_reader.emails[2] in html and quiet_reader.emails[4] in html and "unknown: machines only" in html
    assert not any(quiet_reader.emails[i] in html for i in (0, 1, 3))
    assert "Pause the 1 inactive" in html and "Pause the 1 unknown" in html


def test_only_a_publisher_with_the_pages_token_may_pause_them(quiet_reader, client):
    logged_in(client)
    token = csrf(client, "/reports/sunset")
    assert client.post("/reports/sunset/pause", data={"csrf_token": token}).status_code == 403
    logged_in(client, "publisher@example.org", "publisher")
    assert client.post("/reports/sunset/pause", data={"csrf_token": "forged"}).status_code == 400
    assert not any(_paused().values())


def test_a_pause_takes_the_inactive_and_never_those_only_machines_opened_for(quiet_reader, client):
    """The page's "Pause" button pauses reader 2 only; the unknown reader 4 is paused only by the
    button of their own, and a form naming anyone else is refused, nothing paused."""
    logged_in(client, "publisher@example.org", "publisher")
    token = csrf(client, "/reports/sunset")
    refused = client.post("/reports/sunset/pause", data={"csrf_token": token, "readers": "everyone"})
    assert refused.status_code == 400 and "readers &#39;everyone&#39; must be" in refused.text.lower()
    assert not any(_paused().values())
    answer = client.post("/reports/sunset/pause", data={"csrf_token": token, "readers": "none"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/reports/sunset?paused=1", answer.text[-1500:]
    assert _paused() == {email: i == 2 for i, email in enumerate(quiet_reader.emails)}
    html = client.get("/reports/sunset").text
    assert 'id="sunset-inactive">0<' in html and 'id="sunset-machine-only">1<' in html and "Pause the 1 unknown" in html
    answer = client.post("/reports/sunset/pause", data={"csrf_token": token, "readers": "unknown"},
                         follow_redirects=False)
    assert answer.headers["location"] == "/reports/sunset?paused=1"
    assert _paused() == {email: i in (2, 4) for i, email in enumerate(quiet_reader.emails)}
    with unit_of_work() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "sunset_pause")
                                  .order_by(AuditEntry.id)).all()
    assert [(entry.subscriber_id, entry.details) for entry in entries] == [
        (quiet_reader.subscriber_ids[2], {"by": "publisher@example.org", "editions": 1, "activity": "none"}),
        (quiet_reader.subscriber_ids[4], {"by": "publisher@example.org", "editions": 1, "activity": "unknown"})]


def test_the_pause_is_stored_before_its_answer_goes_out(quiet_reader):
    """The browser follows the redirect at once: the page it reads must count the pause."""
    watch = AnswerWatch(app)
    try:
        with TestClient(watch, base_url="https://testserver") as client:
            logged_in(client, "publisher@example.org", "publisher")
            answer = client.post("/reports/sunset/pause", data={"csrf_token": csrf(client, "/reports/sunset")},
                                 follow_redirects=False)
    finally:
        watch.close()
    assert answer.status_code == 303
    assert watch.late == []
    assert _paused()[quiet_reader.emails[2]]


def test_a_pause_is_audited_and_the_reader_can_lift_it(quiet_reader, client):
    logged_in(client, "publisher@example.org", "publisher")
    answer = client.post("/reports/sunset/pause", data={"csrf_token": csrf(client, "/reports/sunset")},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/reports/sunset?paused=1", answer.text[-1500:]
    assert _paused() == {email: i == 2 for i, email in enumerate(quiet_reader.emails)}
    with unit_of_work() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "sunset_pause")).all()
    assert entry.details == {"by": "publisher@example.org", "editions": 1, "activity": "none"}
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
    monkeypatch.setenv("SUNSET_EDITIONS", "1")
    monkeypatch.setenv("TRACK_OPENS", "false")
    monkeypatch.setenv("TRACK_CLICKS", "false")
    reset_caches()
    assert "are not tracked" in client.get("/reports/sunset").text
    answer = client.post("/reports/sunset/pause", data={"csrf_token": csrf(client, "/reports/sunset")})
    assert answer.status_code == 400 and "not tracked" in answer.text
    ran = digest("subscribers", "sunset", "--pause")
    assert ran.returncode != 0 and "not tracked" in ran.stderr
    assert not any(_paused().values())


def test_the_command_lists_and_pauses_as_the_page_does(quiet_reader):
    emails = quiet_reader.emails
    listed = digest("subscribers", "sunset", "--json")
    assert listed.returncode == 0, listed.stderr
    view = json.loads(listed.stdout)
    assert (view["inactive"], view["unknown"], view["paused"]) == (1, 1, {})
    assert [(r["email"], r["activity"]) for r in view["readers"]] == [(emails[2], "none"), (emails[4], "unknown")]
    ran = digest("subscribers", "sunset", "--pause")
    assert ran.returncode == 0, ran.stderr
    assert "paused 1 inactive readers" in ran.stdout and "0 inactive" in ran.stdout and "1 unknown" in ran.stdout
    assert _paused() == {email: i == 2 for i, email in enumerate(emails)}
    ran = digest("subscribers", "sunset", "--pause-unknown")
    assert "paused 1 unknown readers" in ran.stdout
    assert _paused() == {email: i in (2, 4) for i, email in enumerate(emails)}
    with unit_of_work() as session:
        sources = session.scalars(select(AuditEntry.source).where(AuditEntry.action == "sunset_pause")).all()
    assert sources == ["cli", "cli"]


def test_a_publisher_pauses_from_the_page_in_a_browser(quiet_reader, page):
    """The real page in Chromium at a phone's width: both counts and both buttons on screen, the
    explanation above them; "Pause the 1 inactive" pauses reader 2 alone, and the unknown reader
    stays listed with a button of their own. Axe finds nothing; the screenshot is kept."""
    make_editor("publisher@example.org", "publisher")
    log_in(page, "publisher@example.org")
    page.set_viewport_size({"width": 375, "height": 900})
    page.goto("/reports/sunset")
    assert page.locator("#sunset-inactive").inner_text() == "1" and page.locator("#sunset-machine-only").inner_text() == "1"
    assert "Apple Mail" in page.locator("main").inner_text()
    assert page.evaluate(WIDER_THAN_SCREEN, "main *") == []
    found = accessibility.check(page, "sunset")
    assert found == [], accessibility.report(found)
    page.set_viewport_size({"width": 375, "height": 900})
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "sunset-375.png", full_page=True)
    page.get_by_role("button", name="Pause the 1 inactive").click()
    page.wait_for_url("**/reports/sunset?paused=1")
    assert page.get_by_role("status").inner_text() == "1 reader paused."
    assert page.locator("#sunset-inactive").inner_text() == "0"
    assert page.get_by_role("button", name="Pause the 1 unknown").is_visible()
    assert _paused() == {email: i == 2 for i, email in enumerate(quiet_reader.emails)}
