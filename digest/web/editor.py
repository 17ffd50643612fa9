"""Editors' pages for editions: the dashboard and the edition page (preview, edit, test, approve,
schedule, and the controls of a send). Every action is a plain form POST answered by a redirect
(or, for bad input, the page again with the error and nothing saved); scripts only enhance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.alerts.listing import minutes_left
from digest.checklist.approval import approve_checked
from digest.checklist.build import claim_slow_checks, edition_checklist, forget_checks
from digest.checklist.model import Checklist
from digest.clock import utcnow
from digest.config import get_settings
from digest.delivery.backends import get_sender
from digest.delivery.message import SendError
from digest.delivery.plan import release_edition
from digest.delivery.progress import planned_send, send_progress
from digest.delivery.proof import parse_test_addresses, send_test
from digest.editions.compose import compose_next_edition
from digest.editions.edit import add_article, move_article, recent_articles, remove_article, update_text
from digest.editions.lookup import get_edition
from digest.editions.preview import preview_edition, preview_facts, preview_variants
from digest.editions.render import DEFAULT_VARIANT, Variant, intro_html
from digest.editions.schedule import parse_local_time, period_send_at, schedule_edition, unschedule_edition
from digest.errors import InputError
from digest.store.models import EditionItem, EditionKind, EditionStatus, Editor
from digest.web.auth import current_editor, require_publisher
from digest.web.csrf import verify_csrf
from digest.web.dashboard import dashboard_context
from digest.web.forms import form_action
from digest.web.headers import email_csp
from digest.web.ids import RowId, form_id
from digest.web.nul import refuse_nul
from digest.web.pages import db, edition_name, page

router = APIRouter()

VIEWS = ("desktop", "mobile", "text")
# Messages shown after an action; the redirect names one by key so no text travels in URLs.
# A notice is shown at the top of the page, or beside the form it answers (NOTICE_AT: the section).
NOTICES = {
    "saved": "Saved.",
    "added": "Article added.",
    "removed": "Article removed.",
    "moved": "Article moved.",
    "test-sent": "Test sent. Check the inbox of each address (the subject starts with [Test]).",
    "approved": "Approved. The edition goes out at its send time.",
    "rechecked": "Checking links and spam score again.",
    "scheduled": "Send time set.",
    "unscheduled": "Unscheduled: the edition is a draft again and goes nowhere until approved.",
    "released": "Sending has started.",
    "paused": "Sending paused. Nothing more leaves until you resume.",
    "resumed": "Sending resumed.",
    "cancelled": "Sending cancelled. Readers not yet sent to will not receive this edition.",
    "alert-cancelled": "Alert cancelled: it never goes out. Its articles stay candidates for the next digest.",
}
NOTICE_AT = {"test-sent": "test"}


@dataclass
class EditorForm:
    editor: Editor
    form: Any
    request: Request
    session: Session  # the request's one session (pages.db), the editor's too

    def get(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return refuse_nul(value, f"form field {name!r}") if isinstance(value, str) else default


async def editor_form(request: Request, editor: Editor = Depends(current_editor),
                      session: Session = Depends(db)) -> EditorForm:
    """A logged-in editor's form, its CSRF token checked (after the login, so that a logged-out
    browser is sent to log in rather than told its form expired)."""
    form = await request.form()
    verify_csrf(request, form)
    return EditorForm(editor, form, request, session)


async def publisher_form(request: Request, editor: Editor = Depends(require_publisher),
                         session: Session = Depends(db)) -> EditorForm:
    form = await request.form()
    verify_csrf(request, form)
    return EditorForm(editor, form, request, session)


def local_input(moment: dt.datetime) -> str:
    """A UTC time as the value of a datetime-local field in PUBLICATION_TZ."""
    return moment.astimezone(get_settings().tz).strftime("%Y-%m-%dT%H:%M")


def _variant(key: str | None) -> Variant:
    return Variant.from_key(key) if key else DEFAULT_VARIANT


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, notice: str = "", editor: Editor = Depends(current_editor),
              session: Session = Depends(db)) -> HTMLResponse:
    return page("dashboard.html", request=request, title="Dashboard", notice=NOTICES.get(notice),
                **dashboard_context(session, utcnow()))


@router.post("/editions/compose")
def compose(request: Request, form: EditorForm = Depends(editor_form), session: Session = Depends(db)) -> Response:
    edition = compose_next_edition(session, utcnow())
    session.commit()
    if edition is None:
        return page("dashboard.html", 409, request=request, title="Dashboard", notice=None,
                    error="There is nothing to compose: no new article since the previous edition.",
                    **dashboard_context(session, utcnow()))
    return RedirectResponse(f"/editions/{edition.id}", status_code=303)


def edition_page(request: Request, session: Session, edition_id: int, status_code: int = 200, *, view: str = "desktop",
                 variant: str = "", q: str = "", notice: str = "", error: str | None = None,
                 values: dict[str, str] | None = None, at: str = "") -> HTMLResponse:
    """The edition page; `values` re-fills the forms after bad input; the notice or error is shown
    in section `at` (beside the form it answers, where the page was scrolled), else at the top."""
    edition = get_edition(session, edition_id)
    alert = edition.kind == EditionKind.ALERT
    if view not in VIEWS:
        view = "desktop"
    choices = preview_variants(edition)
    chosen = variant if variant in {key for key, _ in choices} else DEFAULT_VARIANT.key
    current = Variant.from_key(chosen)
    filled = preview_edition(edition, current)
    if current.text_only:
        view = "text"
    facts = preview_facts(preview_edition(edition, Variant(current.sections)))
    text = values or {}
    progress = planned = checklist = None
    if edition.status == EditionStatus.DRAFT:
        checklist = checklist_now(edition)
    if edition.status in (EditionStatus.DRAFT, EditionStatus.APPROVED) and not alert:
        planned = planned_send(session, edition)
    if edition.status in (EditionStatus.SENDING, EditionStatus.PAUSED, EditionStatus.SENT,
                          EditionStatus.CANCELLED) and edition.started_at is not None:
        progress = send_progress(session, edition)
    return page(
        "edition.html", status_code, request=request, title=edition_name(edition), edition=edition,
        view=view, variants=choices, variant=chosen, text_only=current.text_only, filled=filled,
        facts=facts, notice=NOTICES.get(notice), error=error, at=at or NOTICE_AT.get(notice, ""),
        addresses=text.get("addresses", ""),
        subject=text.get("subject", edition.subject), preheader=text.get("preheader", edition.preheader),
        intro=text.get("intro", edition.intro), intro_preview=Markup(intro_html(text.get("intro", edition.intro))),
        q=q, candidates=_candidates(session, q), progress=progress, planned=planned, checklist=checklist,
        send_at_local=local_input(edition.send_at), period_send_at=None if alert else period_send_at(edition),
        # A held alert's subject may change until it goes out; its articles are those filed.
        editable=edition.status in ((EditionStatus.DRAFT,) if alert else (EditionStatus.DRAFT, EditionStatus.APPROVED)),
        alert=alert, minutes_left=minutes_left(edition, utcnow()) if alert else None,
        # Approved and due ("Send now", or its time came): a worker is starting it; the page watches.
        starting=edition.status == EditionStatus.APPROVED and edition.send_at <= utcnow(),
        publisher=request.state.editor.role == "publisher",
    )


def checklist_now(edition) -> Checklist:
    """The draft's checklist with what is known now: the slow checks not yet kept for its content
    are pending, and handed to a worker (once per content) so the page never waits for a link."""
    from workers.tasks import check_edition  # the web enqueues; digest proper never does

    checklist = edition_checklist(edition, wait=False)
    if claim_slow_checks(checklist):
        check_edition.delay(edition.id)
    return checklist


def _candidates(session: Session, q: str):
    """Recent articles no edition carries, to add."""
    carried = set(session.scalars(select(EditionItem.article_id)))
    return [article for article in recent_articles(session, q, limit=40) if article.id not in carried][:10]


@router.get("/editions/{edition_id}", response_class=HTMLResponse)
def edition_view(request: Request, edition_id: RowId, view: str = "desktop", variant: str = "", q: str = "",
                 notice: str = "", editor: Editor = Depends(current_editor),
                 session: Session = Depends(db)) -> HTMLResponse:
    return edition_page(request, session, edition_id, view=view, variant=variant, q=q, notice=notice)


@router.get("/editions/{edition_id}/preview")
def edition_preview(edition_id: RowId, format: str = "html", variant: str = "",  # noqa: A002
                    editor: Editor = Depends(current_editor), session: Session = Depends(db)) -> Response:
    """The email itself, for the page's sandboxed iframe (or the plain-text part)."""
    if format not in ("html", "text"):
        raise InputError(f"format {format!r} must be html or text")
    filled = preview_edition(get_edition(session, edition_id), _variant(variant))
    if format == "text" or not filled.html:
        return PlainTextResponse(f"Subject: {filled.subject}\n\n{filled.text}")
    # Shown inside the editor's page only (the iframe's sandbox stops any script anyway).
    return HTMLResponse(filled.html, headers={"Content-Security-Policy": email_csp("'self'"),
                                              "X-Frame-Options": "SAMEORIGIN"})


@router.post("/editions/{edition_id}/intro-preview", response_class=HTMLResponse)
def intro_preview(edition_id: RowId, form: EditorForm = Depends(editor_form),
                  session: Session = Depends(db)) -> HTMLResponse:
    """The intro's Markdown as the email shows it (the page's live preview)."""
    get_edition(session, edition_id)
    return HTMLResponse(intro_html(form.get("intro")))


def _act(form: EditorForm, edition_id: int, notice: str, action, *, anchor: str = "",
         values: dict[str, str] | None = None, at: str = "") -> Response:
    """Run `action(session)` on an edition that exists; bad input shows the page again, unchanged
    (its error in section `at`, scrolled to, if given)."""
    get_edition(form.session, edition_id)
    return form_action(form.session, action, done=f"/editions/{edition_id}?notice={notice}{anchor}",
                       show_again=lambda error: edition_page(form.request, form.session, edition_id, 400,
                                                             error=error, values=values, at=at))


@router.post("/editions/{edition_id}/text")
def edit_text(request: Request, edition_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    values = {name: form.get(name) for name in ("subject", "preheader", "intro")}
    return _act(form, edition_id, "saved", lambda s: update_text(s, edition_id, **values),
                anchor="#text", values=values)


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{what} {value!r} is not a number") from None


@router.post("/editions/{edition_id}/articles/add")
def add(request: Request, edition_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    def action(session):
        add_article(session, edition_id, form_id(form.get("article_id"), "article"))
    return _act(form, edition_id, "added", action, anchor="#articles")


@router.post("/editions/{edition_id}/articles/{article_id}/move")
def move(request: Request, edition_id: RowId, article_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    def action(session):
        move_article(session, edition_id, article_id, _int(form.get("position"), "position"))
    return _act(form, edition_id, "moved", action, anchor="#articles")


@router.post("/editions/{edition_id}/articles/{article_id}/remove")
def remove(request: Request, edition_id: RowId, article_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    return _act(form, edition_id, "removed", lambda s: remove_article(s, edition_id, article_id),
                anchor="#articles")


@router.post("/editions/{edition_id}/test")
def send_a_test(request: Request, edition_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    def action(session):
        addresses = parse_test_addresses(form.get("addresses"))
        try:
            send_test(get_edition(session, edition_id), addresses, get_sender(), form.editor.email,
                      _variant(form.get("variant")))
        except SendError as exc:
            raise InputError(f"the test could not be sent: {exc}") from exc
    return _act(form, edition_id, "test-sent", action, anchor="#test", values={"addresses": form.get("addresses")},
                at="test")


@router.post("/editions/{edition_id}/approve")
def approve(request: Request, edition_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    """Approval through the checklist: the form carries the fingerprint of the checklist shown,
    confirmed by its tick box when there were warnings."""
    confirmed = form.get("checklist") if form.get("confirm_warnings") == "yes" else None
    return _act(form, edition_id, "approved", lambda s: approve_checked(
        s, edition_id, form.editor.email, source="web:edition", confirmed=confirmed, wait=False))


@router.post("/editions/{edition_id}/checklist/recheck")
def recheck(request: Request, edition_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    """Forget the cached link answers and spam score; the page runs them again."""
    return _act(form, edition_id, "rechecked", lambda s: forget_checks(edition_id), anchor="#checklist")


@router.post("/editions/{edition_id}/schedule")
def schedule(request: Request, edition_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    def action(session):
        edition = get_edition(session, edition_id)
        when = form.get("when", "period")
        if when == "period":
            send_at = period_send_at(edition)
        elif when == "custom":
            send_at = parse_local_time(form.get("send_at"))
        else:
            raise InputError(f"when {when!r} must be period or custom")
        schedule_edition(session, edition_id, send_at)
    return _act(form, edition_id, "scheduled", action, anchor="#schedule")


@router.post("/editions/{edition_id}/unschedule")
def unschedule(request: Request, edition_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    return _act(form, edition_id, "unscheduled", lambda s: unschedule_edition(s, edition_id, form.editor.email))


@router.post("/editions/{edition_id}/send-now")
def send_now(request: Request, edition_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    from workers.base import enqueue  # the web enqueues; digest proper never does
    from workers.tasks import start_edition

    def action(session):
        # Every reader at once, in one click: only with the box that says so ticked.
        if get_edition(session, edition_id).status == EditionStatus.APPROVED and form.get("confirm") != "now":
            raise InputError("to send now, tick the box that confirms sending to every reader now")
        release_edition(session, edition_id)
        enqueue(session, start_edition, edition_id)
    return _act(form, edition_id, "released", action, anchor="#sending")


def _send_action(edition_id: int, form: EditorForm, action: str, notice: str) -> Response:
    """Pause, resume or cancel through the one command layer (audited as from the edition page)."""
    from workers.tasks import run_send_action  # the web enqueues; digest proper never does

    def act(session):
        run_send_action(session, edition_id, action, by=form.editor.email, source="web:edition")
    return _act(form, edition_id, notice, act, anchor="#sending")


@router.post("/editions/{edition_id}/pause")
def pause(request: Request, edition_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    return _send_action(edition_id, form, "pause", "paused")


@router.post("/editions/{edition_id}/resume")
def resume(request: Request, edition_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    return _send_action(edition_id, form, "resume", "resumed")


@router.post("/editions/{edition_id}/cancel")
def cancel(request: Request, edition_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    held = get_edition(form.session, edition_id, items=False)
    held = held.kind == EditionKind.ALERT and held.status == EditionStatus.DRAFT
    return _send_action(edition_id, form, "cancel", "alert-cancelled" if held else "cancelled")


@router.get("/api/editions/{edition_id}/checklist")
def checklist_state(edition_id: RowId, editor: Editor = Depends(current_editor),
                    session: Session = Depends(db)) -> JSONResponse:
    """What the edition page's script polls while checks are pending: `ready` once the page
    would show them all (it then fetches the page's checklist again)."""
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.DRAFT:
        return JSONResponse({"ready": True, "status": edition.status.value, "pending": []})
    checklist = checklist_now(edition)  # asks a worker again if the run was lost
    return JSONResponse({"ready": not checklist.pending, "status": edition.status.value,
                         "pending": [check.key for check in checklist.pending]})


@router.get("/api/editions/{edition_id}/progress")
def progress(edition_id: RowId, editor: Editor = Depends(current_editor),
             session: Session = Depends(db)) -> JSONResponse:
    edition = get_edition(session, edition_id)
    return JSONResponse({"status": edition.status.value, **send_progress(session, edition).as_dict()})
