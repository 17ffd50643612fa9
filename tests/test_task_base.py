"""The one base task (workers/base.py): every run in one unit of work, follow-up tasks enqueued
after commit through one helper, and the retry policy each task declares."""

from __future__ import annotations

import ast
import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from digest.ledger.states import reader_counts
from digest.ops.status import gather_status
from digest.store.db import unit_of_work
from digest.store.models import Delivery
from tests.conftest import REPO, Worker, wait_for
from tests.factories import sending_edition, subscribers
from workers import tasks

# Where a transaction is opened or a task held until commit by hand, rather than by the base.
OWN_TRANSACTIONS = ("workers",)
OWN_ENQUEUES = ("workers", "digest/web", "digest/cli")
THE_BASE = Path("workers/base.py")


def _calls(folders: tuple[str, ...], name: str) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = path.relative_to(REPO)
            if relative == THE_BASE:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                called = isinstance(node, ast.Call) and node.func
                if called and name in (getattr(called, "id", None), getattr(called, "attr", None)):
                    found.append(f"{relative}:{node.lineno}")
    return found


def test_no_task_opens_a_transaction_of_its_own():
    assert _calls(OWN_TRANSACTIONS, "unit_of_work") == [], "tasks run in the base task's unit of work"


def test_nothing_enqueues_on_commit_but_the_one_helper():
    assert _calls(OWN_ENQUEUES, "on_commit") == [], "enqueue after commit with workers/base.py:enqueue"


def _requeued(redis_client, queue: str, task) -> list[tuple[list, dict, str]]:
    """The messages for `task` waiting in `queue` (taken off it): args, kwargs and their ETA."""
    found = []
    for raw in redis_client.lrange(queue, 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == task.name:
            redis_client.lrem(queue, 1, raw)
            args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            found.append((args, kwargs, message["headers"]["eta"]))
    return found


def _seconds_ahead(eta: str) -> float:
    return (dt.datetime.fromisoformat(eta) - dt.datetime.now(dt.timezone.utc)).total_seconds()


def test_a_failure_worth_another_try_comes_back_as_a_fresh_message_that_counts_it(standin, redis_client):
    [reader] = subscribers("retry@example.org", confirmed=False)
    standin.fail_next.append(503)
    assert tasks.send_confirmation.run(reader) is None
    [(args, kwargs, eta)] = _requeued(redis_client, "editions", tasks.send_confirmation)
    assert (args, kwargs) == ([reader], {"failures": 1})
    # After the first failure: SEND_RETRY_BASE_SECONDS (5), with jitter both ways and the margin
    # a re-queue takes (requeue_countdown).
    assert 3.5 < _seconds_ahead(eta) <= 7


def test_the_back_off_doubles_with_each_failure(standin, redis_client):
    [reader] = subscribers("twice@example.org", confirmed=False)
    standin.fail_next.append(503)
    tasks.send_confirmation.run(reader, failures=2)
    [(_, kwargs, eta)] = _requeued(redis_client, "editions", tasks.send_confirmation)
    assert kwargs == {"failures": 3} and 15 < _seconds_ahead(eta) <= 27


def test_waiting_is_not_failing_the_batch_comes_back_with_the_same_count(standin, feed_server, redis_client):
    edition_id, [batch] = sending_edition(feed_server, "wait@example.org")
    standin.fail_next.append(429)
    tasks.send_batch.run(edition_id, batch, failures=3)
    [(args, kwargs, _)] = _requeued(redis_client, "delivery", tasks.send_batch)
    assert (args, kwargs) == ([edition_id, batch], {"failures": 3})
    assert standin.requests == []


def test_after_the_last_allowed_failure_the_batch_gives_up_visibly(standin, feed_server, redis_client, settings):
    edition_id, [batch] = sending_edition(feed_server, "last@example.org")
    standin.fail_next.append(503)
    assert tasks.send_batch.run(edition_id, batch, failures=settings.SEND_MAX_RETRIES) == 0
    assert _requeued(redis_client, "delivery", tasks.send_batch) == []
    with unit_of_work() as session:
        assert reader_counts(session, edition_id) == {"failed": 1}
        error = session.scalar(select(Delivery.error))
    assert error.startswith(f"gave up after {settings.SEND_MAX_RETRIES} retries") and "503" in error


def test_a_run_takes_one_connection_through_the_commits_it_makes(standin, feed_server, redis_client):
    """A send batch commits its claim, then its outcome, then the run ends: one connection taken
    from the pool (with its ping), not one after each commit."""
    from sqlalchemy import event

    from digest.store.db import get_engine

    edition_id, [batch] = sending_edition(feed_server, "one@example.org", "two@example.org")
    checkouts = []

    def taken(*_) -> None:
        checkouts.append(1)

    event.listen(get_engine(), "checkout", taken)
    try:
        assert tasks.send_batch.run(edition_id, batch) == 2
    finally:
        event.remove(get_engine(), "checkout", taken)
    assert len(checkouts) == 1


def test_an_error_the_provider_calls_permanent_is_not_retried(standin, redis_client):
    from digest.delivery.message import SendError

    [reader] = subscribers("refused@example.org", confirmed=False)
    standin.fail_next.append(401)
    with pytest.raises(SendError) as raised:
        tasks.send_confirmation.run(reader)
    assert raised.value.permanent
    assert _requeued(redis_client, "editions", tasks.send_confirmation) == []


def test_a_run_that_fails_writes_nothing_and_enqueues_nothing(settings, redis_client, monkeypatch):
    from digest.feeds import poll
    from digest.store.models import Subscriber

    def claims_then_fails(session, now):
        session.add(Subscriber(email="written@example.org", sections=[]))
        session.flush()
        raise OSError("the database went away")

    monkeypatch.setattr(poll, "claim_due_feeds", claims_then_fails)
    with pytest.raises(OSError):
        tasks.poll_due_feeds.run()
    with unit_of_work() as session:
        assert session.scalars(select(Subscriber)).all() == []
    assert _requeued(redis_client, "feeds", tasks.poll_feed) == []


def _runs() -> dict[str, int]:
    """The confirmation task's runs by outcome, as the ops page counts them."""
    runs = [task for task in gather_status()["tasks"] if task["name"] == "workers.tasks.send_confirmation"]
    return {outcome: runs[0][outcome] if runs else 0 for outcome in ("succeeded", "retried", "failed")}


@pytest.mark.slow
def test_a_confirmation_that_fails_twice_arrives_on_the_third_try_through_a_real_worker(
        service_env, standin, redis_client, tmp_path):
    [reader] = subscribers("third@example.org", confirmed=False)
    standin.fail_next.extend([503, 503])
    before = _runs()
    worker = Worker(dict(service_env, **standin.settings(), SEND_RETRY_BASE_SECONDS="0.2"),
                    tmp_path / "worker.log").start()
    try:
        tasks.send_confirmation.delay(reader)
        wait_for(lambda: standin.delivered.get("third@example.org"), timeout=30, what="the confirmation")
        # The run's outcome is recorded as it ends, a moment after the message left.
        wait_for(lambda: _runs()["succeeded"] > before["succeeded"], timeout=10, what="the run's record")
    finally:
        worker.stop()
    assert standin.arrived == 3 and dict(standin.delivered) == {"third@example.org": 1}
    log = (tmp_path / "worker.log").read_text()
    assert "failed (SendGrid answered 503" in log and "retry 2" in log, log[-2000:]
    after = _runs()
    assert {outcome: after[outcome] - before[outcome] for outcome in after} == \
        {"succeeded": 1, "retried": 2, "failed": 0}  # the ops page and /metrics count the retries


def test_a_task_runs_with_the_collector_paused_and_ends_by_collecting_what_it_left():
    """workers/app.py: a send batch paid for six collections, each walking its live readers;
    now one, after the task, of what the task left."""
    import gc
    import weakref

    from celery.signals import task_postrun, task_prerun

    import workers.app  # noqa: F401 - connects the collector's policy to the task signals

    class Node:
        pass

    assert gc.isenabled()
    task_prerun.send(sender=None, task_id="collector-test", task=None)
    try:
        assert not gc.isenabled()
        cycle = Node()
        cycle.itself = cycle
        left = weakref.ref(cycle)
        del cycle
        assert left() is not None  # reference counting alone never frees a cycle
    finally:
        task_postrun.send(sender=None, task_id="collector-test", task=None, state="SUCCESS")
    assert gc.isenabled() and left() is None
    collected: list[int] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "stop":
            collected.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        for _ in range(gc.get_threshold()[2] + 1):  # the oldest generation still gets its turn
            task_prerun.send(sender=None, task_id="collector-test", task=None)
            task_postrun.send(sender=None, task_id="collector-test", task=None, state="SUCCESS")
    finally:
        gc.callbacks.remove(seen)
    assert 2 in collected


def _batches_of_one(monkeypatch, feed_server, count: int) -> tuple[int, list[int]]:
    """An edition planned for `count` readers, a batch each, none sent yet."""
    from digest.config import get_settings

    monkeypatch.setenv("SEND_BATCH_SIZE", "1")
    get_settings.cache_clear()
    return sending_edition(feed_server, *(f"group{n}@example.org" for n in range(count)))


def test_planned_batches_are_queued_several_to_a_task(settings, feed_server, redis_client, monkeypatch):
    edition_id, batches = _batches_of_one(monkeypatch, feed_server, 12)
    with unit_of_work() as session:
        tasks.enqueue_batches(session, edition_id, batches)
    queued = [args for args, _, _ in _requeued(redis_client, "delivery", tasks.send_batches_in_turn)]
    per_task = tasks.BATCHES_PER_SEND_TASK
    assert per_task > 1 and sorted(queued) == [[edition_id, batches[start:start + per_task]]
                                               for start in range(0, 12, per_task)]


def test_the_last_slice_of_a_lane_sends_its_batches_one_a_task(settings, feed_server, redis_client, monkeypatch):
    """A send's tail spreads over every process: the batches of a lane's last slice go one a task."""
    from digest.config import get_settings
    from digest.delivery.plan import open_edition, release_edition
    from tests.factories import approved_edition, polled_feed

    monkeypatch.setenv("SEND_BATCH_SIZE", "1")
    monkeypatch.setenv("SEND_PLAN_SLICE_SIZE", "4")
    get_settings.cache_clear()
    polled_feed(feed_server)
    subscribers(*(f"lane{n}@example.org" for n in range(12)))
    edition_id = approved_edition()
    with unit_of_work() as session:
        release_edition(session, edition_id)
    with unit_of_work() as session:
        slices = open_edition(session, edition_id)
    assert len(slices) >= 3
    first, last = slices[0], slices[-1]  # the first has a slice after it in its lane; the last none
    sizes = {}
    for number in (first, last):
        tasks.plan_slice.run(edition_id, number)
        sizes[number] = sorted(len(args[1]) for args, _, _ in
                               _requeued(redis_client, "delivery", tasks.send_batches_in_turn))
    assert sizes[first] == [sum(sizes[first])] and 1 < sum(sizes[first]) <= tasks.BATCHES_PER_SEND_TASK
    assert sizes[last] == [1] * len(sizes[last]) and len(sizes[last]) > 1


def _send_runs() -> dict[str, int]:
    runs = [task for task in gather_status()["tasks"] if task["name"] == "workers.tasks.send_batch"]
    return {outcome: runs[0][outcome] if runs else 0 for outcome in ("succeeded", "retried", "failed")}


def test_a_batch_sent_back_goes_alone_while_its_task_sends_the_rest(standin, feed_server, redis_client, monkeypatch):
    edition_id, batches = _batches_of_one(monkeypatch, feed_server, 3)
    standin.fail_next.extend([None, 503])  # the second request of the three fails
    retried = _send_runs()["retried"]
    assert tasks.send_batches_in_turn.run(edition_id, batches) == 2
    [(args, kwargs, _)] = _requeued(redis_client, "delivery", tasks.send_batch)
    assert (args, kwargs) == ([edition_id, batches[1]], {"failures": 1})
    assert _requeued(redis_client, "delivery", tasks.send_batches_in_turn) == []
    assert sorted(standin.delivered) == ["group0@example.org", "group2@example.org"]
    assert _send_runs()["retried"] == retried + 1  # the ops page and /metrics count it, as a lone batch's


def test_a_batch_that_raises_leaves_the_rest_queued_before_its_error(standin, feed_server, redis_client, monkeypatch):
    from sqlalchemy import update

    from digest.errors import Conflict
    from digest.store.models import EditionRender

    edition_id, batches = _batches_of_one(monkeypatch, feed_server, 3)
    with unit_of_work() as session:  # the pinned render no longer matches its hash: no batch may go
        session.execute(update(EditionRender).where(EditionRender.edition_id == edition_id)
                        .values(content_hash="0" * 64))
    with pytest.raises(Conflict):
        tasks.send_batches_in_turn.run(edition_id, batches)
    [(args, _, _)] = _requeued(redis_client, "delivery", tasks.send_batches_in_turn)
    assert args == [edition_id, batches[1:]]
    assert standin.requests == []
    with unit_of_work() as session:  # the first batch was given back, its readers waiting
        assert reader_counts(session, edition_id) == {"pending": 3}


@pytest.mark.slow
def test_a_task_of_batches_through_a_real_worker_sends_each_once_and_retries_one_alone(
        service_env, standin, feed_server, redis_client, monkeypatch, tmp_path):
    edition_id, batches = _batches_of_one(monkeypatch, feed_server, 4)
    standin.fail_next.extend([None, 503])
    before = _send_runs()
    worker = Worker(dict(service_env, **standin.settings(), SEND_RETRY_BASE_SECONDS="0.2"),
                    tmp_path / "worker.log").start()
    try:
        tasks.send_batches_in_turn.delay(edition_id, batches)
        wait_for(lambda: len(standin.delivered) == 4, timeout=30, what="every reader")
        wait_for(lambda: _send_runs()["succeeded"] > before["succeeded"], timeout=10, what="the retry's record")
    finally:
        worker.stop()
    assert dict(standin.delivered) == {f"group{n}@example.org": 1 for n in range(4)}
    after = _send_runs()
    assert {outcome: after[outcome] - before[outcome] for outcome in after} == \
        {"succeeded": 1, "retried": 1, "failed": 0}
