"""What workers and beat tell operators, through Celery's signals: the publish time stamped on
each message, a heartbeat record per worker, and every task's outcome and runtime
(digest.ops.records keeps them in Redis, bounded; digest.counters adds them to the
service-wide totals /metrics shows)."""

from __future__ import annotations

import os
import time
import traceback

from celery import current_app
from celery.signals import (before_task_publish, heartbeat_sent, task_failure, task_postrun,
                            task_prerun, worker_shutdown)
from celery.worker import state as worker_state

from digest.counters import record_task_run
from digest.ops.logs import bind_ids, unbind_ids
from digest.ops.queues import PUBLISHED_AT
from digest.ops.records import forget_worker, record_failure, record_task, record_worker_heartbeat
from workers.logs import task_ids

_started: dict[str, float] = {}
_log_ids: dict[str, object] = {}  # task id -> the token that ends its log ids
_OUTCOME = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}


@before_task_publish.connect
def _stamp_publish_time(headers=None, **_) -> None:
    # The age of the oldest waiting message is read from this header (digest.ops.queues).
    if headers is not None:
        headers.setdefault(PUBLISHED_AT, time.time())


@heartbeat_sent.connect
def _record_heartbeat(sender=None, **_) -> None:
    # Sent by the worker's main process every heartbeat interval (2 s).
    record_worker_heartbeat(sender.eventer.hostname, list(current_app.amqp.queues.consume_from or ()),
                            active=len(worker_state.active_requests), processed=worker_state.all_total_count[0],
                            pid=os.getpid())


@worker_shutdown.connect
def _forget(sender=None, **_) -> None:
    forget_worker(sender.hostname)


@task_prerun.connect
def _task_started(task_id=None, task=None, args=None, kwargs=None, **_) -> None:
    _started[task_id] = time.monotonic()
    if task is not None:
        _log_ids[task_id] = bind_ids(task_id=task_id, task=task.name, **task_ids(task, args, kwargs))


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **_) -> None:  # noqa: A002
    began = _started.pop(task_id, None)
    if task_id in _log_ids:
        unbind_ids(_log_ids.pop(task_id))
    outcome = _OUTCOME.get(state)
    if outcome and task is not None:
        record_outcome(task.name, outcome, time.monotonic() - began if began is not None else None)


def record_outcome(name: str, outcome: str, runtime: float | None) -> None:
    """A task's run, for the ops page and /metrics: its outcome, and its run time if known."""
    record_task(name, outcome, runtime)
    record_task_run(name, outcome, runtime)


@task_failure.connect
def _task_failed(sender=None, task_id=None, exception=None, einfo=None, **_) -> None:
    text = str(einfo) if einfo is not None else "".join(traceback.format_exception(exception))
    record_failure(sender.name if sender else "unknown", task_id,
                   f"{type(exception).__name__}: {exception}", text)
