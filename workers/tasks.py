"""Thin tasks: ids in, one `digest` call in a transaction, follow-up tasks enqueued after commit.

Every task may run twice (Redis redelivers unacknowledged messages); the database makes that
harmless through unique rows and conditional updates.
"""

from __future__ import annotations

import logging
import random

from digest.clock import utcnow
from digest.delivery.backends import get_sender
from digest.delivery.message import SendError
from digest.delivery.send import due_edition_ids, send_batch as send_delivery_batch, start_edition as plan_edition
from digest.editions.compose import compose_due_edition
from digest.feeds.poll import due_feed_ids, poll_feed as poll_one_feed
from digest.store.db import on_commit, unit_of_work
from digest.subscribers.confirmation import send_confirmation as send_confirmation_email
from workers.app import app

log = logging.getLogger(__name__)

SEND_MAX_RETRIES = 8


@app.task(name="digest.feeds.poll_due_feeds")
def poll_due_feeds() -> int:
    with unit_of_work() as session:
        feed_ids = due_feed_ids(session, utcnow())
    for feed_id in feed_ids:
        poll_feed.delay(feed_id)
    return len(feed_ids)


@app.task(name="digest.feeds.poll_feed")
def poll_feed(feed_id: int) -> dict:
    with unit_of_work() as session:
        result = poll_one_feed(session, feed_id)
    if result.error:
        log.warning("feed %s failed: %s", feed_id, result.error)
    return {"feed_id": feed_id, "new": result.new, "updated": result.updated, "error": result.error}


@app.task(name="digest.editions.tick")
def edition_tick() -> None:
    now = utcnow()
    with unit_of_work() as session:
        compose_due_edition(session, now)
        for edition_id in due_edition_ids(session, now):
            on_commit(session, lambda edition_id=edition_id: start_edition.delay(edition_id))


@app.task(name="digest.editions.start")
def start_edition(edition_id: int) -> int:
    with unit_of_work() as session:
        batches = plan_edition(session, edition_id)
        for delivery_ids in batches:
            on_commit(session, lambda ids=delivery_ids: send_batch.delay(edition_id, ids))
    return len(batches)


@app.task(name="digest.delivery.send_batch", bind=True, acks_late=True,
          reject_on_worker_lost=True, max_retries=SEND_MAX_RETRIES)
def send_batch(self, edition_id: int, delivery_ids: list[int]) -> int:
    try:
        with unit_of_work() as session:
            return send_delivery_batch(session, edition_id, delivery_ids, get_sender())
    except SendError as exc:
        if exc.permanent:
            raise
        # Exponential backoff with jitter, or what the provider asked for.
        delay = exc.retry_after or min(600, 2 ** self.request.retries * 5) * random.uniform(0.8, 1.2)
        raise self.retry(exc=exc, countdown=delay) from exc


@app.task(name="digest.subscribers.send_confirmation", bind=True, max_retries=SEND_MAX_RETRIES)
def send_confirmation(self, subscriber_id: int) -> bool:
    try:
        with unit_of_work() as session:
            return send_confirmation_email(session, subscriber_id, get_sender()) is not None
    except SendError as exc:
        if exc.permanent:
            raise
        delay = exc.retry_after or min(600, 2 ** self.request.retries * 5) * random.uniform(0.8, 1.2)
        raise self.retry(exc=exc, countdown=delay) from exc
