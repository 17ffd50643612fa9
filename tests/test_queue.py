"""Tasks are enqueued only once the transaction that made their rows has committed."""

import json

import pytest

from digest.store.db import on_commit, unit_of_work
from digest.store.models import Subscriber
from digest.delivery import plan
from workers import tasks
from workers.app import app
from workers.tasks import PLANNING_LANES, poll_feed, send_batch

HOLD = "test-hold"  # a queue no worker consumes, so the message stays where we can see it


@pytest.fixture
def held(redis_client):
    redis_client.delete(HOLD)
    yield lambda: [json.loads(m)["headers"] for m in redis_client.lrange(HOLD, 0, -1)]
    redis_client.delete(HOLD)


def test_a_rolled_back_transaction_enqueues_nothing(settings, held):
    with pytest.raises(RuntimeError), unit_of_work() as session:
        session.add(Subscriber(email="x@example.org", sections=[]))
        on_commit(session, lambda: poll_feed.apply_async((1,), queue=HOLD))
        raise RuntimeError("something failed after the row was written")
    assert held() == []


def test_a_committed_transaction_enqueues_after_the_commit(settings, held):
    seen_at_enqueue = []
    with unit_of_work() as session:
        session.add(Subscriber(email="y@example.org", sections=[]))
        session.flush()

        def enqueue():
            # The row is visible to another connection by the time the task is sent.
            with unit_of_work() as other:
                seen_at_enqueue.append(other.query(Subscriber).filter_by(email="y@example.org").count())
            poll_feed.apply_async((1,), queue=HOLD)

        on_commit(session, enqueue)
        assert held() == []
    assert seen_at_enqueue == [1]
    assert [h["task"] for h in held()] == ["workers.tasks.poll_feed"]


def test_a_slice_whose_planning_fails_still_queues_the_rest_of_its_lane(settings, monkeypatch):
    def fails(session, edition_id, number):
        raise OSError("the database went away")

    queued = []
    monkeypatch.setattr(plan, "plan_slice", fails)
    monkeypatch.setattr(tasks.plan_slice, "delay", lambda *args: queued.append(args))
    with pytest.raises(OSError):
        tasks.plan_slice.run(7, 3)
    assert queued == [(7, 3 + PLANNING_LANES)]
    # A worker killed mid-slice leaves the message to run again, rather than ending its lane.
    assert tasks.plan_slice.acks_late and tasks.plan_slice.reject_on_worker_lost


def test_send_batches_wait_in_the_delivery_queue_and_feeds_in_theirs(settings, redis_client):
    # The delivery workers (Procfile) consume "delivery" alone: a send never waits behind polls.
    before = {queue: redis_client.llen(queue) for queue in ("delivery", "feeds")}
    send_batch.delay(999_999, [1])
    poll_feed.delay(999_999)
    # Kombu pushes on the left: the newest message is the first, taken back here.
    arrived = {queue: json.loads(redis_client.lpop(queue))["headers"]["task"] for queue in before}
    assert arrived == {"delivery": send_batch.name, "feeds": poll_feed.name}


def test_every_beat_entry_names_a_task_the_workers_run():
    import workers.tasks  # noqa: F401 - registers the tasks

    assert {entry["task"] for entry in app.conf.beat_schedule.values()} <= set(app.tasks)


def test_every_task_is_named_for_where_it_lives_and_routed_to_its_queue():
    import workers.tasks  # noqa: F401 - registers the tasks

    ours = {name: task for name, task in app.tasks.items() if type(task).__module__ == "workers.tasks"}
    assert ours and all(name == f"workers.tasks.{task.run.__name__}" for name, task in ours.items())
    assert set(app.conf.task_routes) == set(ours), "a task without a route waits in the default queue"
    # Nothing else answers but Celery's own tasks: the names before the renaming are gone since 0.2.0.
    assert {name for name in app.tasks if not name.startswith("celery.")} == set(ours)
