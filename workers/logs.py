"""Celery's logging in the format LOG_FORMAT names (digest.ops.logs): the worker's and beat's
handlers get the JSON formatter once Celery has made them, the worker's start-up banner (plain
text on stdout) is left out, and each task's lines carry its id and the ids its arguments name."""

from __future__ import annotations

import inspect

from celery.signals import after_setup_logger, after_setup_task_logger, celeryd_init

from digest.config import get_settings
from digest.ops.logs import log_early_lines_as_json, use_format

# A task argument -> the log field it fills (digest.ops.logs.ID_FIELDS).
_ID_ARGUMENTS = {"edition_id": "edition", "feed_id": "feed", "batch_id": "batch", "subscriber_id": "subscriber"}


@after_setup_logger.connect
@after_setup_task_logger.connect
def _format_handlers(logger=None, **_) -> None:
    use_format(logger, get_settings().LOG_FORMAT)


@celeryd_init.connect
def _json_from_the_start(instance=None, **_) -> None:
    # Sent before the worker checks its privileges (a warning) and prints its banner (plain text).
    if get_settings().LOG_FORMAT == "json":
        log_early_lines_as_json()
        instance.quiet = True


def task_ids(task, args, kwargs) -> dict:
    """The ids a task's arguments name: edition, feed, send or webhook batch, subscriber."""
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {})).arguments
    except TypeError:
        return {}
    return {field: bound[name] for name, field in _ID_ARGUMENTS.items() if name in bound}
