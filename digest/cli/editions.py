"""Editions and their sends: `digest editions ...`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from digest.cli.common import console, editions_app, local_time, send_action, transaction, who_runs_it
from digest.clock import utcnow
from digest.config import get_settings
from digest.errors import InputError


@editions_app.command("compose")
def editions_compose(now: Annotated[bool, typer.Option("--now", help="Compose the upcoming edition now, before its cutoff")] = False) -> None:
    """Compose the draft edition of the period that is due (or the upcoming one with --now)."""
    from digest.editions.compose import compose_due_edition, compose_next_edition

    with transaction() as session:
        edition = (compose_next_edition if now else compose_due_edition)(session, utcnow())
        if edition is None:
            console.print("no edition composed: no new articles for this period")
            return
        console.print(f"edition {edition.id} for {edition.period}: {len(edition.items)} articles, "
                      f"{edition.status.value}, sends {local_time(edition.send_at)}")


@editions_app.command("list")
def editions_list() -> None:
    """Recent editions, and periods skipped for want of articles."""
    from sqlalchemy import select

    from digest.editions.lookup import list_editions
    from digest.store.models import EditionSkip

    table = Table("id", "period", "status", "articles", "send at", "approved by", "subject")
    with transaction() as session:
        for edition in list_editions(session):
            table.add_row(str(edition.id), str(edition.period), edition.status.value, str(len(edition.items)),
                          local_time(edition.send_at), edition.approved_by or "", edition.subject)
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
        table.add_row(str(period.date), local_time(period.cutoff_at), local_time(period.send_at),
                      f"{period.cutoff_at:%Y-%m-%d %H:%M} UTC", f"{period.send_at:%Y-%m-%d %H:%M} UTC")
    console.print(table)


@editions_app.command("show")
def editions_show(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """An edition's state, size and articles (with the ids the edit commands take)."""
    from digest.editions.lookup import get_edition
    from digest.editions.render import GMAIL_CLIP_BYTES, render_edition

    with transaction() as session:
        edition = get_edition(session, edition_id)
        rendered = render_edition(edition)
        console.print(f"edition {edition.id} for {edition.period}: {edition.status.value}", highlight=False)
        console.print(f"  subject    {edition.subject}\n  preheader  {edition.preheader}", highlight=False)
        console.print(f"  cutoff     {local_time(edition.cutoff_at)}\n  sends      {local_time(edition.send_at)}")
        if edition.approved_by:
            console.print(f"  approved   by {edition.approved_by} at {local_time(edition.approved_at)}")
        if edition.note:
            console.print(f"  note       {edition.note}")
        size = f"  HTML size  {rendered.html_bytes / 1024:.1f} KB"
        if rendered.clipped_by_gmail:
            size += f" [bold red](over {GMAIL_CLIP_BYTES // 1024} KB: Gmail clips it)[/]"
        console.print(size)
        table = Table("#", "article", "section", "published", "title")
        for item in edition.items:
            table.add_row(str(item.position + 1), str(item.article_id), item.article.section or "",
                          local_time(item.article.published_at), item.article.title)
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
    with transaction() as session:
        edition = update_text(session, edition_id, subject=subject, preheader=preheader, intro=intro)
        console.print(f"edition {edition.id} is {edition.status.value}")


@editions_app.command("add-article")
def editions_add_article(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                         article_id: Annotated[int, typer.Argument(metavar="ARTICLE")],
                         position: Annotated[Optional[int], typer.Option(help="1 = first; default last")] = None) -> None:
    """Add an article to an edition."""
    from digest.editions.edit import add_article

    with transaction() as session:
        edition = add_article(session, edition_id, article_id, position)
        console.print(f"edition {edition.id} has {len(edition.items)} articles ({edition.status.value})")


@editions_app.command("remove-article")
def editions_remove_article(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                            article_id: Annotated[int, typer.Argument(metavar="ARTICLE")]) -> None:
    """Remove an article from an edition."""
    from digest.editions.edit import remove_article

    with transaction() as session:
        edition = remove_article(session, edition_id, article_id)
        console.print(f"edition {edition.id} has {len(edition.items)} articles ({edition.status.value})")


@editions_app.command("move-article")
def editions_move_article(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                          article_id: Annotated[int, typer.Argument(metavar="ARTICLE")],
                          to: Annotated[int, typer.Option("--to", help="New position, 1 = first")]) -> None:
    """Move an article to another position."""
    from digest.editions.edit import move_article

    with transaction() as session:
        edition = move_article(session, edition_id, article_id, to)
        console.print(f"edition {edition.id}: article {article_id} is now number {to} ({edition.status.value})")


@editions_app.command("preview")
def editions_preview(
    edition_id: Annotated[int, typer.Argument(metavar="ID")],
    format: Annotated[str, typer.Option("--format", help="html or text")] = "html",  # noqa: A002
    out: Annotated[Optional[Path], typer.Option("--out", help="Write to this file instead of stdout")] = None,
) -> None:
    """Render an edition as a reader would receive it."""
    from digest.editions.lookup import get_edition
    from digest.editions.preview import preview_edition

    if format not in ("html", "text"):
        raise InputError(f"--format {format!r} must be html or text")
    with transaction() as session:
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

    with transaction() as session:
        edition = approve_edition(session, edition_id, by)
        console.print(f"edition {edition.id} approved by {edition.approved_by}; sends {local_time(edition.send_at)}")


@editions_app.command("send")
def editions_send(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Send an approved edition now (the workers deliver it)."""
    from digest.delivery.plan import release_edition
    from digest.store.db import on_commit
    from workers.tasks import start_edition

    with transaction() as session:
        release_edition(session, edition_id)
        on_commit(session, lambda: start_edition.delay(edition_id))
    console.print(f"edition {edition_id} queued for sending; follow it with `digest editions list`")


@editions_app.command("pause")
def editions_pause(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Pause a send: batches not yet handed over wait."""
    send_action(edition_id, "pause")
    console.print(f"edition {edition_id} paused")


@editions_app.command("resume")
def editions_resume(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Resume a paused send; rows already accepted are never sent again."""
    queued = send_action(edition_id, "resume").deliveries
    console.print(f"edition {edition_id} resumed: {queued} deliveries queued")


@editions_app.command("cancel")
def editions_cancel(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False) -> None:
    """Cancel an approved or sending edition; what was handed over stays sent."""
    if not yes and not typer.confirm(f"Cancel edition {edition_id}? This cannot be undone"):
        raise typer.Exit(1)
    cancelled = send_action(edition_id, "cancel").deliveries
    console.print(f"edition {edition_id} cancelled; {cancelled} deliveries will not be sent")


@editions_app.command("deliveries")
def editions_deliveries(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Deliveries of an edition by state."""
    from digest.delivery.send import delivery_counts
    from digest.editions.lookup import get_edition

    with transaction() as session:
        edition = get_edition(session, edition_id)
        counts = delivery_counts(session, edition_id)
    console.print(f"edition {edition_id}: {edition.status.value}" + (f" ({edition.note})" if edition.note else ""))
    for status, count in sorted(counts.items()):
        console.print(f"  {status:<10} {count}")


@editions_app.command("report")
def editions_report(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                    as_json: Annotated[bool, typer.Option("--json", help="Every figure as JSON")] = False) -> None:
    """What readers did with an edition: the funnel, articles by unique clicks, bounces and
    complaints with reasons, and opens and clicks over the first 72 hours (same figures as the page)."""
    import json

    from digest.reports.charts import percent
    from digest.reports.facts import edition_report

    with transaction() as session:
        report = edition_report(session, edition_id)
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2, default=str) + "\n")
        return
    funnel, rates = report.funnel, report.funnel.rates
    console.print(f"edition {edition_id}: {report.subject}", highlight=False)
    for label, value, rate in (
            ("handed over", funnel.handed_over, None), ("delivered", funnel.delivered, rates["delivery"]),
            ("opened (includes machine opens)", funnel.unique_opens, rates["open"]),
            ("clicked", funnel.unique_clicks, rates["click"]), ("deferred", funnel.deferred, None),
            ("hard bounces", funnel.hard_bounces, None), ("soft bounces", funnel.soft_bounces, None),
            ("dropped", funnel.dropped, None), ("spam reports", funnel.spam_reports, rates["complaint"]),
            ("unsubscribed", funnel.unsubscribes, rates["unsubscribe"]),
            ("changed preferences", funnel.preference_changes, None)):
        console.print(f"  {label:<33} {value:>8}  {percent(rate)}", highlight=False)
    if report.complaint_warning:
        console.print("  [bold red]complaints above 0.1% of delivered (Gmail's limit is 0.3%)[/]")
    table = Table("#", "article", "section", "author", "readers", "clicks")
    for article in report.articles:
        table.add_row(str(article["position"]), article["title"], article["section"], article["authors"],
                      str(article["unique_clicks"]), str(article["clicks"]))
    console.print(table)
    for problem in report.problems:
        console.print(f"  {problem['what']:<12} {problem['readers']:>6}  {problem['reason']}", highlight=False)


@editions_app.command("recount")
def editions_recount(edition_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Rebuild an edition's report counts from its stored events (events kept before reports
    existed, or after a repair)."""
    from digest.editions.lookup import get_edition
    from digest.reports.counting import recount_edition

    with transaction() as session:
        get_edition(session, edition_id)
        counted = recount_edition(session, edition_id)
    console.print(f"edition {edition_id}: {counted} events counted")


@editions_app.command("resend-unknown")
def editions_resend_unknown(
    edition_id: Annotated[int, typer.Argument(metavar="ID")],
    older_than: Annotated[Optional[int], typer.Option("--older-than", help="Minutes since the claim (default SEND_UNKNOWN_RESEND_AFTER_MINUTES)")] = None,
) -> None:
    """Re-send deliveries left unknown (a worker died mid-request) that no webhook event settled."""
    from digest.delivery.control import resend_unknown
    from workers.tasks import enqueue_batches

    with transaction() as session:
        done = resend_unknown(session, edition_id, older_than_minutes=older_than, **who_runs_it())
        enqueue_batches(session, edition_id, done.batches)
    console.print(f"edition {edition_id}: {done.deliveries} deliveries queued again")


@editions_app.command("settle-unknown")
def editions_settle_unknown(edition_id: Annotated[int, typer.Argument(metavar="ID")],
                            outcome: Annotated[str, typer.Option("--as", help="accepted or failed")]) -> None:
    """Record unknown deliveries as accepted or failed, without sending."""
    from digest.delivery.control import settle_unknown

    with transaction() as session:
        count = settle_unknown(session, edition_id, outcome, **who_runs_it()).deliveries
    console.print(f"edition {edition_id}: {count} unknown deliveries recorded as {outcome}")
