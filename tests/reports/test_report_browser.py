"""The report and the trends in a real browser (Debian's Chromium through Playwright, the app on
uvicorn): four editions sent through the SendGrid stand-in with signed events fed back, then the
dashboard, /reports and one edition's report at desktop and phone widths. The screenshots are kept
in test-artifacts/ for people to look at; the pages' CSP must refuse nothing."""

from __future__ import annotations

import datetime as dt
import random

import time_machine
from sqlalchemy import update

from digest.clock import utcnow
from digest.config import get_settings
from digest.store.db import unit_of_work
from digest.store.models import Article
from tests import accessibility
from tests.browser import ARTIFACTS, log_in
from tests.factories import many_subscribers, stored_articles
from tests.reports.events import SentEdition, bounced, clicked, deferred, delivered, opened
from tests.web.editor_helpers import make_editor

# Elements of `scope` reaching past the right edge of the screen, outside a scrolling box.
WIDER_THAN_SCREEN = """(scope) => [...document.querySelectorAll(scope)]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-scroll, details:not([open])'))
  .map(e => e.tagName + '.' + e.className.baseVal + e.className + ' ' + (e.id || '')).slice(0, 5)"""
SECTIONS = (("Analytical Articles", "Lena Okafor"), ("Field Reports", "Aram Velt"),
            ("News Digest", "Analyst staff"))


def _four_editions(standin, client) -> int:
    """Four editions a fortnight apart to 60 readers, with readers opening, clicking, bouncing and
    complaining at random (seeded): the last edition's id."""
    rng = random.Random(15)
    start = utcnow() - dt.timedelta(days=60)
    emails: list[str] = []
    sent = None
    for number in range(4):
        with time_machine.travel(start + dt.timedelta(days=14 * number), tick=True):
            if not emails:
                emails = many_subscribers(60)
            now = utcnow()
            for section, author in SECTIONS:
                ids = stored_articles(*(now - dt.timedelta(hours=h) for h in (2, 3)), section=section,
                                      prefix=f"{section} analysis")
                with unit_of_work() as session:
                    session.execute(update(Article).where(Article.id.in_(ids)).values(authors=author))
            sent = SentEdition(standin, None, emails=emails)
            events, clicks = [], (0.1, 0.2, 0.3 + 0.05 * number)
            readers = [i for i, email in enumerate(emails) if email in sent.delivery]  # not the unsubscribed
            for reader in readers:
                luck = rng.random()
                if luck < 0.04:
                    events.append(sent.event(reader, "bounce", 1, **bounced(hard=luck < 0.02)))
                    continue
                if luck < 0.08:
                    events.append(sent.event(reader, "deferred", 1, **deferred()))
                events.append(sent.event(reader, "delivered", 2, **delivered()))
                if rng.random() < 0.35:  # Apple Mail's prefetch, as the message arrives
                    events.append(sent.event(reader, "open", 2.05, **opened(machine=True)))
                if rng.random() < 0.1:  # a link scanner follows every link a second after delivery
                    events += [sent.event(reader, "click", 2 + 1 / 60, **clicked(link, index))
                               for index, link in enumerate(sent.links)]
                if rng.random() < 0.55:
                    events.append(sent.event(reader, "open", rng.expovariate(1 / 400), **opened()))
                    for index, link in enumerate(sent.links):
                        if rng.random() < clicks[index % 3]:
                            events.append(sent.event(reader, "click", rng.expovariate(1 / 500), **clicked(link)))
            events.append(sent.event(readers[5], "spamreport", 30) if number == 3 else
                          sent.event(readers[9 + number], "unsubscribe", 40))
            sent.post(client, events)
    return sent.edition_id


def test_the_report_and_the_trends_in_a_browser(standin, client, page):
    edition_id = _four_editions(standin, client)
    make_editor("editor@example.org", "editor")
    ARTIFACTS.mkdir(exist_ok=True)
    database = "sqlite" if get_settings().DATABASE_URL.startswith("sqlite") else "postgresql"
    log_in(page, "editor@example.org")
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in (("dashboard-trends", "/dashboard"), ("reports", "/reports"),
                           ("report", f"/editions/{edition_id}/report")):
            page.goto(path)
            charts = page.locator("svg.chart")
            assert charts.count() >= 3, path
            # Every chart is drawn: it has a size on screen, and lines or bars in it.
            for index in range(charts.count()):
                box = charts.nth(index).bounding_box()
                assert box and box["width"] > 100 and box["height"] > 20, (path, index)
                assert charts.nth(index).locator("polyline, rect").count() > 0, (path, index)
            # Nothing is wider than the screen (a phone scrolls only what is meant to scroll).
            # (The dashboard's older tables are not this test's business: its charts are.)
            scope = "main *" if name == "report" else "svg.chart, svg.chart *, #trend-table"
            assert page.evaluate(WIDER_THAN_SCREEN, scope) == [], (path, width)
            if name == "report":  # people first, machines beside: both on screen, whole, at each width
                for figure in ("#opened", "#clicked", "#machine-opens", "#machine-clicks"):
                    row = page.locator(f"tr:has({figure})")
                    box = row.bounding_box()
                    assert page.locator(figure).inner_text().isdigit(), figure
                    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (figure, width, box)
            page.screenshot(path=ARTIFACTS / f"{name}-{width}-{database}.png", full_page=True)
            charts.first.screenshot(path=ARTIFACTS / f"{name}-first-chart-{width}-{database}.png")
    # With four editions' figures: what axe finds in either colour scheme at either width.
    found = []
    for name, path in (("dashboard-trends", "/dashboard"), ("reports", "/reports"),
                       ("report", f"/editions/{edition_id}/report")):
        page.goto(path)
        found += accessibility.check(page, name)
    assert found == [], accessibility.report(found)
    page.emulate_media(color_scheme="dark")
    page.locator("svg.chart").first.screenshot(path=ARTIFACTS / f"report-first-chart-dark-{database}.png")
    page.emulate_media(color_scheme="light")
    assert page.get_by_role("alert").first.inner_text().startswith("Spam complaints")
    assert page.get_by_role("img", name="Articles by the people who clicked").count() == 1
