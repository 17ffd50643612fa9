"""The `digest` command: what editors and operators do from a shell.

Bad input exits with code 2 and one line naming it; nothing is written in that case, because
each command is one transaction that rolls back on error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from digest.clock import utcnow
from digest.config import ConfigError, get_settings
from digest.errors import InputError

app = typer.Typer(help="Analyst Digest: the CACI Analyst's newsletter service.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
feeds_app = typer.Typer(help="Feeds the poller reads.", no_args_is_help=True)
editions_app = typer.Typer(help="Biweekly editions: compose, preview, approve, send.", no_args_is_help=True)
subscribers_app = typer.Typer(help="People who receive the digest.", no_args_is_help=True)
editors_app = typer.Typer(help="Editor accounts for the web app.", no_args_is_help=True)
sample_app = typer.Typer(help="The bundled sample feed.", no_args_is_help=True)
ops_app = typer.Typer(help="Operations: health of queues, workers, sends; actions on them.", no_args_is_help=True)
for name, sub in [("db", db_app), ("feeds", feeds_app), ("editions", editions_app),
                  ("subscribers", subscribers_app), ("editors", editors_app), ("sample", sample_app),
                  ("ops", ops_app)]:
    app.add_typer(sub, name=name)

console = Console()
err = Console(stderr=True)


def _session():
    from digest.store.db import unit_of_work

    return unit_of_work()


def _operator() -> dict:
    """Who runs an audited command from a shell."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user with no name
        user = "unknown"
    return {"by": user, "source": "cli"}


def _local(moment) -> str:
    return moment.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    from digest.store.migrate import upgrade

    upgrade()
    console.print("database is up to date")


@feeds_app.command("add")
def feeds_add(url: str, section: Annotated[Optional[str], typer.Option(help="Section name")] = None) -> None:
    """Register a feed to poll."""
    from digest.feeds.registry import add_feed

    with _session() as session:
        feed = add_feed(session, url, section)
        console.print(f"feed {feed.id} added: {feed.url}")


@feeds_app.command("list")
def feeds_list() -> None:
    """Feeds with their health: last success, last error or warning, failures, stale."""
    from digest.feeds.registry import feed_health

    table = Table("id", "url", "section", "status", "last success", "failures", "stale",
                  "next poll", "last error / warning")
    with _session() as session:
        for health in feed_health(session):
            feed = health.feed
            table.add_row(str(feed.id), feed.url, feed.section or "", feed.status.value,
                          _local(feed.last_success_at), str(feed.consecutive_failures),
                          "stale" if health.stale else "", _local(feed.next_poll_at),
                          feed.last_error or (f"warning: {feed.last_warning}" if feed.last_warning else ""))
    console.print(table)


@feeds_app.command("pause")
def feeds_pause(feed_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Stop polling a feed until it is resumed."""
    from digest.feeds.registry import pause_feed

    with _session() as session:
        feed = pause_feed(session, feed_id)
        console.print(f"feed {feed.id} paused: {feed.url}")


@feeds_app.command("resume")
def feeds_resume(feed_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Poll a paused or disabled feed again, starting now."""
    from digest.feeds.registry import resume_feed

    with _session() as session:
        feed = resume_feed(session, feed_id)
        console.print(f"feed {feed.id} resumed: {feed.url}")


@feeds_app.command("remove")
def feeds_remove(feed_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Stop polling a feed for good; its articles that no edition carried are deleted."""
    from digest.feeds.registry import remove_feed

    with _session() as session:
        deleted = remove_feed(session, feed_id)
        console.print(f"feed {feed_id} removed; {deleted} unsent articles deleted")


@feeds_app.command("poll")
def feeds_poll(feed: Annotated[Optional[int], typer.Option(help="Poll only this feed id")] = None) -> None:
    """Poll feeds now, in this process (all active feeds, or one)."""
    from sqlalchemy import select

    from digest.feeds.poll import poll_feed
    from digest.store.models import Feed, FeedStatus

    with _session() as session:
        ids = [feed] if feed is not None else list(
            session.scalars(select(Feed.id).where(Feed.status == FeedStatus.ACTIVE).order_by(Feed.id)))
    for feed_id in ids:
        # One transaction per feed: what one feed stored stays stored whatever the next does.
        with _session() as session:
            result = poll_feed(session, feed_id)
        if result.error:
            status = f"error: {result.error}"
        elif result.deferred:
            status = "deferred: its host is busy with another request"
        elif result.skipped:
            status = f"not polled: {result.skipped}"
        else:
            status = "not modified" if result.not_modified else f"{result.new} new, {result.updated} updated"
        if result.warning:
            status += f" (warning: {result.warning})"
        console.print(f"feed {feed_id}: {status}", soft_wrap=True, highlight=False)


@editions_app.command("compose")
def editions_compose(now: Annotated[bool, typer.Option("--now", help="Compose the upcoming edition now, before its cutoff")] = False) -> None:
    """Compose the draft edition of the period that is due (or the upcoming one with --now)."""
    from digest.editions.compose import compose_due_edition, compose_next_edition

    with _session() as session:
        edition = (compose_next_edition if now else compose_due_edition)(session, utcnow())
        if edition is None:
            console.print("no edition composed: no new articles for this period")
            return
        console.print(f"edition {edition.id} for {edition.period}: {len(edition.items)} articles, "
                      f"{edition.status.value}, sends {_local(edition.send_at)}")


@editions_app.command("list")
def editions_list() -> None:
    """Recent editions, and periods skipped for want of articles."""
    from sqlalchemy import select

    from digest.editions.approve import list_editions
    from digest.store.models import EditionSkip

    table = Table("id", "period", "status", "articles", "send at", "approved by", "subject")
    with _session() as session:
        for edition in list_editions(session):
            table.add_row(str(edition.id), str(edition.period), edition.status.value, str(len(edition.items)),
                          _local(edition.send_at), edition.approved_by or "", edition.subject)
        skips = session.scalars(select(EditionSkip).order_by(EditionSkip.period.desc()).limit(10)).all()
    console.print(table)
    for skip in skips:
        console.print(f"period {skip.period}: no edition ({skip.reason})")


@editions_app.command("schedule")
def editions_schedule(count: Annotated[int, typer.Option(help="How many periods")] = 5) -> None:
    """The next periods: when each draft is composed (cutoff) and sent, local and UTC."""
    from digest.editions.cadence import Cadence

    table = Table("period", "cutoff (local)", "send (local)", "cutoff (UTC)", "send (UTC)")
    for period in Cadence.from_settings(get_settings()).upcoming(utcnow(), count=count):
        table.add_row(str(period.date), _local(period.cutoff_at), _local(period.send_at),
                      f"{period.cutoff_at:%Y-%m-%d %H:%M} UTC", f"{period.send_at:%Y-%m-%d %H:%M} UTC")
    console.print(table)


@editions_app.command("show")
def editions_show(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """An edition's state, size and articles (with the ids the edit commands take)."""
    from digest.editions.approve import get_edition
    from digest.editions.render import GMAIL_CLIP_BYTES, render_edition

    with _session() as session:
        edition = get_edition(session, edition_id)
        rendered = render_edition(edition)
        console.print(f"edition {edition.id} for {edition.period}: {edition.status.value}", highlight=False)
        console.print(f"  subject    {edition.subject}\n  preheader  {edition.preheader}", highlight=False)
        console.print(f"  cutoff     {_local(edition.cutoff_at)}\n  sends      {_local(edition.send_at)}")
        if edition.approved_by:
            console.print(f"  approved   by {edition.approved_by} at {_local(edition.approved_at)}")
        if edition.note:
            console.print(f"  note       {edition.note}")
        size = f"  HTML size  {rendered.html_bytes / 1024:.1f} KB"
        if rendered.clipped_by_gmail:
            size += f" [bold red](over {GMAIL_CLIP_BYTES // 1024} KB: Gmail clips it)[/]"
        console.print(size)
        table = Table("#", "article", "section", "published", "title")
        for item in edition.items:
            table.add_row(str(item.position + 1), str(item.article_id), item.article.section or "",
                          _local(item.article.published_at), item.article.title)
    console.print(table)


@editions_app.command("edit")
def editions_edit(
    edition_id: Annotated[int, typer.Argument(metavar="ID")],
    subject: Annotated[Optional[str], typer.Option(help="New subject line")] = None,
    preheader: Annotated[Optional[str], typer.Option(help="New preheader (inbox preview text)")] = None,
    intro: Annotated[Optional[str], typer.Option(help="Intro in Markdown")] = None,
    intro_file: Annotated[Optional[Path], typer.Option(help="Read the Markdown intro from this file")] = None,
) -> None:
    """Change the subject, preheader or intro; an approved edition returns to draft."""
    from digest.editions.edit import update_text

    if intro is not None and intro_file is not None:
        raise InputError("give --intro or --intro-file, not both")
    if intro_file is not None:
        try:
            intro = intro_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read --intro-file {intro_file}: {exc}") from None
    with _session() as session:
        edition = update_text(session, edition_id, subject=subject, preheader=preheader, intro=intro)
        console.print(f"edition {edition.id} is {edition.status.value}")


@editions_app.command("add-article")
def editions_add_article(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                         article_id: Annotated[int, typer.Argument(metavar="ARTICLE")],
                         position: Annotated[Optional[int], typer.Option(help="1 = first; default last")] = None) -> None:
    """Add an article to an edition."""
    from digest.editions.edit import add_article

    with _session() as session:
        edition = add_article(session, edition_id, article_id, position)
        console.print(f"edition {edition.id} has {len(edition.items)} articles ({edition.status.value})")


@editions_app.command("remove-article")
def editions_remove_article(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                            article_id: Annotated[int, typer.Argument(metavar="ARTICLE")]) -> None:
    """Remove an article from an edition."""
    from digest.editions.edit import remove_article

    with _session() as session:
        edition = remove_article(session, edition_id, article_id)
        console.print(f"edition {edition.id} has {len(edition.items)} articles ({edition.status.value})")


@editions_app.command("move-article")
def editions_move_article(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                          article_id: Annotated[int, typer.Argument(metavar="ARTICLE")],
                          to: Annotated[int, typer.Option("--to", help="New position, 1 = first")]) -> None:
    """Move an article to another position."""
    from digest.editions.edit import move_article

    with _session() as session:
        edition = move_article(session, edition_id, article_id, to)
        console.print(f"edition {edition.id}: article {article_id} is now number {to} ({edition.status.value})")


@editions_app.command("preview")
def editions_preview(
    edition_id: Annotated[int, typer.Argument(metavar="ID")],
    format: Annotated[str, typer.Option("--format", help="html or text")] = "html",  # noqa: A002
    out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of stdout")] = None,
) -> None:
    """Render an edition as a reader would receive it."""
    from digest.editions.approve import get_edition
    from digest.editions.preview import preview_edition

    if format not in ("html", "text"):
        raise InputError(f"--format {format!r} must be html or text")
    with _session() as session:
        filled = preview_edition(get_edition(session, edition_id))
    body = filled.html if format == "html" else f"Subject: {filled.subject}\n\n{filled.text}"
    if out is None:
        sys.stdout.write(body)
    else:
        out.write_text(body, encoding="utf-8")
        console.print(f"wrote {out}")


@editions_app.command("approve")
def editions_approve(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                     by: Annotated[str, typer.Option("--by", help="Approver's email")]) -> None:
    """Approve a draft: pins its content; it goes out at its send time."""
    from digest.editions.approve import approve_edition

    with _session() as session:
        edition = approve_edition(session, edition_id, by)
        console.print(f"edition {edition.id} approved by {edition.approved_by}; sends {_local(edition.send_at)}")


@editions_app.command("send")
def editions_send(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Send an approved edition now (the workers deliver it)."""
    from digest.delivery.plan import release_edition
    from digest.store.db import on_commit
    from workers.tasks import start_edition

    with _session() as session:
        release_edition(session, edition_id)
        on_commit(session, lambda: start_edition.delay(edition_id))
    console.print(f"edition {edition_id} queued for sending; follow it with `digest editions list`")


@editions_app.command("pause")
def editions_pause(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Pause a send: batches not yet handed over wait."""
    from digest.ops.actions import pause_send

    with _session() as session:
        pause_send(session, edition_id, **_operator())
    console.print(f"edition {edition_id} paused")


@editions_app.command("resume")
def editions_resume(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Resume a paused send; rows already accepted are never sent again."""
    from digest.ops.actions import resume_send
    from workers.tasks import enqueue_batches

    with _session() as session:
        batches = resume_send(session, edition_id, **_operator())
        enqueue_batches(session, edition_id, batches)
    console.print(f"edition {edition_id} resumed: {sum(map(len, batches))} deliveries queued")


@editions_app.command("cancel")
def editions_cancel(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False) -> None:
    """Cancel an approved or sending edition; what was handed over stays sent."""
    from digest.delivery.backends import get_sender
    from digest.ops.actions import cancel_send

    if not yes and not typer.confirm(f"Cancel edition {edition_id}? This cannot be undone"):
        raise typer.Exit(1)
    with _session() as session:
        cancelled = cancel_send(session, edition_id, get_sender(), **_operator())
    console.print(f"edition {edition_id} cancelled; {cancelled} deliveries will not be sent")


@editions_app.command("deliveries")
def editions_deliveries(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Deliveries of an edition by state."""
    from digest.delivery.send import delivery_counts
    from digest.editions.approve import get_edition

    with _session() as session:
        edition = get_edition(session, edition_id)
        counts = delivery_counts(session, edition_id)
    console.print(f"edition {edition_id}: {edition.status.value}" + (f" ({edition.note})" if edition.note else ""))
    for status, count in sorted(counts.items()):
        console.print(f"  {status:<10} {count}")


@editions_app.command("resend-unknown")
def editions_resend_unknown(
    edition_id: Annotated[int, typer.Argument(metavar="ID")],
    older_than: Annotated[Optional[int], typer.Option("--older-than", help="Minutes since the claim (default SEND_UNKNOWN_RESEND_AFTER_MINUTES)")] = None,
) -> None:
    """Re-send deliveries left unknown (a worker died mid-request) that no webhook event settled."""
    from digest.delivery.control import resend_unknown
    from workers.tasks import enqueue_batches

    with _session() as session:
        batches = resend_unknown(session, edition_id, older_than)
        enqueue_batches(session, edition_id, batches)
    console.print(f"edition {edition_id}: {sum(map(len, batches))} deliveries queued again")


@editions_app.command("settle-unknown")
def editions_settle_unknown(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                            outcome: Annotated[str, typer.Option("--as", help="accepted or failed")]) -> None:
    """Record unknown deliveries as accepted or failed, without sending."""
    from digest.delivery.control import settle_unknown

    with _session() as session:
        count = settle_unknown(session, edition_id, outcome)
    console.print(f"edition {edition_id}: {count} unknown deliveries recorded as {outcome}")


@subscribers_app.command("add")
def subscribers_add(email: str, name: Annotated[Optional[str], typer.Option(help="Display name")] = None,
                    confirmed: Annotated[bool, typer.Option("--confirmed", help="Skip double opt-in (consent already given)")] = False) -> None:
    """Add a subscriber whose consent you hold (a suppressed address is refused)."""
    from digest.subscribers.lifecycle import add_subscriber

    with _session() as session:
        subscriber = add_subscriber(session, email, name=name, confirmed=confirmed)
        console.print(f"subscriber {subscriber.id} added: {subscriber.email} ({subscriber.status.value})")


@subscribers_app.command("signup")
def subscribers_signup(email: str, name: Annotated[Optional[str], typer.Option(help="Display name")] = None) -> None:
    """Sign someone up as the web form does: they get a confirmation email (double opt-in)."""
    from digest.store.db import on_commit
    from digest.subscribers.lifecycle import sign_up
    from workers.tasks import send_confirmation

    with _session() as session:
        signup = sign_up(session, email, name=name, source="cli")
        if signup.send_confirmation:
            on_commit(session, lambda: send_confirmation.delay(signup.subscriber_id))
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


@subscribers_app.command("list")
def subscribers_list(status: Annotated[Optional[str], typer.Option(help="pending, confirmed or unsubscribed")] = None) -> None:
    """Subscribers (all, or those with one status)."""
    from digest.subscribers.lifecycle import list_subscribers

    table = Table("id", "email", "name", "status", "paused", "since")
    with _session() as session:
        for s in list_subscribers(session, status=_status(status)):
            table.add_row(str(s.id), s.email, s.name or "", s.status.value, "paused" if s.paused else "",
                          _local(s.created_at))
    console.print(table)


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
    with _session() as session:
        entry = suppress(session, email, SuppressionReason(reason), source="operator", detail=note)
        console.print(f"{entry.email or email} is suppressed ({entry.reason.value}, since {_local(entry.created_at)})")


@subscribers_app.command("import")
def subscribers_import(file: Annotated[Path, typer.Argument(metavar="FILE.csv")]) -> None:
    """Import subscribers from a CSV file.

    Columns: email, name, sections, confirmed_at, source; others are kept as attributes. Never
    re-activates a suppressed or unsubscribed address; every bad row is reported with its line
    number, and the import goes on. Running it again changes nothing."""
    from rich.progress import open as open_with_progress

    from digest.subscribers.csv_import import import_subscribers

    try:
        stream = open_with_progress(file, "rb", description=f"importing {file.name}", console=err, transient=True)
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    with stream as reader, _session() as session:
        report = import_subscribers(session, reader, what=str(file), actor="cli")
    for problem in report.problems:
        console.print(f"line {problem.line}: {problem.reason}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"{report.rows} rows: {report.created} created, {report.updated} updated, "
                  f"{report.unchanged} unchanged, {report.skipped} skipped", highlight=False)


@subscribers_app.command("export")
def subscribers_export(status: Annotated[Optional[str], typer.Option(help="pending, confirmed or unsubscribed")] = None,
                       out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of stdout")] = None) -> None:
    """Write subscribers as CSV (the columns `import` reads, then state and attributes)."""
    from digest.subscribers.csv_export import export_subscribers

    chosen = _status(status)
    with _session() as session:
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

    with _session() as session:
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

    from digest.subscribers.privacy import describe_subscriber

    with _session() as session:
        held = describe_subscriber(session, email)
    if as_json:
        sys.stdout.write(json.dumps(held, default=_json_default, indent=2, ensure_ascii=False) + "\n")
        return
    subscriber, suppression = held["subscriber"], held["suppression"]
    console.print(f"{held['email']}: " + (f"subscriber {subscriber['id']}, {subscriber['status']}"
                                         if subscriber else "no subscriber"), highlight=False)
    if suppression:
        console.print(f"suppressed: {suppression['reason']} since {_local(suppression['created_at'])}", highlight=False)
    console.print(f"{len(held['deliveries'])} deliveries, {len(held['delivery_events'])} delivery events", highlight=False)
    for entry in held["audit_log"]:
        console.print(f"  {_local(entry['at'])}  {entry['action']:<18} {entry['source']}", highlight=False)


@ops_app.command("status")
def ops_status(as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False) -> None:
    """Queues, workers, tasks, beat, feeds, sends and dependencies; exits 1 while a threshold is
    crossed (for cron and probes)."""
    import json

    from digest.ops.status import gather_status
    from digest.ops.tables import status_tables

    status = gather_status()
    if as_json:
        sys.stdout.write(json.dumps(status, indent=2) + "\n")
    else:
        for table in status_tables(status):
            console.print(table)
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
    with _session() as session:
        count = purge(session, redis_client(), queue, **_operator())
    console.print(f"queue {queue} purged: {count} messages dropped")


@ops_app.command("retry-failed")
def ops_retry_failed(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Send an edition's failed deliveries again (they never reached the provider)."""
    from digest.ops.actions import retry_failed
    from workers.tasks import enqueue_batches

    with _session() as session:
        batches = retry_failed(session, edition_id, **_operator())
        enqueue_batches(session, edition_id, batches)
    console.print(f"edition {edition_id}: failed deliveries pending again; {len(batches)} batches queued")


@ops_app.command("discard-failed")
def ops_discard_failed(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Give an edition's failed deliveries up for good (they become cancelled)."""
    from digest.ops.actions import discard_failed

    with _session() as session:
        count = discard_failed(session, edition_id, **_operator())
    console.print(f"edition {edition_id}: {count} failed deliveries discarded")


@editors_app.command("add")
def editors_add(email: str,
                role: Annotated[str, typer.Option(help="editor or publisher")] = "editor",
                password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input")] = False) -> None:
    """Create an editor account (asks for the password)."""
    from digest.accounts import add_editor
    from digest.subscribers.addresses import normalize_email

    normalize_email(email, what="editor email")  # complain before asking for a password
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _session() as session:
        editor = add_editor(session, email, password, role)
        console.print(f"editor {editor.email} added ({editor.role})")


@editors_app.command("token")
def editors_token(email: str) -> None:
    """Issue a new API token for an editor (replaces the old one); shown once."""
    from digest.accounts import issue_api_token

    with _session() as session:
        token = issue_api_token(session, email)
    console.print(f"API token for {email} (send as 'Authorization: Bearer <token>'; shown once):")
    sys.stdout.write(token + "\n")


@app.command("serve")
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the web app."""
    import uvicorn

    get_settings()
    uvicorn.run("digest.web.app:app", host=host, port=port, proxy_headers=True)


@sample_app.command("serve")
def sample_serve(port: int = 8025) -> None:
    """Serve the bundled sample feed on 127.0.0.1 (for the quickstart and the demo)."""
    from digest.sample.server import feed_url, make_server

    server = make_server(port=port)
    console.print(f"sample feed at {feed_url(port=port)}")
    server.serve_forever()


@sample_app.command("setup")
def sample_setup(port: Annotated[int, typer.Option(help="Port of the sample feed server")] = 8025,
                 editor: Annotated[str, typer.Option(help="Demo publisher's email")] = "editor@example.org",
                 password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the demo publisher's password from standard input")] = False) -> None:
    """Register and poll the sample feed, compose the next draft, add a demo reader and publisher."""
    from digest.demo import ensure_demo_editor, seed_sample
    from digest.editions.compose import compose_next_edition

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    feed = seed_sample(port)
    console.print(f"sample feed {feed.id} polled: {feed.url}")
    with _session() as session:
        edition = compose_next_edition(session, utcnow())
        if edition is not None:
            console.print(f"draft edition {edition.id} ({edition.status.value}) with {len(edition.items)} articles")
    if password and ensure_demo_editor(editor, password):
        console.print(f"publisher {editor} created")


@app.command("demo")
def demo(port: Annotated[int, typer.Option(help="Port of the sample feed server")] = 8025) -> None:
    """Run the pipeline once on the sample feed and leave the edition in the outbox."""
    from digest.demo import run_demo

    result = run_demo(port)
    console.print(result.summary, soft_wrap=True, highlight=False)


def main() -> None:
    try:
        app()
    except (InputError, ConfigError) as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False)
        sys.exit(2)
