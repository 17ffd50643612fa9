"""The edition page's slow checks (links, spam score) run in a real Celery worker process: the
page answers at once with them pending, even while a link's server holds the worker's request,
and shows their results once the worker has kept them (in Chromium, without a reload)."""

from __future__ import annotations

import os
import threading

import pytest
from fastapi.testclient import TestClient

from digest.web.app import app
from tests.browser import ARTIFACTS, log_in
from tests.checklist.conftest import edition_linking_to
from tests.conftest import Worker, wait_for
from tests.servers import Route
from tests.web.editor_helpers import logged_in, make_editor

# The worker proves the same on either database; its start is the slow part.
pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def page_worker(settings, service_env, redis_client, tmp_path):
    """A worker with the web's settings as they are now (a live server's public address): the
    edition it renders must hash as the page's does, or its results would be kept for another content."""
    redis_client.flushdb()  # this test process's own database: no message of an earlier test runs
    worker = Worker(dict(service_env, PUBLIC_BASE_URL=os.environ["PUBLIC_BASE_URL"]), tmp_path / "worker.log").start()
    yield worker
    worker.stop()


class HeldLink:
    """A route of the feed server that holds each request until released, then answers 404."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.holding = 0
        self._lock = threading.Lock()

    def __call__(self, handler) -> Route:
        with self._lock:
            self.holding += 1
        try:
            self.release.wait(timeout=120)
        finally:
            with self._lock:
                self.holding -= 1
        return Route(404, b"gone")


@pytest.fixture
def held_link():
    held = HeldLink()
    yield held
    held.release.set()


def test_the_page_answers_while_a_link_hangs_and_then_shows_what_the_worker_found(settings, page_worker, feed_server,
                                                                                held_link):
    edition_id = edition_linking_to(feed_server, "/item/ok", "/item/held")
    feed_server.routes["/item/held"] = held_link
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        publisher = logged_in(client, "publisher@example.org", "publisher")
        first = publisher.get(f"/editions/{edition_id}")
        assert first.status_code == 200 and "Checking links and spam score…" in first.text
        wait_for(lambda: held_link.holding, timeout=30, what="the worker to reach the held link")

        # The page answers while the link's server still holds the worker's request.
        again = publisher.get(f"/editions/{edition_id}")
        assert held_link.holding == 1
        assert again.status_code == 200 and "Checking links and spam score…" in again.text
        assert publisher.get(f"/api/editions/{edition_id}/checklist").json()["ready"] is False

        held_link.release.set()
        wait_for(lambda: publisher.get(f"/api/editions/{edition_id}/checklist").json()["ready"], timeout=60,
                 what="the worker's results")
        done = publisher.get(f"/editions/{edition_id}").text
        assert "Checking links and spam score…" not in done
        assert "HTTP 404 · “Corridor report 1”" in done and 'id="check-spam"' in done
        assert f'action="/editions/{edition_id}/approve"' in done


def test_the_browser_shows_checking_then_the_results_without_a_reload(page, page_worker, feed_server, held_link):
    edition_id = edition_linking_to(feed_server, "/item/ok", "/item/held")
    feed_server.routes["/item/held"] = held_link
    make_editor("publisher@example.org", "publisher")
    ARTIFACTS.mkdir(exist_ok=True)
    log_in(page, "publisher@example.org")

    page.goto(f"/editions/{edition_id}#checklist")
    checklist = page.locator("#checklist")
    assert checklist.get_by_text("Checking links and spam score…").is_visible()
    assert checklist.get_by_role("button", name="Approve this edition").is_disabled()
    checklist.screenshot(path=ARTIFACTS / "checklist-checking-1280.png")
    page.evaluate("window.notReloaded = true")

    held_link.release.set()
    page.locator("#checklist").get_by_text("HTTP 404 · “Corridor report 1”").wait_for(timeout=60_000)
    assert page.locator("#checklist-checking").count() == 0
    assert page.evaluate("window.notReloaded") is True  # the section was swapped in, the page kept
    assert page.get_by_label("I have read the 1 warning above and approve this edition anyway.").is_visible()
    page.locator("#checklist").screenshot(path=ARTIFACTS / "checklist-checked-1280.png")
