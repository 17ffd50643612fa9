"""The preference page with follows and a pause, in a real browser at 1280 and 375 px: it fits a
phone (a long topic name wraps), every field is labelled, and a reader pauses for two weeks and
resumes through the page's own link and button. Screenshots in test-artifacts/pages/."""

from __future__ import annotations

import datetime as dt

import pytest

from digest.clock import utcnow
from digest.config import get_settings
from digest.store.db import unit_of_work
from digest.store.models import TopicKind
from digest.subscribers.follows import follow, pause
from digest.subscribers.preferences import get_subscriber
from digest.subscribers.tokens import PREFERENCES, make_token
from tests import accessibility
from tests.browser import ARTIFACTS
from tests.factories import subscribers
from tests.subscribers.test_follows import topics
from tests.web.test_browser import _assert_labelled

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


def _shoot(page, name: str) -> dict[int, int]:
    """Screenshots at each width; how far the page overflows each. Fails on what axe finds in
    either colour scheme at either width."""
    found = accessibility.check(page, name)
    assert found == [], accessibility.report(found)
    folder = ARTIFACTS / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    overflow = {}
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=folder / f"{name}-{width}.png", full_page=True)
        overflow[width] = page.evaluate(OVERFLOW)
    page.set_viewport_size({"width": 1280, "height": 900})
    return overflow


def test_a_reader_sees_follows_pauses_and_resumes_on_a_phone(page):
    [reader] = subscribers("reader@example.org")
    ids = topics((TopicKind.TAG, "Kyrgyz Republic"), (TopicKind.AUTHOR, "S. Frederick Starr"),
                 (TopicKind.TAG, "<b>Caspian</b> {{ energy }} " + "Transcaspianpipelinecorridor" * 6))
    with unit_of_work() as session:
        for topic_id, pace in zip(ids, ("alert", "digest", "digest")):
            follow(session, reader, topic_id, pace, source="test")
        pause(session, reader, utcnow() + dt.timedelta(days=20), source="test")
    url = f"/p/{make_token(PREFERENCES, reader)}"
    day = (utcnow() + dt.timedelta(days=20)).astimezone(get_settings().tz).date()

    page.goto(url)
    assert page.locator("#paused-notice").inner_text().startswith(f"Paused until {day.day} {day:%B %Y}")
    assert "<b>Caspian</b> {{ energy }}" in page.locator("ul.follows").inner_text()
    _assert_labelled(page)
    assert _shoot(page, "preferences-follows-paused") == {1280: 0, 375: 0}

    page.get_by_role("link", name="Resume now").click()
    page.wait_for_url(f"**{url}/resume")
    assert _shoot(page, "preferences-resume") == {1280: 0, 375: 0}
    page.get_by_role("button", name="Resume the digest").click()
    page.get_by_role("status").get_by_text("Resumed").wait_for()
    assert page.locator("#paused-notice").count() == 0

    page.goto(f"{url}/follow/{ids[2]}")  # a "Follow <topic>" link, its name long and unbroken
    _assert_labelled(page)
    assert _shoot(page, "follow-topic") == {1280: 0, 375: 0}
    page.get_by_label("An email soon after each new article").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("status").get_by_text("an email soon after each new article").wait_for()

    page.set_viewport_size({"width": 375, "height": 900})
    page.get_by_role("button", name="2 weeks").click()
    page.locator("#paused-notice").wait_for()
    assert _shoot(page, "preferences-follows-two-weeks") == {1280: 0, 375: 0}
    with unit_of_work() as session:
        subscriber = get_subscriber(session, reader)
        assert abs(subscriber.paused_until - (utcnow() + dt.timedelta(weeks=2))) < dt.timedelta(minutes=1)
