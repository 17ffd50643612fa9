"""Operations: `digest ops ...`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from digest.cli.common import EditionId, console, ops_app, send_action, transaction, who_runs_it
from digest.errors import InputError


@ops_app.command("status")
def ops_status(as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False) -> None:
    """Queues, workers, tasks, beat, feeds, sends and dependencies; exits 1 while a threshold is
    crossed (for cron and probes)."""
    import json

    from digest.cli.status_view import print_status
    from digest.ops.status import gather_status

    status = gather_status()
    if as_json:
        sys.stdout.write(json.dumps(status, indent=2) + "\n")
    else:
        print_status(status)
    if status["warnings"]:
        raise typer.Exit(1)


@ops_app.command("purge")
def ops_purge(queue: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False) -> None:
    """Drop every waiting message of a queue (send batches are re-issued by reconciliation)."""
    from digest.ops.actions import purge
    from digest.ops.queues import QUEUES
    from digest.ops.records import redis_client

    if queue not in QUEUES:
        raise InputError(f"queue {queue!r} is not one of: {', '.join(QUEUES)}")
    if not yes and not typer.confirm(f"Drop every waiting message on {queue}?"):
        raise typer.Exit(1)
    with transaction() as session:
        count = purge(session, redis_client(), queue, **who_runs_it())
    console.print(f"queue {queue} purged: {count} messages dropped")


@ops_app.command("retry-failed")
def ops_retry_failed(edition_id: EditionId) -> None:
    """Send an edition's failed deliveries again (they never reached the provider)."""
    batches = send_action(edition_id, "retry-failed").batches
    console.print(f"edition {edition_id}: failed deliveries pending again; {len(batches)} batches queued")


@ops_app.command("discard-failed")
def ops_discard_failed(edition_id: EditionId) -> None:
    """Give an edition's failed deliveries up for good (they become cancelled)."""
    count = send_action(edition_id, "discard-failed").deliveries
    console.print(f"edition {edition_id}: {count} failed deliveries discarded")
