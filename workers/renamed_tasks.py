"""The names tasks had before they were named for where they live (`digest.feeds.poll_feed`
became `workers.tasks.poll_feed`): messages queued under an old name before an upgrade still run,
as the task that name became. Nothing publishes these names any more.

Delete this module (and its line in workers/app.py) in the release after the renaming, once no
queue holds a message under an old name (README, Operations: "Renamed tasks")."""

from __future__ import annotations

from workers import tasks as _tasks  # noqa: F401 - registers the tasks the old names stand for
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


def _register_old_name(old_name: str, new_name: str) -> None:
    # A subclass of the task's own class: the same function and options (acks_late, bind, ...),
    # answering to the old name. Registering the one object under two names would not do: the
    # worker builds one tracer per task object, under whichever name it meets last.
    task_class = type(app.tasks[new_name])
    app.register_task(type(task_class.__name__, (task_class,), {"name": old_name})())


for _old_name, _new_name in OLD_NAMES.items():
    _register_old_name(_old_name, _new_name)
