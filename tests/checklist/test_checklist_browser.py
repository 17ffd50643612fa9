"""The checklist on the edition page in Chromium, at desktop and phone width: blocking problems
first, then warnings, then what passed; approval refused while something blocks, and confirmed
by a tick box (no script) when only warnings remain. Screenshots land in test-artifacts/."""

from __future__ import annotations

from sqlalchemy import update

from digest.editions.edit import update_text
from digest.store.db import unit_of_work
from digest.store.models import Article, Edition, EditionStatus
from tests.checklist.conftest import edition_linking_to
from tests.conftest import reset_caches
from tests.web.editor_helpers import make_editor, run_slow_checks
from tests.browser import ARTIFACTS, log_in

OVERFLOW = "(selector) => { const e = document.querySelector(selector); return e.scrollWidth - e.clientWidth; }"


def test_an_editor_reads_the_checklist_and_approves_through_it(page, feed_server, monkeypatch):  # noqa: F811
    edition_id = edition_linking_to(feed_server, "/item/1", "/item/2", "/item/3", answers={"/item/2": 404})
    with unit_of_work() as session:
        first = session.get(Edition, edition_id).items[0].article_id
        session.execute(update(Article).where(Article.id == first).values(
            summary_html="<p>Ports on both shores of the Caspian are expanding, and the corridor's pace now "
                         'depends on ferries.</p><p><img src="https://example.org/ferry.png"></p>'))
    with unit_of_work() as session:
        update_text(session, edition_id, preheader="")
    monkeypatch.setenv("POSTAL_ADDRESS", "")  # a deployment that forgot it: blocking
    reset_caches()
    make_editor("publisher@example.org", "publisher")
    ARTIFACTS.mkdir(exist_ok=True)
    log_in(page, "publisher@example.org")
    run_slow_checks(edition_id)  # a worker's part (tests/checklist/test_checklist_worker.py)

    page.goto(f"/editions/{edition_id}#checklist")
    checklist = page.locator("#checklist")
    levels = checklist.locator("li.check").evaluate_all("items => items.map(i => i.classList[1])")
    assert levels[0] == "blocking" and levels[1:4] == ["warning"] * 3 and set(levels[4:]) <= {"passed", "skipped"}
    assert checklist.get_by_text("HTTP 404 · “Corridor report 1”").is_visible()
    assert checklist.get_by_text("an image without alt text").is_visible()
    assert checklist.get_by_text("Approval is refused until the 1 blocking problem above is fixed.").is_visible()
    assert checklist.get_by_role("button", name="Approve this edition").is_disabled()
    checklist.screenshot(path=ARTIFACTS / "checklist-1280.png")
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert page.evaluate(OVERFLOW, "#checklist") <= 0
    assert page.evaluate("document.querySelector('#checklist').getBoundingClientRect().right") <= 375
    page.locator("#checklist").screenshot(path=ARTIFACTS / "checklist-375.png")

    # The address set, only warnings remain: the tick box confirms them, with no script.
    monkeypatch.setenv("POSTAL_ADDRESS", "Central Asia-Caucasus Institute, Washington, DC")
    reset_caches()
    run_slow_checks(edition_id)  # the address is part of the content: checked anew
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    page.get_by_role("button", name="Approve this edition").click()  # the browser asks for the tick first
    assert page.url.endswith(f"/editions/{edition_id}#checklist")
    page.get_by_label("I have read the 3 warnings above and approve this edition anyway.").check()
    page.locator("#checklist").screenshot(path=ARTIFACTS / "checklist-confirm-1280.png")
    page.get_by_role("button", name="Approve this edition").click()
    page.get_by_role("status").get_by_text("Approved.").wait_for()
    with unit_of_work() as session:
        assert session.get(Edition, edition_id).status == EditionStatus.APPROVED
