"""One operation, one command path: pausing a send from the edition page, the ops page, the
CLI and the JSON API goes through digest.delivery.control and leaves exactly one audit row each;
the edition page and the ops page show the same progress figures (one function computes them)."""

from __future__ import annotations

import datetime as dt
import getpass
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from digest.accounts import add_editor, issue_api_token
from digest.clock import utcnow
from digest.delivery.control import resume_send
from digest.store.db import unit_of_work
from digest.store.models import AuditEntry, Delivery, DeliveryStatus, Edition, EditionStatus, SendBatch
from digest.web.app import app
from tests.delivery.batches import settle
from tests.factories import approved_edition, many_subscribers, planned, polled_feed
from tests.cli import digest
from tests.web.editor_helpers import login_as

PUBLISHER = "publisher@example.org"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def client(settings, redis_client):
    redis_client.flushdb()  # the queues the actions fill
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _sending_edition(feed_server, readers: int = 30) -> int:
    polled_feed(feed_server)
    many_subscribers(readers)
    edition_id = approved_edition()
    planned(edition_id)
    return edition_id


def _login(client) -> str:
    with unit_of_work() as session:
        editor = add_editor(session, PUBLISHER, "a long and careful password", "publisher")
        token = issue_api_token(session, PUBLISHER)
    login_as(client, editor)
    return token


def _audit_rows() -> list[tuple[str, str, str]]:
    with unit_of_work() as session:
        return [(a.action, a.source, a.details["by"]) for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return session.get(Edition, edition_id).status


def _resume(edition_id: int) -> None:
    with unit_of_work() as session:
        resume_send(session, edition_id, by="test", source="test")


def test_pausing_from_every_surface_leaves_exactly_one_audit_row_each(client, feed_server):
    edition_id = _sending_edition(feed_server)
    api_token = _login(client)

    def paused_once(pause, source: str, by: str) -> None:
        before = _audit_rows()
        pause()
        assert _status(edition_id) == EditionStatus.PAUSED, source
        assert _audit_rows()[len(before):] == [("ops:pause", source, by)]
        _resume(edition_id)

    def from_edition_page():
        token = TOKEN.search(client.get(f"/editions/{edition_id}").text).group(1)
        assert client.post(f"/editions/{edition_id}/pause", data={"csrf_token": token}).status_code == 303

    def from_ops_page():
        token = TOKEN.search(client.get("/ops").text).group(1)
        assert client.post(f"/ops/editions/{edition_id}/pause", data={"csrf_token": token}).status_code == 303

    def from_cli():
        done = digest("editions", "pause", str(edition_id))
        assert done.returncode == 0, done.stderr

    def from_api():
        answer = TestClient(app, base_url="https://testserver").post(
            f"/api/editions/{edition_id}/pause", headers={"Authorization": f"Bearer {api_token}"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"edition_id": edition_id, "action": "pause", "deliveries": 0, "batches_queued": 0}

    paused_once(from_edition_page, "web:edition", PUBLISHER)
    paused_once(from_ops_page, "web:ops", PUBLISHER)
    paused_once(from_cli, "cli", getpass.getuser())
    paused_once(from_api, "api", PUBLISHER)
    pauses = [row for row in _audit_rows() if row[0] == "ops:pause"]
    assert [source for _, source, _ in pauses] == ["web:edition", "web:ops", "cli", "api"]


def test_an_unknown_action_through_the_api_is_refused_by_name(client, feed_server):
    edition_id = _sending_edition(feed_server)
    api_token = _login(client)
    client.cookies.clear()
    answer = client.post(f"/api/editions/{edition_id}/explode", headers={"Authorization": f"Bearer {api_token}"})
    assert answer.status_code == 400 and "action 'explode' must be one of: pause, resume" in answer.text
    assert _status(edition_id) == EditionStatus.SENDING and _audit_rows() == []


def _figures(html: str, rate_id: str, eta_id: str) -> tuple[str, str]:
    rate = re.search(rf'{rate_id}>([^<]*)<', html).group(1).strip()
    eta = re.search(rf'{eta_id}>([^<]*)<', html).group(1).strip()
    return rate, eta


def test_the_edition_page_and_the_ops_page_show_the_same_throughput_and_eta(client, feed_server):
    edition_id = _sending_edition(feed_server, readers=400)
    _login(client)
    now = utcnow()
    with unit_of_work() as session:
        session.execute(update(Edition).values(started_at=now - dt.timedelta(minutes=20)))
    # Some handed over long ago, some in the last five minutes: only the recent pace counts.
    settle(edition_id, 50, DeliveryStatus.ACCEPTED, sent_at=now - dt.timedelta(minutes=15))
    settle(edition_id, 100, DeliveryStatus.ACCEPTED, sent_at=now - dt.timedelta(minutes=2))
    edition_page = client.get(f"/editions/{edition_id}").text
    ops_page = client.get("/ops").text
    on_edition = _figures(edition_page, 'id="progress-rate"', 'id="progress-eta"')
    on_ops = _figures(ops_page, f'data-send-rate="{edition_id}"', f'data-send-eta="{edition_id}"')
    assert on_edition == on_ops
    assert on_edition[0] == "20 a minute"  # 100 in the last 5 minutes
    api = client.get(f"/api/editions/{edition_id}/progress").json()
    status = client.get("/api/ops/status").json()
    [send] = [s for s in status["sends"] if s["edition_id"] == edition_id]
    assert (api["per_minute"], api["total"], api["done"]) == (send["per_minute"], send["total"], send["done"])
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_without_a_webhook_unknown_rows_wait_for_one_action_on_the_ops_page(client, feed_server, redis_client):
    from digest.delivery.claim import claim_batch
    from digest.delivery.reconcile import mark_stuck_unknown, resend_silent_unknown

    edition_id = _sending_edition(feed_server, readers=12)
    _login(client)
    with unit_of_work() as session:
        [batch] = session.scalars(select(SendBatch.id).where(SendBatch.edition_id == edition_id)).all()
        claim_batch(session, edition_id, batch, utcnow() - dt.timedelta(hours=2))  # a worker died here
    with unit_of_work() as session:
        assert mark_stuck_unknown(session) == 12
        assert resend_silent_unknown(session) == {}  # no webhook: no evidence, nothing by itself
    redis_client.flushdb()
    page = client.get("/ops").text
    assert f'action="/ops/editions/{edition_id}/resend-unknown"' in page
    token = TOKEN.search(page).group(1)
    assert client.post(f"/ops/editions/{edition_id}/resend-unknown", data={"csrf_token": token}).status_code == 303
    with unit_of_work() as session:
        states = session.scalars(select(Delivery.status).where(Delivery.edition_id == edition_id)).all()
    assert set(states) == {DeliveryStatus.PENDING} and redis_client.llen("delivery") == 1
    assert _audit_rows() == [("ops:resend_unknown", "web:ops", PUBLISHER)]
    assert 'resend-unknown"' not in client.get("/ops").text  # nothing unknown left
