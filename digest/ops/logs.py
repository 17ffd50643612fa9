"""Log lines a machine can read: with LOG_FORMAT=json, web, workers and beat write one JSON object
per line with the time, level, logger and message, and the ids in play (edition, batch, delivery
count, feed, task id) taken from the log call's `extra`, from the context a task or request bound
with `bind_ids`, or from Celery's own task messages. Plain text stays the default."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging

# The ids a line may carry, each under one name whatever part of the service logs it.
ID_FIELDS = ("task_id", "task", "edition", "batch", "deliveries", "feed", "subscriber")
_bound: contextvars.ContextVar[dict] = contextvars.ContextVar("digest_log_ids", default={})


def bind_ids(**ids) -> contextvars.Token:
    """Add ids to every line logged from here on in this context; `unbind_ids(token)` ends it."""
    return _bound.set({**_bound.get(), **{k: v for k, v in ids.items() if v is not None}})


def unbind_ids(token: contextvars.Token) -> None:
    _bound.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_bound.get())
        # Celery's own task lines ("Task ...[id] received", "... succeeded in") pass the task as
        # a dict of arguments; the id and name in it are the ids of that line.
        if isinstance(record.args, dict) and "id" in record.args and "name" in record.args:
            entry.setdefault("task_id", str(record.args["id"]))
            entry.setdefault("task", str(record.args["name"]))
        for field in ID_FIELDS:
            value = getattr(record, field, None)
            if value is not None and value != "???":  # Celery's placeholder outside a task
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_early_lines_as_json() -> None:
    """Until Celery sets up its own handlers (then `use_format` formats them): Python's warnings
    and anything logged at start-up go to stderr as JSON too."""
    logging.captureWarnings(True)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers = [handler]


def use_format(logger: logging.Logger, log_format: str) -> None:
    """Give every handler of `logger` the format (Celery sets up its handlers, then this swaps
    their formatter; plain keeps Celery's own)."""
    if log_format != "json":
        return
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


def uvicorn_log_config(log_format: str) -> dict | None:
    """uvicorn's logging for `digest serve`: its own default for plain, else every logger (the
    app's, uvicorn's errors and access lines) through one JSON handler on stderr."""
    if log_format != "json":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {name: {"handlers": [], "propagate": True, "level": "INFO"}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
