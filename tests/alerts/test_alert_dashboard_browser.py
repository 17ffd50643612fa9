"""The dashboard with a held alert and its page, in a real browser at 1280 and 375 px: the held
alert shows the local time its hold ends and the minutes left, links to its page, and the most
followed topics are listed; nothing is wider than a phone. Screenshots in test-artifacts/pages/."""

from __future__ import annotations

import pytest

from tests.alerts.test_alert_editing import held_alert_on_two_topics
from tests.browser import log_in
from tests.web.editor_helpers import make_editor
from tests.web.test_preferences_browser import _shoot

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_an_editor_sees_the_held_alert_its_countdown_and_opens_it(page):
    alert_id, _, _ = held_alert_on_two_topics()
    make_editor("publisher@example.org", "publisher")
    log_in(page, "publisher@example.org")
    held = page.locator("#held-alerts + table")
    assert "minutes" in held.inner_text()
    assert page.locator("#topics-followed + table tbody tr").first.inner_text().startswith("Georgia")
    assert _shoot(page, "dashboard-held-alert") == {1280: 0, 375: 0}

    held.get_by_role("link").first.click()
    page.wait_for_url(f"**/editions/{alert_id}")
    assert "Held until" in page.locator("main").inner_text()
    assert _shoot(page, "alert-held") == {1280: 0, 375: 0}


def test_a_reader_stops_an_alerts_topics_on_a_phone(page):
    from sqlalchemy import select

    from digest.store.db import unit_of_work
    from digest.store.models import Subscriber
    from digest.subscribers.tokens import alert_unfollow_tokens

    alert_id, _, _ = held_alert_on_two_topics()
    with unit_of_work() as session:
        reader = session.scalar(select(Subscriber.id).where(Subscriber.email == "ge@example.org"))
    page.goto(f"/unfollow/{alert_unfollow_tokens(alert_id, [reader])[0]}")
    assert "stop the alerts on Georgia" in page.locator("main").inner_text()
    assert _shoot(page, "stop-alerts") == {1280: 0, 375: 0}
    page.get_by_role("button", name="Stop these alerts").click()
    page.wait_for_load_state()
    assert "You will no longer get alerts on Georgia" in page.locator("main").inner_text()
    assert _shoot(page, "stop-alerts-done") == {1280: 0, 375: 0}
