"""Helpers for subscriber tests: a clean slate of rate-limit counters, a web client, a worker that
sends confirmations into the outbox, and reading those confirmations back."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from digest.subscribers.ratelimit import PREFIX
from digest.web.app import app
from sqlalchemy import select

from digest.store.db import unit_of_work
from digest.store.models import AuditEntry
from tests.conftest import wait_for


@pytest.fixture
def rate_limits(redis_client):
    """Counters start at zero; the keys of every test share one Redis database."""

    def clear() -> None:
        for key in redis_client.scan_iter(PREFIX + "*"):
            redis_client.delete(key)

    clear()
    yield
    clear()


def settle_confirmations() -> None:
    """Wait until every confirmation that a sign-up queued has been sent (the audit log has a
    `confirmation_sent` row for each `signup` that sent one)."""

    def settled() -> bool:
        with unit_of_work() as session:
            entries = session.execute(select(AuditEntry.action, AuditEntry.details).where(
                AuditEntry.action.in_(("signup", "confirmation_sent")))).all()
        asked = sum(1 for action, details in entries if action == "signup" and details.get("confirmation") == "sent")
        return sum(1 for action, _ in entries if action == "confirmation_sent") >= asked

    wait_for(settled, what="the queued confirmations to be sent")


@pytest.fixture
def worker(settings, celery_worker, rate_limits):
    """A Celery worker sends confirmations; every test that queues one uses this, and all are
    sent before the next test starts (its outbox must not receive a late message)."""
    yield celery_worker
    settle_confirmations()


@pytest.fixture
def client(settings, rate_limits):
    with TestClient(app, follow_redirects=False) as client:
        yield client


def confirmations(outbox: Path, to: str | None = None) -> list[EmailMessage]:
    messages = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted((outbox / "transactional").glob("confirm-*.eml"))]
    return [m for m in messages if to is None or m["To"] == to]


def wait_for_confirmations(outbox: Path, to: str, count: int = 1) -> list[EmailMessage]:
    return wait_for(lambda: len(confirmations(outbox, to)) >= count and confirmations(outbox, to),
                    what=f"{count} confirmation email(s) to {to}")


def link_path(message: EmailMessage, kind: str) -> str:
    """The path of the `/kind/<token>` link in the message's text part."""
    text = message.get_body(("plain",)).get_content()
    match = re.search(rf"https://digest\.example\.org(/{kind}/[\w.-]+)", text)
    assert match, f"no /{kind}/ link in:\n{text}"
    return match.group(1)
