"""The Celery app: `celery -A workers.app worker` and `celery -A workers.app beat`."""

from celery import Celery
from celery.signals import worker_process_init

from digest.store.db import dispose_engines
from workers import logs as _logs  # noqa: F401 - logs in the format LOG_FORMAT names
from workers import signals as _signals  # noqa: F401 - connects the operators' records

# renamed_tasks: old task names still accepted for one release (README, "Renamed tasks").
app = Celery("analyst_digest", include=["workers.tasks", "workers.renamed_tasks"])
app.config_from_object("workers.config")


@worker_process_init.connect
def _fresh_connections(**_) -> None:
    # A prefork child inherits the parent's pooled sockets; sharing them corrupts both.
    dispose_engines()
