"""The editors' web app in a real browser: Debian's Chromium driven by Playwright against the app
served by uvicorn on 127.0.0.1. Screenshots of the dashboard and the edition page are kept in
test-artifacts/ for people to look at."""

from __future__ import annotations

import datetime as dt
import email
import re
from email import policy

from sqlalchemy import func, select

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.backends import get_sender
from digest.delivery.plan import start_edition
from digest.delivery.send import send_batch
from digest.editions.schedule import tick
from digest.store.db import unit_of_work
from digest.store.models import Delivery, Edition
from tests import accessibility
from tests.browser import ARTIFACTS, log_in
from tests.conftest import reset_caches
from tests.factories import draft_edition, polled_feed, subscribers
from tests.web.editor_helpers import make_editor, run_slow_checks


def _log_out(page) -> None:
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")


def _test_messages() -> list[email.message.EmailMessage]:
    folder = get_settings().OUTBOX_DIR / "transactional"
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(folder.glob("test-*.eml"))]


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
  .map(e => e.outerHTML)"""


def _assert_labelled(page) -> None:
    """Every field has a label and every button a name: usable by keyboard and screen reader."""
    assert page.evaluate(UNLABELLED) == [], page.url


def _send_what_is_due(at: dt.datetime) -> None:
    """What beat and the workers do at `at`: start the due edition and send its batches."""
    with unit_of_work() as session:
        due = tick(session, at)
    for edition_id in due:
        with unit_of_work() as session:
            batches = start_edition(session, edition_id, now=at)
        for batch in batches:
            with unit_of_work() as session:
                send_batch(session, edition_id, batch, get_sender())


def test_an_edition_from_draft_to_archive_in_a_browser(page, feed_server):
    polled_feed(feed_server)
    subscribers("reader.one@example.org", "reader.two@example.org")
    edition_id = draft_edition()
    make_editor("editor@example.org", "editor")
    make_editor("publisher@example.org", "publisher")
    ARTIFACTS.mkdir(exist_ok=True)
    database = "sqlite" if get_settings().DATABASE_URL.startswith("sqlite") else "postgresql"

    # An editor logs in and opens the draft from the dashboard.
    log_in(page, "editor@example.org")
    page.screenshot(path=ARTIFACTS / f"dashboard-{database}.png", full_page=True)
    _assert_labelled(page)
    page.get_by_role("link", name=re.compile(r"^Central Asia-Caucasus Analyst, ")).click()
    page.wait_for_url(f"**/editions/{edition_id}")
    frame = page.locator("#preview-frame")
    _assert_labelled(page)
    assert "allow-scripts" not in frame.get_attribute("sandbox")
    assert frame.bounding_box()["width"] >= 600
    page.frame_locator("#preview-frame").get_by_role("link", name="Port Capacity Shapes the Middle Corridor", exact=True).wait_for()

    page.get_by_role("link", name="Mobile").click()
    assert page.locator("#preview-frame").bounding_box()["width"] == 375
    page.frame_locator("#preview-frame").get_by_role("link", name="Port Capacity Shapes the Middle Corridor", exact=True).wait_for()
    page.get_by_role("link", name="Plain text").click()
    assert "Port Capacity Shapes the Middle Corridor" in page.locator("#text-preview").inner_text()

    # Edit the subject; the intro's Markdown is previewed as it is typed.
    page.get_by_label("Subject", exact=True).fill("Ports, pipelines and a border reopened")
    page.get_by_role("textbox", name="Intro").fill("This fortnight, **three** questions.")
    page.locator("#intro-preview strong").get_by_text("three").wait_for()
    page.get_by_role("button", name="Save text").click()
    page.get_by_role("status").get_by_text("Saved.").wait_for()
    assert page.locator("h1").inner_text().startswith("Ports, pipelines and a border reopened")

    # Bad addresses are all named at once, beside the form, which keeps what was typed.
    page.get_by_label("Addresses").fill("desk@example.org, not-an-address, also wrong")
    page.get_by_role("button", name="Send the test").click()
    error = page.locator("#test").get_by_role("alert")
    assert "'not-an-address'" in error.inner_text() and "'also'" in error.inner_text(), error.inner_text()
    assert error.evaluate("e => e.getBoundingClientRect().top >= 0 && e.getBoundingClientRect().bottom <= innerHeight")
    assert page.get_by_label("Addresses").input_value() == "desk@example.org, not-an-address, also wrong"
    # A test arrives in the outbox, marked as such, and is no delivery; the page says so beside the form.
    page.get_by_label("Addresses").fill("desk@example.org, proofs@example.org")
    page.get_by_label("Addresses").press("Enter")  # by keyboard
    sent = page.locator("#test").get_by_role("status").get_by_text("Test sent")
    sent.wait_for()
    assert sent.evaluate("e => e.getBoundingClientRect().top >= 0 && e.getBoundingClientRect().bottom <= innerHeight")
    violations = accessibility.check(page, "edition after a test send (editor)")
    tests = _test_messages()
    assert sorted(m["To"] for m in tests) == ["desk@example.org", "proofs@example.org"]
    assert all(m["Subject"] == "[Test] Ports, pipelines and a border reopened" and m["X-Digest-Test"] == "true"
               for m in tests)
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0

    # An editor may not approve; a publisher does, and schedules it for another time.
    assert page.get_by_role("button", name="Approve this edition").is_disabled()
    _log_out(page)
    log_in(page, "publisher@example.org")
    run_slow_checks(edition_id)  # a worker's part (tests/checklist/test_checklist_worker.py)
    page.goto(f"/editions/{edition_id}")
    page.get_by_label(re.compile(r"^I have read the \d+ warnings? above")).check()
    page.get_by_role("button", name="Approve this edition").click()
    page.get_by_text("Approved by publisher@example.org").wait_for()
    send_at = (utcnow() + dt.timedelta(days=2)).astimezone(get_settings().tz).replace(second=0, microsecond=0)
    page.get_by_label("Another time:").check()
    page.get_by_label(f"Another send time, {get_settings().PUBLICATION_TZ}").fill(send_at.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Set the send time").click()
    page.get_by_role("status").get_by_text("Send time set.").wait_for()
    with unit_of_work() as session:
        assert session.get(Edition, edition_id).send_at == send_at.astimezone(dt.UTC)
    assert f"{send_at:%H:%M}" in page.locator("#send-at").inner_text()
    violations += accessibility.check(page, "approved edition with its send time")
    assert violations == [], accessibility.report(violations)
    # A viewport as tall as the page: Chromium paints the iframe whole (a stitched full-page
    # capture leaves part of it blank).
    page.set_viewport_size({"width": 1280, "height": page.evaluate("document.body.scrollHeight")})
    page.screenshot(path=ARTIFACTS / f"edition-{database}.png")

    for other in ("/subscribers", "/feeds"):
        page.goto(other)
        _assert_labelled(page)

    # Nothing goes before its time; at its time it goes to every reader and into the archive.
    _send_what_is_due(send_at.astimezone(dt.UTC) - dt.timedelta(minutes=1))
    page.goto("/archive")
    assert page.get_by_text("No edition has been published yet").is_visible()
    _send_what_is_due(send_at.astimezone(dt.UTC) + dt.timedelta(minutes=1))
    page.goto("/archive")
    page.get_by_role("link", name="Ports, pipelines and a border reopened").click()
    page.get_by_role("heading", level=1, name="Ports, pipelines and a border reopened").wait_for()
    page.frame_locator("#edition-email").get_by_role("link", name="Port Capacity Shapes the Middle Corridor", exact=True).wait_for()
    delivered = sorted(p.name for p in (get_settings().OUTBOX_DIR / f"edition-{edition_id}").glob("*.eml"))
    assert len(delivered) == 2


def _pump_until(page, held, what: str) -> None:
    """Let the browser run (its routed requests reach their handlers meanwhile) until `held()`."""
    for _ in range(100):
        if held():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_publisher_watches_a_send_and_pauses_resumes_and_cancels_it(page, feed_server, redis_client, monkeypatch):
    monkeypatch.setenv("SEND_BATCH_SIZE", "2")  # the first batch sends two readers of five
    reset_caches()
    polled_feed(feed_server)
    subscribers(*(f"reader{i}@example.org" for i in range(5)))
    edition_id = draft_edition()
    make_editor("publisher@example.org", "publisher")
    log_in(page, "publisher@example.org")
    run_slow_checks(edition_id)  # a worker's part (tests/checklist/test_checklist_worker.py)
    page.goto(f"/editions/{edition_id}")
    page.get_by_label(re.compile(r"^I have read the \d+ warnings? above")).check()
    page.get_by_role("button", name="Approve this edition").click()
    page.get_by_role("button", name="Send now instead").click()  # refused by the browser: not confirmed
    assert page.locator("#status").text_content() == "approved"
    page.get_by_label(re.compile(r"^Send to all 5 readers now")).check()
    page.get_by_role("button", name="Send now instead").click()
    page.get_by_role("status").get_by_text("Sending has started.").wait_for()
    redis_client.delete("editions")  # the start task the button queued: this test plays the worker
    page.locator("#starting").wait_for()  # approved and due: the page waits for the worker
    with unit_of_work() as session:
        batch, *_ = start_edition(session, edition_id)
    # The page shows the send once it has begun, by itself.
    page.locator("#progress-done").get_by_text("0", exact=True).wait_for()
    with unit_of_work() as session:
        assert send_batch(session, edition_id, batch, get_sender()) == 2
    # The page refreshes its figures by itself (progressive enhancement), without a reload.
    page.locator("#progress-done").get_by_text("2").wait_for()
    assert page.locator("#progress-rate").inner_text().endswith("a minute")
    # The counts by state move with the figures (never a stale line beside a fresh percentage).
    page.locator("#progress-counts").get_by_text(re.compile(r"pending: 3")).wait_for()
    violations = accessibility.check(page, "edition sending")

    # The page's poll answered while the Pause form is on its way, with the status it brings: the
    # page must not reload over the form's navigation (which lost the click on a loaded machine).
    polls, posts = [], []
    page.route("**/api/editions/*/progress", lambda route: polls.append(route))
    _pump_until(page, lambda: polls, "the page's next poll")
    page.route("**/pause", lambda route: posts.append(route))
    page.get_by_role("button", name="Pause").click(no_wait_after=True)
    _pump_until(page, lambda: posts, "the Pause form's request")
    answer = polls[0].fetch()
    polls.pop(0).fulfill(response=answer, json={**answer.json(), "status": "paused"})
    page.wait_for_timeout(500)  # the script's turn to act on that answer
    page.unroute("**/pause")
    posts[0].continue_()
    page.get_by_role("status").get_by_text("Sending paused").wait_for()
    page.unroute("**/api/editions/*/progress")
    for poll in polls:
        poll.continue_()
    violations += accessibility.check(page, "edition paused")
    page.get_by_role("button", name="Resume").click()
    page.get_by_role("status").get_by_text("Sending resumed").wait_for()
    page.get_by_role("button", name="Cancel the send").click()
    page.get_by_role("status").get_by_text("Sending cancelled").wait_for()
    assert page.locator("#status").text_content() == "cancelled"
    assert "cancelled: 3" in page.locator("#progress-counts").inner_text()
    violations += accessibility.check(page, "edition cancelled")
    assert violations == [], accessibility.report(violations)
    redis_client.delete("delivery")
