"""The browser tests' fixtures (tests/web, tests/reports): the app served by uvicorn on
127.0.0.1, and a page of Debian's Chromium driven by Playwright against it. Screenshots go to
test-artifacts/ for people to look at."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import uvicorn

from digest.web.app import app
from tests.conftest import REPO, reset_caches, wait_for
from tests.live_app import free_port
from tests.web.editor_helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def live_server(settings, monkeypatch):
    """The app on a real socket; the public address is this server, so every link works."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("PUBLIC_BASE_URL", base)
    reset_caches()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20, interval=0.05, what="uvicorn to start")
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(live_server):
    # No skip: a machine without Chromium fails this test (scripts/test installs it).
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)  # a machine busy with the whole suite
        page = context.new_page()
        # The pages' Content-Security-Policy must not block anything they need.
        refused = []
        page.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))
        yield page
        context.close()
        browser.close()
        assert refused == []


def log_in(page, email: str) -> None:
    page.goto("/dashboard")
    assert "/login" in page.url
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")
