"""The Celery app: `celery -A workers.app worker` and `celery -A workers.app beat`."""

import gc
import logging

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from digest.delivery.backends import get_sender
from digest.delivery.send import prepare_statements
from digest.editions.render import prepare_rendering
from digest.store.db import forget_inherited_connections, get_engine
from workers import logs as _logs  # noqa: F401 - logs in the format LOG_FORMAT names
from workers import signals as _signals  # noqa: F401 - connects the operators' records

app = Celery("analyst_digest", include=["workers.tasks"], task_cls="workers.base:DigestTask")
app.config_from_object("workers.config")


log = logging.getLogger(__name__)


@worker_init.connect
def _prepare_before_forking(**_) -> None:
    # Before the pool forks: the database driver imported, the engine made and the models'
    # mappers configured once, inherited by every child, instead of costing each child's first
    # task (the first batch of a send waited for it).
    get_engine()
    configure_mappers()
    _prepare_sender()  # its modules imported here, shared with the children
    prepare_rendering()  # the email templates compiled once, for every child's first edition
    _compile_statements()
    collect_as_a_worker()


def collect_as_a_worker() -> None:
    """The collector as a worker runs it (inherited by the pool's children): everything made so
    far lives as long as the worker, so it is moved out of the collector's reach. A full
    collection in a pool child then walks only what tasks made, not every module, model and
    compiled statement; the children also keep sharing these pages with the parent instead of
    copying them as the collector writes to each object.

    Python's thresholds stay: at a first threshold of 20,000 objects instead of 700 the collector
    took 0.4 ms of a send batch instead of 3 ms (bench/send_batch_profile.py), but what a batch's
    reference cycles hold (its request among them) then waited several batches for a collection:
    186 MiB a worker at 300,000 readers and 266 MiB at 1,000,000, against 133 MiB. So within a
    task the collector waits (`pause_collector`), and each task ends with one collection of what
    it left (`collect_what_the_task_left`): a cycle lives no longer than its task, and a send
    batch pays for one collection instead of six."""
    gc.freeze()


@task_prerun.connect
def pause_collector(**_) -> None:
    # What a task makes is freed by reference counting as it goes; the collector, which ran
    # every 700 allocations, found little but walked the batch's live readers each time.
    gc.disable()


@task_postrun.connect
def collect_what_the_task_left(**_) -> None:
    # Sent after every task, whatever its outcome. The two younger generations hold only what
    # was made since the last task; the oldest is collected as often as Python's own rule would
    # (after its threshold of younger collections), since with the collector paused through
    # every task its automatic runs would hardly ever come.
    gc.enable()
    gc.collect(2 if gc.get_count()[2] >= gc.get_threshold()[2] else 1)


def _compile_statements() -> None:
    """A send batch's statements compiled in the parent, kept by every child (send.py says why);
    the parent then keeps no connection of its own."""
    try:
        prepare_statements()
    except SQLAlchemyError as exc:
        log.warning("worker started without its statements compiled (the database?): %s", exc)
    get_engine().dispose()


def _prepare_sender() -> None:
    try:
        get_sender().prepare()
    except Exception as exc:  # noqa: BLE001 - the first send reports a bad configuration, as it would
        log.warning("the delivery backend could not be made ready: %s", exc)


@worker_process_init.connect
def _fresh_connections(**_) -> None:
    forget_inherited_connections()
    try:  # a connection ready for the first task; a database not up yet is the task's problem
        with get_engine().connect():
            pass
    except SQLAlchemyError as exc:
        log.warning("worker process started without a database connection: %s", exc)
    _prepare_sender()
    gc.freeze()  # what the child made at start-up, likewise
