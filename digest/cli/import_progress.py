"""`digest subscribers import` follows its import as a worker runs it: a progress bar on
standard error, then every bad row and a summary on standard output."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from digest.cli.common import console, err, transaction
from digest.errors import InputError
from digest.subscribers.imports import import_progress

POLL_SECONDS = 0.3
# How long an import may wait in its queue before the command looks for a worker that takes it.
NO_WORKER_AFTER_SECONDS = 5.0


def _import_queue() -> str:
    from workers.config import task_routes

    return task_routes["workers.tasks.import_subscribers"]["queue"]


def _worker_online(queue: str) -> bool:
    """Whether a worker that consumes `queue` has sent a heartbeat lately (as the ops page tells)."""
    from digest.ops.records import redis_client
    from digest.ops.status import worker_status

    return any(w["state"] == "online" and queue in w.get("queues", ())
               for w in worker_status(redis_client(), time.time()))


def follow_import(import_id: int, name: str) -> dict:
    """Poll the import's progress until it ends; its final progress. InputError if it waits in
    its queue with no worker to take it."""
    queued_since = time.monotonic()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("lines"),
                  console=err, transient=True) as bar:
        shown = bar.add_task(f"importing {name}", total=None)
        while True:
            with transaction() as session:
                progress = import_progress(session, import_id)
            bar.update(shown, total=progress["lines"], completed=progress["lines_done"])
            if progress["finished"]:
                return progress
            waited = time.monotonic() - queued_since
            if progress["state"] == "queued" and waited > NO_WORKER_AFTER_SECONDS and not _worker_online(
                    queue := _import_queue()):
                err.print(f"No worker is running for the {queue} queue: import {import_id} stays queued "
                          f"and runs when one starts (`celery -A workers.app worker -Q {queue}`)", highlight=False)
                raise SystemExit(3)
            time.sleep(POLL_SECONDS)


def print_outcome(progress: dict) -> bool:
    """Every bad row, then the summary; whether any row was bad. InputError if the file was
    refused whole or the import failed."""
    for problem in progress["problems"]:
        console.print(f"line {problem['line']}: {problem['reason']}", markup=False, highlight=False, soft_wrap=True)
    if progress["problems_not_listed"]:
        console.print(f"... and {progress['problems_not_listed']} more bad rows, not listed", highlight=False)
    if progress["state"] == "failed":
        raise InputError(progress["error"])
    console.print(f"{progress['rows']} rows: {progress['created']} created, {progress['updated']} updated, "
                  f"{progress['unchanged']} unchanged, {progress['skipped']} skipped", highlight=False)
    return progress["skipped"] > 0
