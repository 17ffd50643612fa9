"""Editions and their sends: `digest editions ...`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from digest.cli.common import (ArticleId, EditionId, console, editions_app, local_time, send_action, transaction,
                               who_runs_it)
from digest.cli.listing import Column, list_table, print_json, print_list
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


EDITION_COLUMNS = [
    Column("id", "id"), Column("period", "period"), Column("status", "status"),
    Column("sends", "send_at"), Column("articles", "articles", optional=True),
    Column("approved by", "approved_by", show=lambda by: by or "", optional=True),
    Column("subject", "subject", wraps=True),
]


@editions_app.command("list")
def editions_list(as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """Recent editions, and periods skipped for want of articles."""
    from sqlalchemy import select

    from digest.editions.lookup import list_editions
    from digest.store.models import EditionSkip

    with transaction() as session:
        rows = [{"id": edition.id, "period": edition.period, "status": edition.status.value,
                 "send_at": edition.send_at, "articles": len(edition.items), "approved_by": edition.approved_by,
                 "subject": edition.subject, "sent_at": edition.sent_at}
                for edition in list_editions(session)]
        skips = [{"period": skip.period, "reason": skip.reason} for skip in
                 session.scalars(select(EditionSkip).order_by(EditionSkip.period.desc()).limit(10))]
    if as_json:
        print_json({"editions": rows, "skipped_periods": skips})
        return
    print_list(rows, EDITION_COLUMNS, as_json=False, empty="no edition yet")
    for skip in skips:
        console.print(f"period {skip['period']}: no edition ({skip['reason']})", highlight=False, markup=False)


def _utc(moment) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


@editions_app.command("schedule")
def editions_schedule(count: Annotated[int, typer.Option(help="How many periods")] = 5,
                      as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """The next periods: when each draft is composed (cutoff) and sent, local and UTC."""
    from digest.editions.cadence import Cadence

    rows = [{"period": period.date, "cutoff_at": period.cutoff_at, "send_at": period.send_at}
            for period in Cadence.from_settings(get_settings()).upcoming(utcnow(), count=count)]
    print_list(rows, [Column("period", "period"), Column("cutoff (local)", "cutoff_at"), Column("send (local)", "send_at"),
                      Column("cutoff (UTC)", "cutoff_at", show=_utc, optional=True),
                      Column("send (UTC)", "send_at", show=_utc, optional=True)],
               as_json=as_json, empty="no period ahead")


@editions_app.command("show")
def editions_show(edition_id: EditionId) -> None:
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
        rows = [{"#": item.position + 1, "article": item.article_id, "section": item.article.section or "",
                 "published": item.article.published_at, "title": item.article.title} for item in edition.items]
    if rows:
        console.print(list_table(rows, [Column("#", "#"), Column("article", "article"),
                                        Column("section", "section", optional=True),
                                        Column("published", "published", optional=True),
                                        Column("title", "title", wraps=True)]))


@editions_app.command("edit")
def editions_edit(
    edition_id: EditionId,
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
def editions_add_article(edition_id: EditionId,
                         article_id: ArticleId,
                         position: Annotated[Optional[int], typer.Option(help="1 = first; default last")] = None) -> None:
    """Add an article to an edition."""
    from digest.editions.edit import add_article

    with transaction() as session:
        edition = add_article(session, edition_id, article_id, position)
        console.print(f"edition {edition.id} has {len(edition.items)} articles ({edition.status.value})")


@editions_app.command("remove-article")
def editions_remove_article(edition_id: EditionId,
                            article_id: ArticleId) -> None:
    """Remove an article from an edition."""
    from digest.editions.edit import remove_article

    with transaction() as session:
        edition = remove_article(session, edition_id, article_id)
        console.print(f"edition {edition.id} has {len(edition.items)} articles ({edition.status.value})")


@editions_app.command("move-article")
def editions_move_article(edition_id: EditionId,
                          article_id: ArticleId,
                          to: Annotated[int, typer.Option("--to", help="New position, 1 = first")]) -> None:
    """Move an article to another position."""
    from digest.editions.edit import move_article

    with transaction() as session:
        edition = move_article(session, edition_id, article_id, to)
        console.print(f"edition {edition.id}: article {article_id} is now number {to} ({edition.status.value})")


@editions_app.command("preview")
def editions_preview(
    edition_id: EditionId,
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


@editions_app.command("check")
def editions_check(edition_id: EditionId,
                   as_json: Annotated[bool, typer.Option("--json", help="The checklist as JSON")] = False) -> None:
    """The pre-send checklist: size, subject, preheader, articles, links, images, unsubscribe and
    the other required parts, spam score. Exits 1 when a problem blocks approval."""
    import json

    from digest.checklist.build import edition_checklist
    from digest.editions.lookup import get_edition

    with transaction() as session:
        checklist = edition_checklist(get_edition(session, edition_id))
    if as_json:
        sys.stdout.write(json.dumps(checklist.as_dict(), indent=2) + "\n")
    else:
        print_checklist(checklist)
    if checklist.blocking:
        raise typer.Exit(1)


def print_checklist(checklist) -> None:
    """Blocking problems first, then warnings, then what passed; what each found, indented."""
    import textwrap

    styles = {"blocking": "bold red", "warning": "yellow", "passed": "green", "skipped": "dim"}
    tally = ", ".join(f"{count} {level}" for level, count in checklist.counts.items() if count)
    console.print(f"edition {checklist.edition_id} checklist: {tally}", highlight=False)
    for check in checklist.checks:
        console.print(f"[{styles[check.level]}]{check.level.upper():<9}[/] {check.title}", highlight=False)
        # Feed text (titles, URLs) is printed as is, never read as markup.
        console.print(textwrap.fill(check.summary, max(40, console.width), initial_indent=" " * 10,
                                    subsequent_indent=" " * 10), markup=False, highlight=False)
        for finding in check.findings:
            console.print(textwrap.fill(finding.text, max(40, console.width), initial_indent=" " * 12 + "- ",
                                        subsequent_indent=" " * 14), markup=False, highlight=False)
            if finding.url:  # whole on its line, so a terminal can open it
                console.print(" " * 14 + finding.url, markup=False, highlight=False, soft_wrap=True)


@editions_app.command("approve")
def editions_approve(edition_id: EditionId,
                     by: Annotated[str, typer.Option("--by", help="Approver's email")],
                     yes: Annotated[bool, typer.Option("--yes", help="Approve despite the checklist's warnings "
                                                       "(they are printed and audited)")] = False) -> None:
    """Approve a draft: runs the checklist first (blocking problems refuse it; warnings are shown
    and must be confirmed), then pins its content; it goes out at its send time."""
    from digest.checklist.approval import approve_checked
    from digest.checklist.build import edition_checklist
    from digest.editions.lookup import get_edition
    from digest.store.models import EditionStatus

    with transaction() as session:
        edition = get_edition(session, edition_id)
        confirmed = None
        if edition.status == EditionStatus.DRAFT:
            checklist = edition_checklist(edition)
            if checklist.blocking or checklist.warnings:
                print_checklist(checklist)
            if checklist.warnings and not checklist.blocking:
                if not yes and not typer.confirm(f"Approve edition {edition_id} despite "
                                                 f"{len(checklist.warnings)} warning(s)?"):
                    raise InputError(f"edition {edition_id} not approved: its warnings were not confirmed")
                confirmed = checklist.fingerprint
        edition, _ = approve_checked(session, edition_id, by, source="cli", confirmed=confirmed)
        console.print(f"edition {edition.id} approved by {edition.approved_by}; sends {local_time(edition.send_at)}")


def refuse_send_advice(edition) -> None:
    """Refuse `send` on an edition that is not approved, with the advice its state calls for."""
    from digest.errors import Conflict

    advice = {
        "draft": f"approve it first: digest editions approve {edition.id} --by EMAIL",
        "sending": f"it is already going out; follow it with `digest editions deliveries {edition.id}`",
        "paused": f"its send is paused; continue it with `digest editions resume {edition.id}`",
        "sent": f"it went out {local_time(edition.sent_at)}; the next edition is composed at its cutoff "
                "(or now: `digest editions compose --now`)",
        "cancelled": "its send was cancelled; a cancelled edition is not sent again",
    }.get(edition.status.value)
    if advice:
        raise Conflict(f"edition {edition.id} is {edition.status.value}: {advice}")


@editions_app.command("send")
def editions_send(edition_id: EditionId) -> None:
    """Send an approved edition now (the workers deliver it)."""
    from digest.delivery.plan import release_edition
    from digest.editions.lookup import get_edition
    from workers.base import enqueue
    from workers.tasks import start_edition

    with transaction() as session:
        refuse_send_advice(get_edition(session, edition_id))
        release_edition(session, edition_id)
        enqueue(session, start_edition, edition_id)
    console.print(f"edition {edition_id} queued for sending; follow it with `digest editions list`")


@editions_app.command("pause")
def editions_pause(edition_id: EditionId) -> None:
    """Pause a send: batches not yet handed over wait."""
    send_action(edition_id, "pause")
    console.print(f"edition {edition_id} paused")


@editions_app.command("resume")
def editions_resume(edition_id: EditionId) -> None:
    """Resume a paused send; rows already accepted are never sent again."""
    queued = send_action(edition_id, "resume").deliveries
    console.print(f"edition {edition_id} resumed: {queued} deliveries queued")


@editions_app.command("cancel")
def editions_cancel(edition_id: EditionId,
                    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False) -> None:
    """Cancel an approved or sending edition; what was handed over stays sent."""
    if not yes and not typer.confirm(f"Cancel edition {edition_id}? This cannot be undone"):
        raise typer.Exit(1)
    cancelled = send_action(edition_id, "cancel").deliveries
    console.print(f"edition {edition_id} cancelled; {cancelled} deliveries will not be sent")


@editions_app.command("deliveries")
def editions_deliveries(edition_id: EditionId) -> None:
    """Deliveries of an edition by state."""
    from digest.ledger.states import reader_counts
    from digest.editions.lookup import get_edition

    with transaction() as session:
        edition = get_edition(session, edition_id)
        counts = reader_counts(session, edition_id)
    console.print(f"edition {edition_id}: {edition.status.value}" + (f" ({edition.note})" if edition.note else ""))
    for status, count in sorted(counts.items()):
        console.print(f"  {status:<10} {count}")


@editions_app.command("report")
def editions_report(edition_id: EditionId,
                    as_json: Annotated[bool, typer.Option("--json", help="Every figure as JSON")] = False) -> None:
    """What readers did with an edition: the funnel (people first, machines beside), articles
    by the people who clicked, bounces and complaints with reasons, and opens and clicks over the
    first 72 hours (same figures as the page)."""
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
            ("people who opened", funnel.human_unique_opens, rates["open"]),
            ("people who clicked", funnel.human_unique_clicks, rates["click"]),
            ("machine opens (share of opens)", funnel.machine_opens, rates["machine_open_share"]),
            ("machine clicks (share of clicks)", funnel.machine_clicks, rates["machine_click_share"]),
            ("deferred", funnel.deferred, None),
            ("hard bounces", funnel.hard_bounces, None), ("soft bounces", funnel.soft_bounces, None),
            ("dropped", funnel.dropped, None), ("spam reports", funnel.spam_reports, rates["complaint"]),
            ("unsubscribed", funnel.unsubscribes, rates["unsubscribe"]),
            ("changed preferences", funnel.preference_changes, None)):
        console.print(f"  {label:<33} {value:>8}  {percent(rate)}", highlight=False)
    if report.complaint_warning:
        console.print("  [bold red]complaints above 0.1% of delivered (Gmail's limit is 0.3%)[/]")
    if report.articles:
        console.print(list_table(report.articles, [
            Column("#", "position"), Column("article", "title", wraps=True),
            Column("section", "section", optional=True), Column("author", "authors", optional=True, wraps=True),
            Column("people", "human_unique_clicks"), Column("machine clicks", "machine_clicks"),
            Column("all clicks", "clicks")]))
    for problem in report.problems:
        console.print(f"  {problem['what']:<12} {problem['readers']:>6}  {problem['reason']}", highlight=False)


@editions_app.command("recount")
def editions_recount(edition_id: EditionId) -> None:
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
    edition_id: EditionId,
    older_than: Annotated[Optional[int], typer.Option("--older-than", help="Minutes since the claim (default SEND_UNKNOWN_RESEND_AFTER_MINUTES)")] = None,
) -> None:
    """Re-send deliveries left unknown (a worker died mid-request) that no webhook event settled."""
    from workers.tasks import run_send_action

    with transaction() as session:
        done = run_send_action(session, edition_id, "resend-unknown", older_than_minutes=older_than,
                               **who_runs_it())
    console.print(f"edition {edition_id}: {done.deliveries} deliveries queued again")


@editions_app.command("settle-unknown")
def editions_settle_unknown(edition_id: EditionId,
                            outcome: Annotated[str, typer.Option("--as", help="accepted or failed")]) -> None:
    """Record unknown deliveries as accepted or failed, without sending."""
    from digest.delivery.control import settle_unknown

    with transaction() as session:
        count = settle_unknown(session, edition_id, outcome, **who_runs_it()).deliveries
    console.print(f"edition {edition_id}: {count} unknown deliveries recorded as {outcome}")
