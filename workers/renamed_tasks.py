"""The names tasks had before they were named for where they live (`digest.feeds.poll_feed`
became `workers.tasks.poll_feed`): messages queued under an old name before an upgrade still run,
as the task that name became. Nothing publishes these names any more.

Delete this module (and its line in workers/app.py) in the release after the renaming, once no
queue holds a message under an old name (README, Operations: "Renamed tasks")."""

from __future__ import annotations

from digest.delivery.plan import batches_to_send
from digest.editions.lookup import get_edition
from digest.store.db import unit_of_work
from digest.store.models import EditionStatus
from workers import tasks
from workers.app import app

# old name -> the name it became
OLD_NAMES = {
    "digest.feeds.poll_due_feeds": "workers.tasks.poll_due_feeds",
    "digest.feeds.poll_feed": "workers.tasks.poll_feed",
    "digest.editions.tick": "workers.tasks.edition_tick",
    "digest.editions.start": "workers.tasks.start_edition",
    "digest.delivery.send_batch": "workers.tasks.send_batch",
    "digest.delivery.reconcile": "workers.tasks.reconcile_deliveries",
    "digest.webhooks.process": "workers.tasks.process_webhook",
    "digest.webhooks.sweep": "workers.tasks.sweep_webhooks",
    "digest.subscribers.send_confirmation": "workers.tasks.send_confirmation",
}


def send_listed_readers(edition_id: int, delivery_ids: list[int], failures: int = 0) -> int:
    """The old `send_batch` named its readers by their delivery ids; since migration 0011 a batch
    is a row of its own, and rows planned before it belong to none. Give every such row of the
    edition a batch and queue them: each is claimed before it is sent, so the several old messages
    of one edition send each reader once."""
    with unit_of_work() as session:
        if get_edition(session, edition_id).status != EditionStatus.SENDING:
            return 0  # paused or cancelled since: resume cuts the batches
        batches = batches_to_send(session, edition_id)
        tasks.enqueue_batches(session, edition_id, batches)
    return len(batches)


# Old names whose messages carry other arguments than the new task takes.
OLD_ARGUMENTS = {"digest.delivery.send_batch": send_listed_readers}


def _register_old_name(old_name: str, new_name: str) -> None:
    # A subclass of the task's own class: the same options (acks_late, bind, ...), answering to
    # the old name. Registering the one object under two names would not do: the worker builds one
    # tracer per task object, under whichever name it meets last.
    task_class = type(app.tasks[new_name])
    attributes = {"name": old_name}
    if old_name in OLD_ARGUMENTS:
        attributes["run"] = staticmethod(OLD_ARGUMENTS[old_name])
    app.register_task(type(task_class.__name__, (task_class,), attributes)())


for _old_name, _new_name in OLD_NAMES.items():
    _register_old_name(_old_name, _new_name)
