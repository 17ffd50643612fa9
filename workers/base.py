"""The one base of every task, and the one way to enqueue a task after a commit.

A task is its few lines of intent. `DigestTask` runs it in one unit of work (`self.session`),
re-queues it after an error it declares worth another try, and gives up after the last one;
`enqueue` holds a task back until the transaction that made its rows commits (the tasks, the web
and the CLI all enqueue through it), so a rolled-back transaction enqueues nothing.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from typing import Callable, TypeVar

import celery
from celery.exceptions import Retry
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.delivery.message import SendError, Throttled
from digest.delivery.ratelimit import requeue_countdown
from digest.store.db import on_commit, unit_of_work

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BACKOFF_SECONDS = 600.0


def backoff(failures: int) -> float:
    """Exponential back-off with jitter after the n-th failure, within the queue's safe countdown."""
    base = get_settings().SEND_RETRY_BASE_SECONDS
    return requeue_countdown(min(MAX_BACKOFF_SECONDS, base * 2 ** failures) * random.uniform(0.8, 1.2))


def enqueue(session: Session, task: celery.Task, *args, **kwargs) -> None:
    """Send `task(*args, **kwargs)` once this session's transaction commits; never if it rolls back."""
    on_commit(session, lambda: task.delay(*args, **kwargs))


def enqueue_or_log(session: Session, task: celery.Task, *args) -> None:
    """As `enqueue`, for a caller whose committed row is the record and whose answer must not fail
    with the queue down (a kept webhook batch: beat's sweep applies it a minute later)."""
    def send() -> None:
        try:
            task.delay(*args)
        except Exception:  # noqa: BLE001 - Redis down or restarting; the stored row is the record
            log.exception("%s%r committed but not queued; beat's sweep takes it", task.name, args)
    on_commit(session, send)


class _Run(threading.local):
    """The run in progress on this thread: its session, and what to do if it rolls back."""
    session: Session | None = None
    if_rolled_back: list[Callable[[], object]] | None = None


_run = _Run()


class DigestTask(celery.Task):
    """The base of every task (workers/app.py makes it the app's task class).

    A task's retry policy is declared with its options, `@app.task(..., retry_on=(SendError,))`.
    A failure is counted in the message itself, in the task's `failures` argument (a task that
    retries takes `failures: int = 0`), and each try is a fresh message after a countdown the
    queue can hold safely, never a long ETA."""

    # Errors of the system worth another try: a fresh message after `retry_countdown`, with one
    # more failure; past `max_failures` the task calls `give_up`.
    retry_on: tuple[type[Exception], ...] = ()
    # Errors that only say "not yet" (our rate limit, a 429): waiting is not failing, so the task
    # comes back after their `wait` with the same failure count.
    waits_on: tuple[type[Throttled], ...] = ()
    max_failures: int | None = None  # None: SEND_MAX_RETRIES
    retry_every: float | None = None  # a fixed countdown instead of the back-off
    # False for a task whose items each take a transaction of their own (`run_in_transaction`),
    # so that one item that cannot be applied does not undo the others.
    one_transaction: bool = True

    def __new__(cls, *args, **kwargs):
        task = super().__new__(cls)
        body = task.run

        @functools.wraps(body)
        def run(*args, **kwargs):
            return task._run_by_policy(body, args, kwargs)
        task.run = run  # also what a direct `task.run(...)` (a test) goes through
        return task

    @property
    def session(self) -> Session:
        """The session of this run's unit of work."""
        if _run.session is None:
            raise RuntimeError(f"{self.name} has no unit of work outside its run")
        return _run.session

    def if_rolled_back(self, callback: Callable[[], object]) -> None:
        """Call `callback` if this run's transaction rolls back (the task then fails as it would)."""
        _run.if_rolled_back.append(callback)

    def run_in_transaction(self, work: Callable[..., T], *args) -> T:
        """`work(session, *args)` in a unit of work of its own, committed when it returns."""
        with unit_of_work() as session:
            return work(session, *args)

    def retryable(self, exc: Exception) -> bool:
        if isinstance(exc, SendError) and exc.permanent:  # the provider says a retry cannot help
            return False
        return isinstance(exc, self.retry_on)

    def retry_countdown(self, exc: Exception, failures: int) -> float:
        if self.retry_every is not None:
            return self.retry_every
        if isinstance(exc, SendError) and exc.retry_after:  # the provider named its wait
            return requeue_countdown(exc.retry_after)
        return backoff(failures)

    def give_up(self, exc: Exception, *args, **kwargs):
        """After the last try: the task fails, visibly (a task may leave a trace instead)."""
        raise exc

    def _run_by_policy(self, body: Callable, args: tuple, kwargs: dict):
        failures = kwargs.get("failures", 0)
        try:
            return self._in_unit_of_work(body, args, kwargs) if self.one_transaction else body(*args, **kwargs)
        except self.waits_on as exc:
            self._again(args, kwargs, failures, requeue_countdown(exc.wait))
        except Exception as exc:
            if not self.retryable(exc):
                raise
            allowed = get_settings().SEND_MAX_RETRIES if self.max_failures is None else self.max_failures
            if failures >= allowed:
                return self.give_up(exc, *args, **kwargs)
            log.warning("%s%r failed (%s); retry %s", self.name, args, exc, failures + 1)
            countdown = self.retry_countdown(exc, failures)
            self._again(args, kwargs, failures + 1, countdown)
            if not self.request.called_directly:
                # In a worker, this run ends as Celery's retry state (the fresh message above is
                # the retry): the ops page and /metrics count it as retried, not succeeded.
                raise Retry(f"retry {failures + 1} in {countdown:.1f}s", exc=exc, when=countdown) from exc
        return None

    def _in_unit_of_work(self, body: Callable, args: tuple, kwargs: dict):
        outer = _run.session, _run.if_rolled_back
        _run.if_rolled_back = []
        try:
            # One connection for the run: a send batch commits its claim and its outcome on the way.
            with unit_of_work(hold_connection=True) as session:
                _run.session = session
                return body(*args, **kwargs)
        except BaseException:
            for callback in _run.if_rolled_back:
                callback()
            raise
        finally:
            _run.session, _run.if_rolled_back = outer

    def _again(self, args: tuple, kwargs: dict, failures: int, countdown: float) -> None:
        self.apply_async(args, {**kwargs, "failures": failures}, countdown=countdown)
