"""What the real-worker send tests share besides fixtures: fast recovery settings, an approved
edition for N readers, an edition's status."""

from __future__ import annotations

from digest.editions.lookup import get_edition
from digest.store.db import unit_of_work
from digest.store.models import EditionStatus
from tests.factories import approved_edition, many_subscribers, polled_feed

FAST_RECOVERY = {
    "BROKER_VISIBILITY_TIMEOUT_SECONDS": "6",
    "SEND_STUCK_AFTER_SECONDS": "3",
    "SEND_STALL_AFTER_SECONDS": "3",
    "SEND_RETRY_BASE_SECONDS": "0.2",
    "SEND_RECONCILE_INTERVAL_SECONDS": "1",
}


def approved_for(readers: int, feed_server) -> tuple[int, list[str]]:
    polled_feed(feed_server)
    emails = many_subscribers(readers)
    return approved_edition(), emails


def edition_status(edition_id: int) -> EditionStatus:
    with unit_of_work() as session:
        return get_edition(session, edition_id).status
