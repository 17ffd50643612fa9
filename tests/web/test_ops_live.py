"""The ops page in Debian's Chromium updates its figures in place (static/ops.js): a queue that
fills shows its new count and the warning it raises, read out by the page's live region, while a
half-typed purge confirmation and the keyboard's focus stay where they were and the page is never
reloaded; a hidden tab asks nothing. Screenshots of the page after an update in test-artifacts/."""

from __future__ import annotations

import json
import time

import pytest

from digest.ops.queues import PUBLISHED_AT
from tests import accessibility
from tests.browser import ARTIFACTS, log_in
from tests.conftest import reset_caches
from tests.web.editor_helpers import make_editor

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
REFRESH_SECONDS = 2  # the least the setting takes
FOCUSED = "() => document.activeElement && document.activeElement.getAttribute('aria-label')"
PURGE_EDITIONS = "Type editions to confirm its purge"


def _ops_requests(page) -> list[str]:
    asked: list[str] = []
    page.on("request", lambda request: request.url.endswith("/ops") and asked.append(request.url))
    return asked


def test_the_ops_page_updates_in_place_keeping_typed_input_and_focus(page, monkeypatch, redis_client):
    monkeypatch.setenv("OPS_PAGE_REFRESH_SECONDS", str(REFRESH_SECONDS))
    monkeypatch.setenv("OPS_QUEUE_WAITING_MAX", "1")
    reset_caches()
    make_editor("publisher@example.org", "publisher")
    log_in(page, "publisher@example.org")
    page.goto("/ops")
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    assert page.locator("#waiting-editions").inner_text() == "0"
    assert page.locator("#warnings").get_attribute("aria-live") == "polite"
    warning = page.locator("#warnings [data-check=queue_waiting]", has_text="waiting on editions")
    assert warning.count() == 0
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page were reloaded

    confirm = page.get_by_label(PURGE_EDITIONS)
    confirm.click()
    confirm.press_sequentially("edit")
    message = json.dumps({"headers": {PUBLISHED_AT: time.time()}, "body": ""})
    redis_client.lpush("editions", message, message, message)

    page.locator("#waiting-editions").get_by_text("3", exact=True).wait_for()
    warning.wait_for()
    assert "3 messages waiting on editions (above 1)" in warning.inner_text()
    assert page.evaluate("() => window.sameDocument") is True
    assert confirm.input_value() == "edit"
    assert page.evaluate(FOCUSED) == PURGE_EDITIONS
    confirm.press_sequentially("ions")  # typing goes on where it was
    assert confirm.input_value() == "editions"

    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=ARTIFACTS / f"ops-after-update-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    found = accessibility.check(page, "ops after an update")
    assert found == [], accessibility.report(found)
    redis_client.delete("editions")


def test_a_hidden_ops_page_stops_asking_and_catches_up_when_shown(page, monkeypatch, redis_client):
    monkeypatch.setenv("OPS_PAGE_REFRESH_SECONDS", str(REFRESH_SECONDS))
    reset_caches()
    make_editor("editor@example.org", "editor")
    log_in(page, "editor@example.org")
    page.goto("/ops")
    asked = _ops_requests(page)
    page.locator("#as-of").wait_for()
    # The tab goes to the background (what a browser reports when another tab is in front).
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    redis_client.lpush("editions", json.dumps({"headers": {}, "body": ""}))
    before = len(asked)
    page.wait_for_timeout(3 * REFRESH_SECONDS * 1000)  # three of its periods
    assert len(asked) == before, "a hidden tab kept asking for the page"
    assert page.locator("#waiting-editions").inner_text() == "0"

    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    page.locator("#waiting-editions").get_by_text("1", exact=True).wait_for()
    redis_client.delete("editions")
