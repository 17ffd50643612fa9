"""Every editor and public page in Debian's Chromium, as an editor and a reader meet them after a
send: a screenshot of each at 1280 and 375 px in test-artifacts/pages/ for people to judge, no page
wider than a 375 px phone, no console error (a missing favicon is one), and a dashboard that names
the period after the edition just sent.

One browser and one seeded service for the module: the pages only read, except the few forms a
reader submits (sign-up, confirm, unsubscribe), which go last. Presentation does not depend on the
database, so the module runs on SQLite only."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.backends import get_sender
from digest.delivery.plan import release_edition, start_edition
from digest.delivery.send import send_batch
from digest.editions.approve import approve_edition
from digest.editions.cadence import Cadence
from digest.ops.queues import queue_keys
from digest.store.db import unit_of_work
from digest.store.models import Article, Edition, EditionStatus, Follow, Subscriber, Topic, TopicKind
from digest.subscribers.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, make_token
from digest.web.app import app
from tests.conftest import REPO, _empty_tables, reset_caches
from tests.factories import draft_edition, polled_feed, stored_articles, subscribers
from tests.servers import FeedServer
from tests.web.editor_helpers import PASSWORD, make_editor
from tests import accessibility, html_validate
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.live_app import free_port

ARTIFACTS = REPO / "test-artifacts" / "pages"
WIDTHS = (1280, 375)
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
# Tables whose columns do not all fit the screen: the ones past the edge are out of view (a table
# scrolling inside its box hides them as surely as a page cut at the edge).
CUT_TABLES = """() => [...document.querySelectorAll('main table')]
  .filter(t => t.offsetParent !== null && !t.closest('details:not([open])'))
  .filter(t => t.scrollWidth > t.clientWidth + 1 || t.getBoundingClientRect().right > window.innerWidth + 1
               || [...t.querySelectorAll('th')].some(h => h.offsetParent !== null && h.getBoundingClientRect().right > window.innerWidth + 1))
  .map(t => t.id || (t.querySelector('th') || {}).textContent || t.className)"""
# A chart's words in another colour than the page's text (charts take theirs from the page).
CHART_INK = """() => [...document.querySelectorAll('svg.chart text')].map(t => getComputedStyle(t).fill)
  .filter(fill => fill !== getComputedStyle(document.body).color)"""
# From the email field's label to the field: the same on every form.
LABEL_GAP = """() => document.querySelector('#email').getBoundingClientRect().top
  - document.querySelector('label[for=email]').getBoundingClientRect().bottom"""

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def service(service_env):
    """The app on a real socket over a database seeded once: a sent edition, readers, editors."""
    with pytest.MonkeyPatch.context() as patch, FeedServer() as feeds:
        for name, value in service_env.items():
            patch.setenv(name, value)
        _empty_tables(service_env["DATABASE_URL"])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        patch.setenv("PUBLIC_BASE_URL", base)
        reset_caches()
        seeded = _seed(feeds)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            threading.Event().wait(0.05)
        yield base, seeded
        server.should_exit = True
        thread.join(timeout=10)
        reset_caches()


def _seed(feeds: FeedServer) -> dict:
    """The state right after an edition went out ahead of its period's send time ("Send now")."""
    polled_feed(feeds)
    with unit_of_work() as session:  # a byline with an issue, a place and an affiliation to show
        first = session.scalars(select(Article).order_by(Article.id)).first()
        first.issue_date = first.published_at.date() - dt.timedelta(days=3)
        first.structure = dict(first.structure or {}, place="Tbilisi", affiliation="researcher, Institute for Regional Studies")
    reader_ids = subscribers("reader.one@example.org", "reader.two@example.org", "reader.three@example.org")
    subscribers("pending.reader@example.org", confirmed=False)
    make_editor("publisher@example.org", "publisher")
    sent_id = draft_edition()
    with unit_of_work() as session:
        approve_edition(session, sent_id, "publisher@example.org")
        release_edition(session, sent_id)
    with unit_of_work() as session:
        batches = start_edition(session, sent_id)
    for batch in batches:
        with unit_of_work() as session:
            send_batch(session, sent_id, batch, get_sender())
    with unit_of_work() as session:
        sent = session.get(Edition, sent_id)
        assert sent.status == EditionStatus.SENT
        sent_period = sent.period
        pending = session.scalar(select(Subscriber.id).where(Subscriber.email == "pending.reader@example.org"))
    # Articles published after the send: what the next edition is composed from.
    stored_articles(*(utcnow() - dt.timedelta(minutes=minutes) for minutes in (1, 2, 3)))
    with unit_of_work() as session:  # a reader follows the section the feed's articles name
        topic = session.scalar(select(Topic.id).where(Topic.kind == TopicKind.SECTION))
        session.add(Follow(subscriber_id=reader_ids[0], topic_id=topic))
    return {"sent": sent_id, "sent_period": sent_period, "reader": reader_ids[0], "pending": pending, "topic": topic}


@pytest.fixture(scope="module")
def browser(service):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Visitor:
    """One browser context (an editor logged in, or a reader), recording what its console said."""

    def __init__(self, browser, base: str):
        self.context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(30_000)  # a machine busy with the whole suite
        self.page = self.context.new_page()
        self.problems: list[str] = []
        # A page answering 401 or 404 is what some tests ask for; what it loads (a favicon, a
        # script, a style) must load, and no script may fail.
        self.page.on("response", lambda r: r.status >= 400 and r.request.resource_type != "document"
                     and self.problems.append(f"{self.page.url}: {r.status} for {r.url}"))
        self.page.on("pageerror", lambda error: self.problems.append(f"{self.page.url}: {error}"))
        self.overflows: dict[str, int] = {}
        self.cut_tables: dict[str, list[str]] = {}
        self.violations: list[str] = []
        # The HTML each page state was served as (its last document answer), for html-validate.
        self.answers: list = []
        self.page.on("response", lambda r: r.request.resource_type == "document"
                     and r.frame == self.page.main_frame and self.answers.append(r))
        self.served: dict[str, str] = {}

    def shoot(self, name: str, path: str | None = None, dark: bool = False, email: bool = False) -> None:
        """Screenshots of the page (opened at `path`, or as it is) at each width, in the dark
        colour scheme too if `dark`; records how far it overflows a phone's width and what axe
        finds in either scheme at either width (not in an `email`'s own document: the emails'
        checks are theirs)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            if path is not None:
                self.page.goto(path)
            self.page.screenshot(path=ARTIFACTS / f"{name}-{width}.png", full_page=True)
            if dark:
                self.page.emulate_media(color_scheme="dark")
                self.page.screenshot(path=ARTIFACTS / f"{name}-dark-{width}.png", full_page=True)
                self.page.emulate_media(color_scheme="light")
            if width == 375:
                self.overflows[name] = self.page.evaluate(OVERFLOW)
                self.cut_tables[name] = self.page.evaluate(CUT_TABLES)
        self.page.set_viewport_size({"width": 1280, "height": 900})
        if not email:
            self.violations += accessibility.check(self.page, name)
            self.served[name] = self.answers[-1].text()

    def log_in(self, email: str) -> None:
        self.page.goto("/login")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url("**/dashboard")


@pytest.fixture(scope="module")
def editor(browser, service):
    visitor = Visitor(browser, service[0])
    visitor.log_in("publisher@example.org")
    yield visitor
    visitor.context.close()


@pytest.fixture(scope="module")
def reader(browser, service):
    visitor = Visitor(browser, service[0])
    yield visitor
    visitor.context.close()


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _assert_fits(visitor: Visitor) -> None:
    wide = {name: extra for name, extra in visitor.overflows.items() if extra > 0}
    assert wide == {}, f"pages wider than 375 px (by how many px): {wide}"
    cut = {name: tables for name, tables in visitor.cut_tables.items() if tables}
    visitor.cut_tables = {}
    assert cut == {}, f"tables with columns out of view at 375 px (by their first header): {cut}"
    assert visitor.problems == []
    found, visitor.violations = visitor.violations, []
    assert found == [], accessibility.report(found)
    served, visitor.served = visitor.served, {}
    invalid = html_validate.problems(served)
    assert invalid == [], f"{len(invalid)} html-validate findings:\n" + "\n".join(invalid)


def test_the_dashboard_after_a_send_names_the_next_period_and_composes_it(editor, service):
    _, seeded = service
    page = editor.page
    page.goto("/dashboard")
    editor.shoot("dashboard-after-send")
    upcoming = Cadence.from_settings(get_settings()).upcoming(utcnow(), 3)
    following = next(p for p in upcoming if p.date > seeded["sent_period"])
    card = page.locator("#next-period-times").inner_text()
    assert long_date(following.date) in card, card
    assert long_date(seeded["sent_period"]) not in card, card
    assert page.locator("#skipped").count() == 0
    assert long_date(seeded["sent_period"]) in page.locator("#last-sent").inner_text()

    page.get_by_role("button", name="Compose the next edition now").click()
    page.wait_for_url(re.compile(r"/editions/\d+$"))
    draft_id = int(page.url.rsplit("/", 1)[1])
    assert draft_id != seeded["sent"]
    with unit_of_work() as session:
        draft = session.get(Edition, draft_id)
        assert (draft.status, draft.period) == (EditionStatus.DRAFT, following.date)
    seeded["draft"] = draft_id
    page.goto("/dashboard")
    editor.shoot("dashboard-with-draft", dark=True)
    _assert_fits(editor)


def test_every_editor_page_fits_a_phone(editor, service):
    _, seeded = service
    draft, sent = seeded.get("draft"), seeded["sent"]
    assert draft, "the dashboard test composes the draft"
    pages = {
        "edition-draft": f"/editions/{draft}",
        "edition-draft-mobile": f"/editions/{draft}?view=mobile",
        "edition-draft-text": f"/editions/{draft}?view=text",
        "edition-sent": f"/editions/{sent}",
        "preview": f"/editions/{draft}/preview",
        "report": f"/editions/{sent}/report",
        "reports": "/reports",
        "sunset": "/reports/sunset",
        "subscribers": "/subscribers",
        "subscriber": f"/subscribers/{seeded['reader']}",
        "feeds": "/feeds",
        "topics": "/topics",
        "topic": f"/topics/{seeded['topic']}",
        "ops": "/ops",
        "editors": "/editors",
    }
    for name, path in pages.items():
        editor.shoot(name, path, dark=name in ("edition-draft", "report", "ops"), email=name == "preview")
    _assert_fits(editor)
    for scheme in ("light", "dark"):
        editor.page.emulate_media(color_scheme=scheme)
        for path in (pages["report"], pages["reports"]):
            editor.page.goto(path)
            assert editor.page.locator("svg.chart text").count() > 0, path
            assert editor.page.evaluate(CHART_INK) == [], f"{path} ({scheme}): chart text not in the page's colour"
    editor.page.emulate_media(color_scheme="light")


def test_the_sent_edition_page_offers_nothing_that_no_longer_applies(editor, service):
    page = editor.page
    page.goto(f"/editions/{service[1]['sent']}")
    assert page.locator("#approve-heading").count() == 0
    links = page.locator("#links")
    assert links.evaluate("e => e.scrollHeight <= e.clientHeight"), "the links list cuts its end"
    show = page.get_by_role("button", name="Show").bounding_box()
    variant = page.get_by_label("Variant (what a reader receives)").bounding_box()
    assert abs(show["height"] - variant["height"]) <= 2


def test_the_ops_page_shows_local_times_and_only_the_actions_that_apply(editor, service):
    page = editor.page
    page.goto("/ops")
    text = page.locator("main").inner_text()
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", text), "raw ISO timestamps"
    assert "no/s" not in text and "last answer none" not in text
    sent = page.locator(f"[data-edition='{service[1]['sent']}']")
    assert sent.get_by_role("button").count() == 0
    purges = page.locator("form[action$='/purge'] button")
    assert purges.count() == 4
    assert all("danger" in (b.get_attribute("class") or "") for b in purges.all())


def test_every_public_page_fits_a_phone(reader, service, redis_client):
    _, seeded = service
    page = reader.page
    reader.shoot("login", "/login")
    login_gap = page.evaluate(LABEL_GAP)
    page.get_by_label("Email").fill("publisher@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    error = page.get_by_role("alert").inner_text()
    assert error.startswith("Wrong email or password.") and error.endswith("."), error
    reader.shoot("login-error")
    for name, path in {"archive": "/archive", "archived-edition": f"/archive/{seeded['sent']}",
                       "not-found": "/no-such-page", "subscribe": "/subscribe",
                       "preferences-help": "/preferences", "unsubscribe-help": "/unsubscribe",
                       "preferences": f"/p/{make_token(PREFERENCES, seeded['reader'])}",
                       "unsubscribe": f"/u/{make_token(UNSUBSCRIBE, seeded['reader'])}",
                       "follow-public": f"/follow/{seeded['topic']}",
                       "confirm": f"/confirm/{make_token(CONFIRM, seeded['pending'])}"}.items():
        reader.shoot(name, path, dark=name in ("subscribe", "archived-edition", "preferences"))
    page.goto(f"/archive/{seeded['sent']}")
    line = page.frame_locator("#edition-email").locator(".article-meta", has_text="Tbilisi").inner_text()
    assert re.fullmatch(r"\S.* \(researcher, Institute for Regional Studies\)[\xa0 ]· Tbilisi[\xa0 ]· \d{1,2} \w+ \d{4} issue",
                        line), line
    page.goto("/subscribe")
    assert abs(page.evaluate(LABEL_GAP) - login_gap) <= 1, "the login form's spacing differs from the others'"
    page.goto("/no-such-page")
    assert re.match(r"[A-Z]", page.locator("main p").first.inner_text())

    # The forms a reader submits, last: they change what the pages above show.
    page.goto("/subscribe")
    page.get_by_label("Email address").fill("someone@example")  # the browser lets it through; the validator does not
    page.get_by_role("button", name="Subscribe").click()
    error = page.get_by_role("alert").inner_text()
    assert "@-sign" not in error and "period" not in error and "someone@example" in error, error
    reader.shoot("subscribe-error")
    page.get_by_label("Email address").fill("new.reader@example.org")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    for key in queue_keys("editions"):  # the confirmation task the sign-up queued: no worker here
        redis_client.delete(key)
    reader.shoot("subscribe-sent")
    page.goto(f"/confirm/{make_token(CONFIRM, seeded['pending'])}")
    page.get_by_role("button").first.click()
    reader.shoot("confirmed")
    page.goto(f"/u/{make_token(UNSUBSCRIBE, seeded['reader'])}")
    page.get_by_role("button").first.click()
    reader.shoot("unsubscribed")
    _assert_fits(reader)
