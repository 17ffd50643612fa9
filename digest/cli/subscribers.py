"""Subscribers: `digest subscribers ...`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from digest.cli.common import console, local_time, subscribers_app, transaction, who_runs_it
from digest.cli.listing import Column, print_json, print_list
from digest.errors import InputError


@subscribers_app.command("add")
def subscribers_add(email: str, name: Annotated[Optional[str], typer.Option(help="Display name")] = None,
                    confirmed: Annotated[bool, typer.Option("--confirmed", help="Skip double opt-in (consent already given)")] = False) -> None:
    """Add a subscriber whose consent you hold (a suppressed address is refused)."""
    from digest.subscribers.lifecycle import add_subscriber

    with transaction() as session:
        subscriber = add_subscriber(session, email, name=name, confirmed=confirmed)
        console.print(f"subscriber {subscriber.id} added: {subscriber.email} ({subscriber.status.value})")


@subscribers_app.command("signup")
def subscribers_signup(email: str, name: Annotated[Optional[str], typer.Option(help="Display name")] = None) -> None:
    """Sign someone up as the web form does: they get a confirmation email (double opt-in)."""
    from digest.subscribers.lifecycle import sign_up
    from workers.base import enqueue
    from workers.tasks import send_confirmation

    with transaction() as session:
        signup = sign_up(session, email, name=name, source="cli")
        if signup.send_confirmation:
            enqueue(session, send_confirmation, signup.subscriber_id)
    console.print("confirmation email queued" if signup.send_confirmation else
                  "no email sent: this address has had its confirmation emails for now")


def _status(value: Optional[str]):
    from digest.store.models import SubscriberStatus

    if value is None:
        return None
    try:
        return SubscriberStatus(value)
    except ValueError:
        raise InputError(f"--status {value!r} must be one of: {', '.join(s.value for s in SubscriberStatus)}") from None


SUBSCRIBER_COLUMNS = [
    Column("id", "id"), Column("email", "email"), Column("status", "status"),
    Column("paused", "paused", show=lambda paused: "paused" if paused else "", optional=True),
    Column("since", "created_at", optional=True), Column("name", "name", show=lambda name: name or "", wraps=True, optional=True),
]


@subscribers_app.command("list")
def subscribers_list(status: Annotated[Optional[str], typer.Option(help="pending, confirmed or unsubscribed")] = None,
                     as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """Subscribers (all, or those with one status)."""
    from digest.subscribers.lifecycle import list_subscribers

    with transaction() as session:
        rows = [{"id": s.id, "email": s.email, "name": s.name, "status": s.status.value, "paused": s.paused_now,
                 "created_at": s.created_at} for s in list_subscribers(session, status=_status(status))]
    print_list(rows, SUBSCRIBER_COLUMNS, as_json=as_json, empty="no subscriber" + (f" is {status}" if status else " yet"))


@subscribers_app.command("sunset")
def subscribers_sunset(
        pause: Annotated[bool, typer.Option("--pause", help="Pause the inactive readers (no open or click by anyone)")] = False,
        pause_unknown: Annotated[bool, typer.Option("--pause-unknown", help=(
            "Pause the unknown readers too (only machines opened or clicked: we cannot tell whether they read)"))] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the counts and readers as JSON")] = False) -> None:
    """The sunset view: readers delivered each of the last SUNSET_EDITIONS editions whom no person
    was seen opening or clicking, inactive (nothing at all) and unknown (only machines) apart; with
    --pause, pause the inactive ones (audited as yours). The unknown are paused only with
    --pause-unknown."""
    from digest.config import get_settings
    from digest.errors import Conflict
    from digest.reports.sunset import INACTIVE, UNKNOWN, pause_inactive, sunset_readers

    settings = get_settings()
    if not (settings.TRACK_OPENS or settings.TRACK_CLICKS):
        raise Conflict("opens and clicks are not tracked (TRACK_OPENS and TRACK_CLICKS are off): every reader "
                       "would look inactive, so nothing is listed")
    editions = settings.SUNSET_EDITIONS
    paused = {}
    with transaction() as session:
        for chosen, activity in ((pause, INACTIVE), (pause_unknown, UNKNOWN)):
            if chosen:
                paused[activity] = pause_inactive(session, editions, activity=activity, **who_runs_it())
    with transaction() as session:
        view = sunset_readers(session, editions)
    if as_json:
        print_json({"editions": editions, "judged": view.judged, "inactive": view.inactive,
                    "unknown": view.machine_only, "paused": paused, "readers": view.readers})
        return
    for activity, count in paused.items():
        console.print(f"paused {count} {'inactive' if activity == INACTIVE else 'unknown'} readers", highlight=False)
    if not view.judged:
        console.print(f"fewer than {editions} editions have gone out (SUNSET_EDITIONS): too soon to call anyone inactive")
        return
    console.print(f"over the last {editions} editions: {view.inactive} inactive (no open or click by anyone), "
                  f"{view.machine_only} unknown (only machines opened or clicked; paused only with --pause-unknown)",
                  highlight=False)
    print_list(view.readers, SUNSET_COLUMNS, as_json=False, empty="no one to list",
               title=f"the first {len(view.readers)}" if view.total > len(view.readers) else None)


SUNSET_COLUMNS = [Column("id", "id"), Column("email", "email"),
                  Column("activity", "activity", show=lambda a: "unknown: machines only" if a == "unknown" else a),
                  Column("confirmed", "confirmed_at", show=lambda at: local_time(at) if at else "", optional=True)]


@subscribers_app.command("suppress")
def subscribers_suppress(email: str,
                         reason: Annotated[str, typer.Option(help="operator, hard_bounce, spam_report, block or unsubscribe")] = "operator",
                         note: Annotated[Optional[str], typer.Option(help="Why, for the record")] = None) -> None:
    """Never send to this address again (until its owner confirms a new sign-up)."""
    from digest.store.models import SuppressionReason
    from digest.subscribers.suppressions import suppress

    allowed = [r.value for r in SuppressionReason if r not in (SuppressionReason.FORGOTTEN, SuppressionReason.SOFT_BOUNCES)]
    if reason not in allowed:
        raise InputError(f"--reason {reason!r} must be one of: {', '.join(allowed)}")
    with transaction() as session:
        entry = suppress(session, email, SuppressionReason(reason), source="operator", detail=note)
        console.print(f"{entry.email or email} is suppressed ({entry.reason.value}, since {local_time(entry.created_at)})")


@subscribers_app.command("import")
def subscribers_import(file: Annotated[Path, typer.Argument(metavar="FILE.csv")],
                       no_wait: Annotated[bool, typer.Option("--no-wait", help="Only queue the import")] = False) -> None:
    """Import subscribers from a CSV file: a worker imports it, and this follows its progress.

    Columns: email, name, sections, confirmed_at, source; others are kept as attributes. Never
    re-activates a suppressed or unsubscribed address; every bad row is reported with its line
    number, and the import goes on. Running it again changes nothing. Exits 1 if any row was bad,
    2 if the file cannot be read or is refused whole."""
    from digest.cli.import_progress import follow_import, print_outcome
    from digest.subscribers.imports import keep_upload
    from workers.base import enqueue
    from workers.tasks import import_subscribers

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    with transaction() as session:
        import_id = keep_upload(session, data, what=str(file), actor="cli")
        enqueue(session, import_subscribers, import_id)
    if no_wait:
        console.print(f"import {import_id} queued", highlight=False)
        return
    if print_outcome(follow_import(import_id, file.name)):
        raise typer.Exit(1)


@subscribers_app.command("export")
def subscribers_export(status: Annotated[Optional[str], typer.Option(help="pending, confirmed or unsubscribed")] = None,
                       out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of stdout")] = None) -> None:
    """Write subscribers as CSV (the columns `import` reads, then state and attributes)."""
    from digest.subscribers.csv_export import export_subscribers

    chosen = _status(status)
    with transaction() as session:
        if out is None:
            count = export_subscribers(session, sys.stdout, chosen)
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = export_subscribers(session, handle, chosen)
    if out is not None:
        console.print(f"{count} subscribers written to {out}")


@subscribers_app.command("forget")
def subscribers_forget(email: str) -> None:
    """Erase everything held about a person; a hashed suppression keeps imports from re-adding them."""
    from digest.subscribers.privacy import forget_subscriber

    with transaction() as session:
        removed = forget_subscriber(session, email, source="cli")
    console.print(f"forgotten: {removed['subscriber']} subscriber, {removed['deliveries']} deliveries, "
                  f"{removed['delivery_events']} delivery events; {removed['audit_entries_scrubbed']} audit "
                  "entries kept without details; the address's hash stays suppressed", highlight=False)


def _json_default(value):
    import datetime as dt

    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


@subscribers_app.command("show")
def subscribers_show(email: str, as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON")] = False) -> None:
    """Everything held about one person: subscription, suppression, deliveries, audit log."""
    import json

    from digest.cli.follows import follows_lines
    from digest.config import get_settings
    from digest.reports.interest import reader_interest
    from digest.subscribers.privacy import describe_subscriber

    from digest.errors import NotFound

    with transaction() as session:
        held = describe_subscriber(session, email)
        # Derived from their click events (kept above): their own clicks by topic.
        editions = get_settings().INTEREST_EDITIONS
        held["interest"] = reader_interest(session, held["subscriber"]["id"], editions) if held["subscriber"] else []
    if not any((held["subscriber"], held["suppression"], held["deliveries"], held["delivery_events"], held["audit_log"])):
        raise NotFound(f"nothing is held about {held['email']}: no subscriber, suppression, delivery or audit entry")
    if as_json:
        sys.stdout.write(json.dumps(held, default=_json_default, indent=2, ensure_ascii=False) + "\n")
        return
    subscriber, suppression = held["subscriber"], held["suppression"]
    console.print(f"{held['email']}: " + (f"subscriber {subscriber['id']}, {subscriber['status']}"
                                         if subscriber else "no subscriber"), highlight=False)
    if suppression:
        console.print(f"suppressed: {suppression['reason']} since {local_time(suppression['created_at'])}", highlight=False)
    for line in follows_lines(subscriber, held["follows"]) if subscriber else []:
        console.print(line, markup=False, highlight=False)
    if held["interest"]:
        console.print("interest (their own clicks by topic): " + ", ".join(
            f"{t['name']} ({t['kind']}) {t['articles']}" for t in held["interest"]), markup=False, highlight=False)
    console.print(f"{len(held['deliveries'])} deliveries, {len(held['delivery_events'])} delivery events", highlight=False)
    for entry in held["audit_log"]:
        console.print(f"  {local_time(entry['at'])}  {entry['action']:<18} {entry['source']}", highlight=False)
