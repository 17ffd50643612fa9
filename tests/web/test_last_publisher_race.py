"""Two publishers removing each other at the same instant: one removal wins, the other is refused
as removing the last publisher, and a publisher always remains. In the domain function with two
real connections, and through the editors' page with two publishers' browsers."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from digest.accounts import remove_editor
from digest.errors import Conflict
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Editor
from digest.web.app import app
from tests.web.editor_helpers import csrf, login_as, make_editor

ROUNDS = 6


def _publishers() -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(select(Editor.email).where(Editor.role == "publisher")))


def _start_again() -> None:
    with unit_of_work() as session:
        session.execute(delete(AuditEntry))
        session.execute(delete(Editor))


def _at_once(*actions) -> list[str]:
    """Run each action in a thread of its own, released together; what each came to."""
    barrier = threading.Barrier(len(actions))
    outcomes = [""] * len(actions)

    def run(index: int, action) -> None:
        barrier.wait()
        try:
            outcomes[index] = action()
        except Conflict as exc:
            outcomes[index] = f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001 - a deadlock or a lock error is the test's failure
            outcomes[index] = f"error: {exc!r}"

    threads = [threading.Thread(target=run, args=(i, action)) for i, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def _removes(target: str, by: str):
    def action() -> str:
        with unit_of_work() as session:
            remove_editor(session, target, by=by, source="test")
        return "removed"
    return action


def test_two_publishers_removing_each_other_at_once_leave_one(settings):
    for _ in range(ROUNDS):
        _start_again()
        make_editor("ana@example.org", "publisher")
        make_editor("bek@example.org", "publisher")
        outcomes = _at_once(_removes("bek@example.org", by="ana@example.org"),
                            _removes("ana@example.org", by="bek@example.org"))
        assert sorted(o.split(":")[0] for o in outcomes) == ["refused", "removed"], outcomes
        assert "is the last publisher" in next(o for o in outcomes if o.startswith("refused"))
        assert len(_publishers()) == 1
        with unit_of_work() as session:
            removals = session.scalar(select(func.count()).select_from(AuditEntry)
                                      .where(AuditEntry.action == "editors:remove"))
        assert removals == 1, "the refused removal is not audited as done"


def test_through_the_editors_page_one_publisher_remains(settings):
    for _ in range(ROUNDS // 2):
        _start_again()
        ana, bek = make_editor("ana@example.org", "publisher"), make_editor("bek@example.org", "publisher")
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as ana_browser, \
                TestClient(app, base_url="https://testserver", follow_redirects=False) as bek_browser:
            login_as(ana_browser, ana)
            login_as(bek_browser, bek)
            ana_token, bek_token = csrf(ana_browser, "/editors"), csrf(bek_browser, "/editors")
            answers = _at_once(
                lambda: str(ana_browser.post(f"/editors/{bek.id}/remove", data={"csrf_token": ana_token}).status_code),
                lambda: str(bek_browser.post(f"/editors/{ana.id}/remove", data={"csrf_token": bek_token}).status_code))
        # 303: removed; 400: refused as the last publisher. Whichever came second may also find its
        # own account gone (a login page redirect, 303 to /login, is then not a removal).
        assert len(_publishers()) == 1, answers
        assert all(a in ("303", "400") for a in answers), answers
