"""Approval through the checklist, on every surface: blocking problems refuse it (edition page,
CLI), warnings need a confirmation of exactly the checklist shown, and the audit row names the
warnings confirmed."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Edition, EditionStatus
from digest.web.app import app
from tests.checklist.conftest import edition_linking_to
from tests.cli import digest
from tests.web.editor_helpers import csrf, logged_in, run_slow_checks

_FINGERPRINT = re.compile(r'name="checklist" value="([0-9a-f]+)"')


@pytest.fixture
def publisher(settings):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield logged_in(client, "publisher@example.org", "publisher")


def _status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return session.get(Edition, edition_id).status


def _approvals() -> list[AuditEntry]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "edition:approve")))


def test_approval_waits_for_the_links_and_spam_score_still_being_checked(publisher, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/ok", "/item/gone", answers={"/item/gone": 404})
    page = publisher.get(f"/editions/{edition_id}").text  # no worker runs here: they stay pending
    assert "Checking links and spam score…" in page and "Approval waits until links and spam score are checked." in page
    assert f'action="/editions/{edition_id}/approve"' not in page
    state = publisher.get(f"/api/editions/{edition_id}/checklist").json()
    assert state == {"ready": False, "status": "draft", "pending": ["links", "spam"]}

    # A form posted anyway, with a fingerprint of what the page showed, is refused: the warnings
    # the links may bring are not known yet.
    answer = publisher.post(f"/editions/{edition_id}/approve", data={
        "csrf_token": csrf(publisher, f"/editions/{edition_id}"), "checklist": "0" * 32, "confirm_warnings": "yes"})
    assert answer.status_code == 400
    assert f"edition {edition_id} cannot be approved yet: its links and spam score are still being checked" in answer.text
    assert _status(edition_id) == EditionStatus.DRAFT and _approvals() == []

    run_slow_checks(edition_id)  # what the worker does
    assert publisher.get(f"/api/editions/{edition_id}/checklist").json()["ready"] is True
    assert "Checking links and spam score…" not in publisher.get(f"/editions/{edition_id}").text


def test_the_edition_page_shows_the_checklist_and_approval_asks_to_confirm_its_warnings(publisher, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/ok", "/item/gone", answers={"/item/gone": 404})
    run_slow_checks(edition_id)
    page = publisher.get(f"/editions/{edition_id}").text
    assert 'id="checklist"' in page and "HTTP 404 · “Corridor report 1”" in page
    assert page.index('id="check-links"') < page.index('id="check-size"')  # warnings before what passed
    fingerprint = _FINGERPRINT.search(page).group(1)
    token = csrf(publisher, f"/editions/{edition_id}")

    unconfirmed = publisher.post(f"/editions/{edition_id}/approve", data={"csrf_token": token, "checklist": fingerprint})
    assert unconfirmed.status_code == 400
    assert "has 1 warning (Links): confirm that you have read it to approve anyway" in unconfirmed.text
    stale = publisher.post(f"/editions/{edition_id}/approve",
                           data={"csrf_token": token, "checklist": "0" * 32, "confirm_warnings": "yes"})
    assert stale.status_code == 400 and "the warnings changed since they were shown" in stale.text
    assert _status(edition_id) == EditionStatus.DRAFT and _approvals() == []

    confirmed = publisher.post(f"/editions/{edition_id}/approve",
                               data={"csrf_token": token, "checklist": fingerprint, "confirm_warnings": "yes"})
    assert confirmed.status_code == 303
    assert _status(edition_id) == EditionStatus.APPROVED
    [audit] = _approvals()
    assert audit.source == "web:edition" and audit.details["by"] == "publisher@example.org"
    assert any("HTTP 404 · “Corridor report 1”" in line for line in audit.details["warnings_confirmed"])


def test_a_missing_unsubscribe_link_refuses_approval_on_the_page_and_in_the_cli(
        publisher, feed_server, templates_without_unsubscribe):  # noqa: F811
    edition_id = edition_linking_to(feed_server, "/item/ok")
    run_slow_checks(edition_id)
    page = publisher.get(f"/editions/{edition_id}").text
    assert "Approval is refused until the 1 blocking problem above is fixed." in page
    assert f'action="/editions/{edition_id}/approve"' not in page

    # A form posted anyway (an old tab, a hand-made request) is refused by the same function.
    answer = publisher.post(f"/editions/{edition_id}/approve",
                            data={"csrf_token": csrf(publisher, f"/editions/{edition_id}"), "confirm_warnings": "yes"})
    assert answer.status_code == 400
    assert f"edition {edition_id} cannot be approved: Unsubscribe link: Missing from" in answer.text

    refused = digest("editions", "approve", str(edition_id), "--by", "p@example.org", "--yes")
    assert refused.returncode == 2
    assert "BLOCKING  Unsubscribe link" in refused.stdout
    assert f"edition {edition_id} cannot be approved: Unsubscribe link" in refused.stderr
    assert _status(edition_id) == EditionStatus.DRAFT and _approvals() == []


def test_the_cli_asks_before_approving_despite_warnings(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/gone", answers={"/item/gone": 410})
    declined = digest("editions", "approve", str(edition_id), "--by", "p@example.org", stdin="n\n")
    assert declined.returncode != 0 and "WARNING   Links" in declined.stdout
    assert _status(edition_id) == EditionStatus.DRAFT

    approved = digest("editions", "approve", str(edition_id), "--by", "p@example.org", stdin="y\n")
    assert approved.returncode == 0, approved.stderr
    assert f"edition {edition_id} approved by p@example.org" in approved.stdout
    [audit] = _approvals()
    assert audit.source == "cli" and audit.details["warnings_confirmed"] == [
        "Links: Links that fail: 1 of 1. Readers would land on an error: correct or remove the article, or "
        "check again later. (HTTP 410 · “Corridor report 0”)"]


def test_check_prints_the_checklist_as_json_and_exits_1_on_a_blocking_problem(
        settings, feed_server, monkeypatch):
    edition_id = edition_linking_to(feed_server, "/item/ok", "/item/gone", answers={"/item/gone": 500})
    ran = digest("editions", "check", str(edition_id), "--json")
    assert ran.returncode == 0, ran.stderr
    checklist = json.loads(ran.stdout)
    assert checklist["edition_id"] == edition_id and checklist["blocking"] == 0 and checklist["warning"] == 1
    links = next(c for c in checklist["checks"] if c["key"] == "links")
    assert {(link["url"].rsplit("/", 1)[1], link["status"], link["ok"]) for link in links["links"]} == {
        ("ok", 200, True), ("gone", 500, False)}
    assert next(c for c in checklist["checks"] if c["key"] == "spam")["spam"]["rules"]

    monkeypatch.setenv("POSTAL_ADDRESS", "")
    from tests.conftest import reset_caches
    reset_caches()
    blocked = digest("editions", "check", str(edition_id))
    assert blocked.returncode == 1 and "BLOCKING  Postal address" in blocked.stdout
    assert digest("editions", "check", "999").returncode == 2
