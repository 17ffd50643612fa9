"""Editors' report pages: one edition's report (and its per-article CSV), the trends across
editions, and the sunset view of inactive readers with the publisher's action to pause them.
Charts are inline SVG drawn here, each beside the table of its figures."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.editions.lookup import get_edition
from digest.errors import InputError
from digest.reports.charts import bar_chart, line_chart, percent
from digest.reports.facts import edition_report
from digest.reports.sunset import INACTIVE, pause_inactive, sunset_readers
from digest.store.models import Editor
from digest.subscribers.csv_export import guard
from digest.web.auth import current_editor
from digest.web.editor import EditorForm, publisher_form
from digest.web.ids import RowId
from digest.web.pages import client_ip, db, edition_name, page
from digest.web.trend_view import trend_charts

router = APIRouter()


def report_charts(report) -> dict:
    funnel = report.funnel
    steps = [("Handed over", funnel.handed_over), ("Delivered", funnel.delivered),
             ("Opened by a person", funnel.human_unique_opens), ("Clicked, a person", funnel.human_unique_clicks)]
    hours = [str(row["hour"]) for row in report.timeline]
    return {
        "funnel_steps": steps,
        "funnel": bar_chart("Funnel: handed over, delivered, opened and clicked by people", steps),
        "articles": bar_chart("Articles by the people who clicked",
                              [(a["title"], a["human_unique_clicks"]) for a in report.articles[:15]]),
        "timeline": line_chart("People's opens and clicks per hour, first 72 hours", hours, [
            ("Opens", [row["opens"] for row in report.timeline]),
            ("Clicks", [row["clicks"] for row in report.timeline])]),
    }


@router.get("/editions/{edition_id}/report", response_class=HTMLResponse)
def edition_report_page(request: Request, edition_id: RowId, editor: Editor = Depends(current_editor),
                        session: Session = Depends(db)) -> HTMLResponse:
    edition = get_edition(session, edition_id)
    report = edition_report(session, edition_id)
    return page("report.html", request=request, title=f"Report: {edition_name(edition)}", edition=edition,
                report=report, rates=report.funnel.rates, charts=report_charts(report), percent=percent,
                track=get_settings())


@router.get("/editions/{edition_id}/report.csv")
def edition_report_csv(edition_id: RowId, editor: Editor = Depends(current_editor),
                       session: Session = Depends(db)) -> Response:
    report = edition_report(session, edition_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "position", "section", "title", "authors", "url", "human_unique_clicks", "machine_clicks",
                     "unique_clicks", "clicks"])
    for rank, article in enumerate(report.articles, 1):
        writer.writerow([rank, article["position"], guard(article["section"]), guard(article["title"]),
                         guard(article["authors"]), guard(article["url"]), article["human_unique_clicks"],
                         article["machine_clicks"], article["unique_clicks"], article["clicks"]])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="edition-{edition_id}-articles.csv"'})


def trend_count(n: str | None) -> int:
    """How many editions the trends cover: `n` from the address, or REPORT_TREND_EDITIONS."""
    if n is None or n == "":
        return get_settings().REPORT_TREND_EDITIONS
    # Three digits at most: Python refuses to read a number of thousands of digits (a 500).
    if not n.isascii() or not n.isdigit() or len(n) > 3 or not 2 <= int(n) <= 100:
        raise InputError(f"n {n[:20]!r} must be a whole number of editions from 2 to 100")
    return int(n)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, n: str | None = None, editor: Editor = Depends(current_editor),
                 session: Session = Depends(db)) -> HTMLResponse:
    count = trend_count(n)
    return page("reports.html", request=request, title="Reports", count=count, percent=percent,
                **trend_charts(session, count))


@router.get("/reports/sunset", response_class=HTMLResponse)
def sunset_page(request: Request, paused: int | None = None, editor: Editor = Depends(current_editor),
                session: Session = Depends(db)) -> HTMLResponse:
    settings = get_settings()
    view = sunset_readers(session, settings.SUNSET_EDITIONS)
    return page("sunset.html", request=request, title="Inactive readers", view=view, total=view.total,
                readers=view.readers, judged=view.judged, editions=settings.SUNSET_EDITIONS, paused=paused,
                opens_tracked=settings.TRACK_OPENS or settings.TRACK_CLICKS)


@router.post("/reports/sunset/pause")
def sunset_pause(request: Request, form: EditorForm = Depends(publisher_form),
                 session: Session = Depends(db)) -> Response:
    """Pause the inactive readers; the unknown ones (only machines' opens and clicks) only when the
    form names them (`readers=unknown`, a button of its own)."""
    activity = form.get("readers", INACTIVE)
    count = pause_inactive(session, get_settings().SUNSET_EDITIONS, by=form.editor.email, activity=activity,
                           ip=client_ip(request))
    session.commit()  # before the answer: the page the browser goes to next counts the pause
    return RedirectResponse(f"/reports/sunset?paused={count}", status_code=303)
