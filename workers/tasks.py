"""Thin tasks: ids in, one `digest` call in a transaction, follow-up tasks enqueued after commit.

Every task may run twice (Redis redelivers unacknowledged messages); the database makes that
harmless through unique rows and conditional updates.

Each task is named for where it lives, `workers.tasks.<function>`, spelled out so that renaming a
function never renames the messages already queued for it; workers/config.py routes each name
to its queue.
"""

from __future__ import annotations

import datetime as dt
import logging
import random

from digest.checklist.build import edition_checklist
from digest.clock import utcnow
from digest.config import get_settings
# Tasks take the names of the functions they call: those modules are imported whole
# (`send.send_batch`), so a task never shadows its library function.
from digest.delivery import confirmation, plan, send
from digest.delivery.backends import get_sender
from digest.delivery.control import (finish_complete_editions, mark_stuck_unknown, resend_silent_unknown,
                                     stalled_batches, stalled_slices)
from digest.delivery.events import EventsAhead, process_webhook_batch, unprocessed_batch_ids
from digest.store.members import RECORD_SENT_AFTER, record_sent_batches
from digest.delivery.message import SendError, Throttled
from digest.delivery.ratelimit import requeue_countdown
from digest.editions.lookup import get_edition
from digest.editions.schedule import tick
from digest.feeds import poll
from digest.subscribers import imports
from digest.store.db import on_commit, unit_of_work
from digest.store.models import EditionStatus
from workers.app import app

log = logging.getLogger(__name__)


def _backoff(failures: int) -> float:
    """Exponential backoff with jitter after the n-th failure, within the queue's safe countdown."""
    base = get_settings().SEND_RETRY_BASE_SECONDS
    return requeue_countdown(min(600.0, base * 2 ** failures) * random.uniform(0.8, 1.2))


def enqueue_batches(session, edition_id: int, batches: list[int]) -> None:
    """Send tasks for these batches, once the transaction that made their rows commits."""
    for batch_id in batches:
        on_commit(session, lambda batch_id=batch_id: send_batch.delay(edition_id, batch_id))


def enqueue_slices(session, edition_id: int, numbers: list[int]) -> None:
    """Planning tasks for these slices of an edition, once its slices are committed."""
    for number in numbers:
        on_commit(session, lambda number=number: plan_slice.delay(edition_id, number))


@app.task(name="workers.tasks.poll_due_feeds")
def poll_due_feeds() -> int:
    with unit_of_work() as session:
        feed_ids = poll.claim_due_feeds(session, utcnow())
    for feed_id in feed_ids:
        poll_feed.delay(feed_id)
    return len(feed_ids)


@app.task(name="workers.tasks.poll_feed")
def poll_feed(feed_id: int) -> dict:
    with unit_of_work() as session:
        result = poll.poll_feed(session, feed_id)
    if result.error:
        log.warning("feed %s failed: %s", feed_id, result.error)
    return {"feed_id": feed_id, "new": result.new, "updated": result.updated,
            "deferred": result.deferred, "error": result.error}


@app.task(name="workers.tasks.edition_tick")
def edition_tick() -> None:
    with unit_of_work() as session:
        for edition_id in tick(session, utcnow(), ahead=plan.send_ahead(get_sender())):
            on_commit(session, lambda edition_id=edition_id: start_edition.delay(edition_id))


# Slices planned at the same time. Each planned slice queues its batches and then the slice
# PLANNING_LANES further on, so the queue alternates sends and planning: with every slice queued
# at once, the first batch waited behind the planning of the whole list.
PLANNING_LANES = 2


def start_planning(session, edition_id: int, slices: list[int]) -> None:
    """Queue the first slice of each planning lane, once the slices are committed."""
    enqueue_slices(session, edition_id, slices[:PLANNING_LANES])


@app.task(name="workers.tasks.start_edition")
def start_edition(edition_id: int) -> int:
    with unit_of_work() as session:
        slices = plan.open_edition(session, edition_id, sender=get_sender())
        start_planning(session, edition_id, slices)
    return len(slices)


# Acknowledged when done: a worker killed mid-slice leaves the message to be delivered again
# (planning a slice twice plans it once), so its lane goes on without waiting for reconciliation.
@app.task(name="workers.tasks.plan_slice", acks_late=True, reject_on_worker_lost=True)
def plan_slice(edition_id: int, number: int) -> int:
    """Plan one slice of an edition's readers; its batches leave as soon as it commits, then the
    next slice of its lane is queued (a lost message is re-queued by reconciliation)."""
    try:
        with unit_of_work() as session:
            batches = plan.plan_slice(session, edition_id, number)
            enqueue_batches(session, edition_id, batches)
            enqueue_slices(session, edition_id, plan.unplanned_slices(session, edition_id, number + PLANNING_LANES))
    except Exception:
        # This slice waits for reconciliation; the rest of its lane does not. (Past the last
        # slice, the next number plans nothing and queues nothing.)
        plan_slice.delay(edition_id, number + PLANNING_LANES)
        raise
    return len(batches)


@app.task(name="workers.tasks.send_batch", acks_late=True, reject_on_worker_lost=True)
def send_batch(edition_id: int, batch_id: int, failures: int = 0) -> int:
    """Waiting (our rate limit, a 429) sends the batch back with the same failure count;
    a failure spends one of SEND_MAX_RETRIES. Either way a fresh message, never a long ETA."""
    try:
        with unit_of_work() as session:
            return send.send_batch(session, edition_id, batch_id, get_sender())
    except Throttled as exc:
        send_batch.apply_async((edition_id, batch_id), {"failures": failures},
                               countdown=requeue_countdown(exc.wait))
        return 0
    except SendError as exc:
        if exc.permanent:
            raise
        if failures >= get_settings().SEND_MAX_RETRIES:
            with unit_of_work() as session:
                send.give_up_batch(session, edition_id, batch_id, f"gave up after {failures} retries: {exc}")
            log.error("edition %s: batch %s failed for good: %s", edition_id, batch_id, exc)
            return 0
        log.warning("edition %s: batch %s failed (%s); retry %s", edition_id, batch_id, exc, failures + 1)
        send_batch.apply_async((edition_id, batch_id), {"failures": failures + 1},
                               countdown=_backoff(failures))
        return 0


@app.task(name="workers.tasks.reconcile_deliveries")
def reconcile_deliveries() -> dict:
    """Beat: stuck claims become unknown; unknown rows SendGrid stayed silent about are re-sent
    once; sends whose queue messages were lost are re-issued; sends with nothing left are sent;
    the readers that sent batches' rows alone recorded get rows of their own."""
    with unit_of_work() as session:
        stuck = mark_stuck_unknown(session)
        recorded = record_sent_batches(session, utcnow() - RECORD_SENT_AFTER)
        resent = resend_silent_unknown(session)
        for edition_id, done in resent.items():
            enqueue_batches(session, edition_id, done.batches)
        stalled = stalled_batches(session)
        for edition_id, batches in stalled.items():
            if edition_id in resent:
                continue  # just enqueued above
            log.warning("edition %s stalled; re-issuing %s batches", edition_id, len(batches))
            enqueue_batches(session, edition_id, batches)
        slices = stalled_slices(session)
        for edition_id, numbers in slices.items():
            log.warning("edition %s stalled; re-issuing the planning of %s slices", edition_id, len(numbers))
            enqueue_slices(session, edition_id, numbers)
        finished = finish_complete_editions(session)
    return {"unknown": stuck, "recorded": recorded, "resent": {str(k): v.deliveries for k, v in resent.items()},
            "reissued": {str(k): len(v) for k, v in stalled.items()},
            "replanned": {str(k): len(v) for k, v in slices.items()}, "finished": finished}


# A batch's accepted readers are recorded within moments of SendGrid's answer; events that beat
# that commit are applied a few seconds later. After the last retry the sweep takes the request.
EVENTS_AHEAD_RETRY_SECONDS = 2
EVENTS_AHEAD_RETRIES = 30


@app.task(name="workers.tasks.process_webhook", acks_late=True, bind=True, max_retries=EVENTS_AHEAD_RETRIES)
def process_webhook(self, batch_id: int) -> dict:
    try:
        with unit_of_work() as session:
            return process_webhook_batch(session, batch_id)
    except EventsAhead as exc:
        if self.request.retries >= EVENTS_AHEAD_RETRIES:
            log.warning("webhook batch %s left for the sweep: %s", batch_id, exc)
            return {}
        raise self.retry(countdown=EVENTS_AHEAD_RETRY_SECONDS) from exc


@app.task(name="workers.tasks.sweep_webhooks")
def sweep_webhooks() -> int:
    """Beat: apply kept webhook batches whose queue message was lost, each in its own transaction
    (the claim in process_webhook_batch makes a race with the normal path harmless)."""
    older_than = utcnow() - dt.timedelta(seconds=get_settings().WEBHOOK_SWEEP_AFTER_SECONDS)
    with unit_of_work() as session:
        batch_ids = unprocessed_batch_ids(session, older_than)
    for batch_id in batch_ids:
        try:
            with unit_of_work() as session:
                process_webhook_batch(session, batch_id)
        except EventsAhead as exc:  # its readers' batch is still being sent: the next sweep
            log.info("webhook batch %s waits: %s", batch_id, exc)
        except Exception:  # one batch that cannot be applied must not hold back the others
            log.exception("webhook batch %s could not be applied", batch_id)
    if batch_ids:
        log.warning("applied %s webhook batches whose queue message was lost", len(batch_ids))
    return len(batch_ids)


@app.task(name="workers.tasks.send_confirmation", bind=True)
def send_confirmation(self, subscriber_id: int) -> bool:
    try:
        with unit_of_work() as session:
            return confirmation.send_confirmation(session, subscriber_id, get_sender()) is not None
    except SendError as exc:
        if exc.permanent or self.request.retries >= get_settings().SEND_MAX_RETRIES:
            raise
        raise self.retry(exc=exc, countdown=requeue_countdown(exc.retry_after) if exc.retry_after
                         else _backoff(self.request.retries)) from exc


@app.task(name="workers.tasks.check_edition")
def check_edition(edition_id: int) -> None:
    """The edition page's slow checks (links, spam score), run here so the page never waits for
    them; their results are kept for the edition's content, where the page finds them."""
    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        if edition.status == EditionStatus.DRAFT:  # approved or sent meanwhile: nobody reads its checklist
            edition_checklist(edition)


# Acknowledged when done: a worker killed mid-import leaves the message to be delivered again, and
# the import resumes after its last committed batch (subscribers/imports.py: a later run takes the
# import over, so an earlier one still going never counts a batch twice).
@app.task(name="workers.tasks.import_subscribers", acks_late=True, reject_on_worker_lost=True)
def import_subscribers(import_id: int) -> str | None:
    state = imports.run_import(import_id)
    return state.value if state else None
