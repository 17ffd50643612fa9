"""`digest demo`: the whole pipeline once, in this process, on the bundled sample feed.

Poll -> compose -> approve -> plan -> send to the outbox; prints where the messages are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select

from digest.accounts import add_editor
from digest.checklist.approval import approve_checked
from digest.checklist.build import edition_checklist
from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.outbox import OutboxSender
from digest.delivery.plan import release_edition, start_edition
from digest.delivery.send import send_batch
from digest.editions.compose import compose_next_edition
from digest.feeds.poll import PollResult, poll_feed
from digest.feeds.registry import add_feed
from digest.sample.server import feed_url, start_in_thread
from digest.store.db import unit_of_work
from digest.store.migrate import upgrade
from digest.store.models import Delivery, Edition, EditionKind, EditionStatus, Editor, Feed, Subscriber
from digest.subscribers.lifecycle import add_subscriber

DEMO_APPROVER = "editor@example.org"
DEMO_SUBSCRIBER = ("reader@example.org", "Demo Reader")


@dataclass(frozen=True)
class Seeded:
    feed_id: int
    url: str
    poll: PollResult


@dataclass(frozen=True)
class DemoResult:
    edition_id: int | None
    messages: list[Path]
    summary: str


def _ensure_sample_server(port: int) -> str:
    url = feed_url(port=port)
    try:
        httpx.get(url, timeout=2).raise_for_status()
    except httpx.HTTPError:
        start_in_thread(port=port)
    return url


def seed_sample(port: int) -> Seeded:
    """Register and poll the sample feed, and add the demo reader (idempotent)."""
    upgrade()
    url = _ensure_sample_server(port)
    with unit_of_work() as session:
        feed = session.scalar(select(Feed).where(Feed.url == url)) or add_feed(session, url, None)
        result = poll_feed(session, feed.id)
        if session.scalar(select(Subscriber.id).where(Subscriber.email == DEMO_SUBSCRIBER[0])) is None:
            add_subscriber(session, DEMO_SUBSCRIBER[0], name=DEMO_SUBSCRIBER[1], confirmed=True, source="demo")
        return Seeded(feed.id, feed.url, result)


def ensure_demo_editor(email: str, password: str) -> bool:
    """Create the demo publisher account unless it exists; True when created."""
    with unit_of_work() as session:
        if session.scalar(select(Editor.id).where(Editor.email == email)) is not None:
            return False
        add_editor(session, email, password, role="publisher")
        return True


def run_demo(port: int) -> DemoResult:
    settings = get_settings()
    seed_sample(port)
    outbox = OutboxSender(settings.OUTBOX_DIR)
    with unit_of_work() as session:
        edition = compose_next_edition(session, utcnow())
        if edition is None:
            # Run again: the sample's articles all went out already; say so, and send nothing.
            sent = session.scalar(select(Edition)
                                  .where(Edition.kind == EditionKind.DIGEST, Edition.status == EditionStatus.SENT)
                                  .order_by(Edition.sent_at.desc()).limit(1))
            if sent is None:
                return DemoResult(None, [], "no edition: the sample feed had no articles that are not already in one")
            found = _messages(session, outbox, sent.id)
            return DemoResult(sent.id, found, "\n".join([
                f"nothing new to send: every article polled is in an edition already; the latest sent, "
                f"edition {sent.id}, has {_count(found)} in the outbox:", *_listed(found)]))
        if edition.status == EditionStatus.DRAFT:
            # As an editor who read the checklist and accepted its warnings (blocking ones still refuse).
            approve_checked(session, edition.id, DEMO_APPROVER, source="demo",
                            confirmed=edition_checklist(edition).fingerprint)
        if edition.status == EditionStatus.APPROVED:
            release_edition(session, edition.id)
        edition_id = edition.id
    with unit_of_work() as session:
        batches = start_edition(session, edition_id)
    for batch_id in batches:
        with unit_of_work() as session:
            send_batch(session, edition_id, batch_id, outbox)
    with unit_of_work() as session:
        found = _messages(session, outbox, edition_id)
    lines = [f"edition {edition_id} sent to {len(found):,} reader(s); the messages are in the outbox:", *_listed(found)]
    return DemoResult(edition_id, found, "\n".join(lines))


# Paths printed; a list of thousands of readers is named by its folder after these.
LISTED = 5


def _count(found: list[Path]) -> str:
    return f"{len(found):,} message{'s' if len(found) != 1 else ''}"


def _listed(found: list[Path]) -> list[str]:
    lines = [f"  {path.resolve()}" for path in found[:LISTED]]
    if len(found) > LISTED:
        folders = sorted({str(path.resolve().parent) for path in found})
        lines.append(f"  and {len(found) - LISTED:,} more in {', '.join(folders)}")
    return lines


def _messages(session, outbox: OutboxSender, edition_id: int) -> list[Path]:
    readers = session.scalars(select(Delivery.subscriber_id).where(Delivery.edition_id == edition_id)
                              .order_by(Delivery.id))
    return [path for path in (outbox.path_for(edition_id, reader) for reader in readers) if path.exists()]
