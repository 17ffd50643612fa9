"""Thin tasks: ids in, one `digest` call, follow-up tasks enqueued once it commits.

Every task runs on workers/base.py's `DigestTask`: one unit of work per run (`self.session`),
enqueueing through `enqueue` after the commit, and the retry policy each task declares with its
options. Every task may run twice (Redis redelivers unacknowledged messages); the database makes
that harmless through unique rows and conditional updates.

Each task is named for where it lives, `workers.tasks.<function>`, spelled out so that renaming a
function never renames the messages already queued for it; workers/config.py routes each name
to its queue.
"""

from __future__ import annotations

import datetime as dt
import logging

from digest.alerts.compose import collect_new_articles
from digest.alerts.release import release_held_alerts
from digest.checklist.build import edition_checklist
from digest.clock import utcnow
from digest.config import get_settings
# Tasks take the names of the functions they call: those modules are imported whole
# (`send.send_batch`), so a task never shadows its library function.
from digest.delivery import confirmation, control, plan, send
from digest.delivery.backends import get_sender
from digest.delivery.events import EventsAhead, process_webhook_batch, unprocessed_batch_ids
from digest.delivery.message import SendError, Throttled
from digest.delivery.reconcile import reconcile
from digest.editions.lookup import get_edition
from digest.editions.schedule import tick
from digest.feeds import poll
from digest.ops.logs import bind_ids, unbind_ids
from digest.store.models import EditionStatus
from digest.subscribers import imports
from workers.app import app
from workers.base import enqueue
from workers.signals import record_outcome

log = logging.getLogger(__name__)


# Batches a send task takes, one after another. Celery's own work for each task (taking its
# message from Redis, handing it to a pool process, acknowledging it, the operators' records)
# is then paid once for five batches (bench/RESULTS.md). More would make each task longer, and
# so the tail of a send, where fewer tasks are left than processes.
BATCHES_PER_SEND_TASK = 5


def enqueue_batches(session, edition_id: int, batches: list[int], per_task: int = BATCHES_PER_SEND_TASK) -> None:
    """Send tasks for these batches, `per_task` a task, once the transaction that made their rows
    commits."""
    for start in range(0, len(batches), per_task):
        enqueue(session, send_batches_in_turn, edition_id, batches[start:start + per_task])


def enqueue_slices(session, edition_id: int, numbers: list[int]) -> None:
    """Planning tasks for these slices of an edition, once its slices are committed."""
    for number in numbers:
        enqueue(session, plan_slice, edition_id, number)


def run_send_action(session, edition_id: int, action: str, *, by: str, source: str, **options) -> control.Done:
    """A send action of an operator (pause, resume, cancel, retry-failed, discard-failed,
    resend-unknown) through the one command layer, its batches enqueued once the caller commits.
    The edition page, the ops page, the API and the CLI all come through here."""
    sender = get_sender() if action == "cancel" else None  # a send scheduled at the provider is cancelled there
    done = control.run_action(session, edition_id, action, by=by, source=source, sender=sender, **options)
    enqueue_batches(session, edition_id, done.batches)
    return done


@app.task(name="workers.tasks.poll_due_feeds", bind=True)
def poll_due_feeds(self) -> int:
    feed_ids = poll.claim_due_feeds(self.session, utcnow())
    for feed_id in feed_ids:
        enqueue(self.session, poll_feed, feed_id)
    return len(feed_ids)


@app.task(name="workers.tasks.poll_feed", bind=True)
def poll_feed(self, feed_id: int) -> dict:
    result = poll.poll_feed(self.session, feed_id)
    # In the poll's unit of work: the new articles and the alert they join commit together.
    alert = collect_new_articles(self.session, list(result.new_ids), utcnow())
    if alert is not None and alert.hold_until is not None and alert.hold_until > utcnow():
        # The slow checks (links, spam score) run during the hold, for its content as it is now;
        # the release reads their results if they are in by then (their findings only warn).
        enqueue(self.session, check_edition, alert.id)
    if result.error:
        log.warning("feed %s failed: %s", feed_id, result.error)
    return {"feed_id": feed_id, "new": result.new, "updated": result.updated,
            "deferred": result.deferred, "error": result.error}


@app.task(name="workers.tasks.edition_tick", bind=True)
def edition_tick(self) -> None:
    now = utcnow()
    # Alerts whose hold has ended are approved first, so that this tick starts them with the editions.
    release_held_alerts(self.session, now)
    for edition_id in tick(self.session, now, ahead=plan.send_ahead(get_sender())):
        enqueue(self.session, start_edition, edition_id)


# Slices planned at the same time. Each planned slice queues its batches and then the slice
# PLANNING_LANES further on, so the queue alternates sends and planning: with every slice queued
# at once, the first batch waited behind the planning of the whole list.
PLANNING_LANES = 2


def start_planning(session, edition_id: int, slices: list[int]) -> None:
    """Queue the first slice of each planning lane, once the slices are committed."""
    enqueue_slices(session, edition_id, slices[:PLANNING_LANES])


@app.task(name="workers.tasks.start_edition", bind=True)
def start_edition(self, edition_id: int) -> int:
    slices = plan.open_edition(self.session, edition_id, sender=get_sender())
    start_planning(self.session, edition_id, slices)
    return len(slices)


# Acknowledged when done: a worker killed mid-slice leaves the message to be delivered again
# (planning a slice twice plans it once), so its lane goes on without waiting for reconciliation.
@app.task(name="workers.tasks.plan_slice", bind=True, acks_late=True, reject_on_worker_lost=True)
def plan_slice(self, edition_id: int, number: int) -> int:
    """Plan one slice of an edition's readers; its batches leave as soon as it commits, then the
    next slice of its lane is queued (a lost message is re-queued by reconciliation)."""
    # If this slice fails it waits for reconciliation; the rest of its lane does not. (Past the
    # last slice, the next number plans nothing and queues nothing.)
    self.if_rolled_back(lambda: plan_slice.delay(edition_id, number + PLANNING_LANES))
    batches = plan.plan_slice(self.session, edition_id, number)
    following = plan.unplanned_slices(self.session, edition_id, number + PLANNING_LANES)
    # The last slice of its lane sends its batches one a task: the tail of the send then spreads
    # over every process, where a few tasks of five batches each kept the others idle (an edition
    # of one slice is all tail).
    enqueue_batches(self.session, edition_id, batches, BATCHES_PER_SEND_TASK if following else 1)
    enqueue_slices(self.session, edition_id, following)
    return len(batches)


def _give_up_batch(task, exc: SendError, edition_id: int, batch_id: int, failures: int = 0) -> int:
    """After SEND_MAX_RETRIES the batch's waiting readers fail visibly instead of waiting forever."""
    task.run_in_transaction(send.give_up_batch, edition_id, batch_id, f"gave up after {failures} retries: {exc}")
    log.error("edition %s: batch %s failed for good: %s", edition_id, batch_id, exc)
    return 0


@app.task(name="workers.tasks.send_batch", bind=True, acks_late=True, reject_on_worker_lost=True,
          retry_on=(SendError,), waits_on=(Throttled,), give_up=_give_up_batch)
def send_batch(self, edition_id: int, batch_id: int, failures: int = 0) -> int:
    """Waiting (our rate limit, a 429) sends the batch back with the same failure count;
    a failure spends one of SEND_MAX_RETRIES (`failures`, counted by the base task)."""
    return send.send_batch(self.session, edition_id, batch_id, get_sender())


# Acknowledged when done, as send_batch is: a worker killed midway leaves the message to be
# delivered again, and the batches it had claimed are skipped then (a claim is taken once); the
# one it was sending is reconciliation's, as a lone batch's would be.
@app.task(name="workers.tasks.send_batches_in_turn", bind=True, acks_late=True, reject_on_worker_lost=True,
          one_transaction=False)
def send_batches_in_turn(self, edition_id: int, batch_ids: list[int]) -> int:
    """Send these batches one after another, each as `send_batch` does: in a unit of work of its
    own and under its retry policy. A batch sent back (a retry, a wait) goes on as a `send_batch`
    message of its own while this task goes on with the rest; a batch that raises has the rest
    queued as a task of their own first, so one bad batch never holds back the others."""
    sent = 0
    for position, batch_id in enumerate(batch_ids):
        bound = bind_ids(batch=batch_id)
        try:
            done = send_batch.run(edition_id, batch_id)
        except Exception:
            if rest := batch_ids[position + 1:]:
                send_batches_in_turn.delay(edition_id, rest)
            raise
        finally:
            unbind_ids(bound)
        if done is None:  # sent back: counted as send_batch's retry, as a lone batch's would be
            record_outcome(send_batch.name, "retried", None)
        else:
            sent += done
    return sent


@app.task(name="workers.tasks.reconcile_deliveries", bind=True)
def reconcile_deliveries(self) -> dict:
    """Beat: one pass of delivery/reconcile.py; what it hands back is enqueued once it commits."""
    done = reconcile(self.session)
    for edition_id, batches in done.batches.items():
        enqueue_batches(self.session, edition_id, batches)
    for edition_id, numbers in done.slices.items():
        enqueue_slices(self.session, edition_id, numbers)
    return done.summary


# A batch's accepted readers are recorded within moments of SendGrid's answer; events that beat
# that commit are applied a few seconds later. After the last retry the sweep takes the request.
EVENTS_AHEAD_RETRY_SECONDS = 2
EVENTS_AHEAD_RETRIES = 30


def _leave_for_the_sweep(task, exc: EventsAhead, batch_id: int, failures: int = 0) -> dict:
    log.warning("webhook batch %s left for the sweep: %s", batch_id, exc)
    return {}


@app.task(name="workers.tasks.process_webhook", bind=True, acks_late=True, retry_on=(EventsAhead,),
          max_failures=EVENTS_AHEAD_RETRIES, retry_every=EVENTS_AHEAD_RETRY_SECONDS, give_up=_leave_for_the_sweep)
def process_webhook(self, batch_id: int, failures: int = 0) -> dict:
    return process_webhook_batch(self.session, batch_id)


@app.task(name="workers.tasks.sweep_webhooks", bind=True, one_transaction=False)
def sweep_webhooks(self) -> int:
    """Beat: apply kept webhook batches whose queue message was lost, each in its own transaction
    (the claim in process_webhook_batch makes a race with the normal path harmless)."""
    older_than = utcnow() - dt.timedelta(seconds=get_settings().WEBHOOK_SWEEP_AFTER_SECONDS)
    batch_ids = self.run_in_transaction(unprocessed_batch_ids, older_than)
    for batch_id in batch_ids:
        try:
            self.run_in_transaction(process_webhook_batch, batch_id)
        except EventsAhead as exc:  # its readers' batch is still being sent: the next sweep
            log.info("webhook batch %s waits: %s", batch_id, exc)
        except Exception:  # one batch that cannot be applied must not hold back the others
            log.exception("webhook batch %s could not be applied", batch_id)
    if batch_ids:
        log.warning("applied %s webhook batches whose queue message was lost", len(batch_ids))
    return len(batch_ids)


@app.task(name="workers.tasks.send_confirmation", bind=True, retry_on=(SendError,))
def send_confirmation(self, subscriber_id: int, failures: int = 0, follow: list | None = None) -> bool:
    """`follow`: [topic id, pace, edition id or None], the follow a public follow page asked for."""
    asked = confirmation.AskedFollow(*follow) if follow else None
    return confirmation.send_confirmation(self.session, subscriber_id, get_sender(), follow=asked) is not None


@app.task(name="workers.tasks.check_edition", bind=True)
def check_edition(self, edition_id: int) -> None:
    """The edition page's slow checks (links, spam score), run here so the page never waits for
    them; their results are kept for the edition's content, where the page finds them."""
    edition = get_edition(self.session, edition_id)
    if edition.status == EditionStatus.DRAFT:  # approved or sent meanwhile: nobody reads its checklist
        edition_checklist(edition)


# Acknowledged when done: a worker killed mid-import leaves the message to be delivered again, and
# the import resumes after its last committed batch (subscribers/imports.py: a later run takes the
# import over, so an earlier one still going never counts a batch twice). Its batches are each a
# transaction of their own, so that progress shows as it goes.
@app.task(name="workers.tasks.import_subscribers", bind=True, acks_late=True, reject_on_worker_lost=True,
          one_transaction=False)
def import_subscribers(self, import_id: int) -> str | None:
    state = imports.run_import(import_id)
    return state.value if state else None
