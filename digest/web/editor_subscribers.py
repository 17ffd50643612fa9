"""Editors' subscriber pages: search, one subscriber's history, suppress, unsubscribe, forget,
and CSV import and export. Forgetting erases a person's data, so only a publisher may."""

from __future__ import annotations

import io

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.errors import InputError, NotFound
from digest.reports.facts import reader_activity
from digest.reports.interest import reader_interest
from digest.ledger.states import reader_deliveries
from digest.store.models import DeliveryEvent, Editor, Subscriber, SubscriberStatus, SuppressionReason
from digest.subscribers.audit import audit_trail
from digest.subscribers.csv_export import export_subscribers
from digest.subscribers.imports import import_progress, keep_upload, recent_imports
from digest.subscribers.lifecycle import unsubscribe
from digest.subscribers.privacy import forget_subscriber
from digest.subscribers.suppressions import suppress, suppression_for
from digest.web.auth import current_editor
from digest.web.csrf import verify_csrf
from digest.web.editor import EditorForm, editor_form, publisher_form
from digest.web.forms import form_action
from digest.web.ids import RowId
from digest.web.pages import client_ip, db, page

router = APIRouter()
PAGE_SIZE = 50
NOTICES = {"suppressed": "The address is suppressed: nothing more is sent to it.",
           "unsubscribed": "Unsubscribed (and suppressed).",
           "forgotten": "Forgotten: the person's data is erased; only a hash keeps the address suppressed."}


def _status(value: str) -> SubscriberStatus | None:
    if not value:
        return None
    try:
        return SubscriberStatus(value)
    except ValueError:
        raise InputError(f"status {value!r} must be one of: {', '.join(s.value for s in SubscriberStatus)}") from None


def search_subscribers(session: Session, q: str, status: str, section: str) -> tuple[list[Subscriber], int]:
    """Subscribers whose address contains `q`, of a status, receiving a section; and how many match."""
    query = select(Subscriber)
    if q.strip():
        query = query.where(Subscriber.email.contains(q.strip().lower(), autoescape=True))
    chosen = _status(status)
    if chosen is not None:
        query = query.where(Subscriber.status == chosen)
    if section:
        if section not in get_settings().SECTION_ORDER:
            raise InputError(f"section {section!r} is not one of: {', '.join(get_settings().SECTION_ORDER)}")
        # An empty choice means every section.
        chosen_sections = cast(Subscriber.sections, Text)
        query = query.where(or_(chosen_sections.contains(f'"{section}"'), chosen_sections == "[]"))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    return list(session.scalars(query.order_by(Subscriber.id).limit(PAGE_SIZE))), total


def _list_page(request: Request, session: Session, q: str = "", status: str = "", section: str = "",
               status_code: int = 200, error: str | None = None, notice: str = "") -> HTMLResponse:
    try:
        found, total = search_subscribers(session, q, status, section)
    except InputError as exc:
        found, total, error, status_code = [], 0, str(exc), 400
    return page("subscribers.html", status_code, request=request, title="Subscribers", subscribers=found,
                total=total, q=q, status=status, section=section, statuses=[s.value for s in SubscriberStatus],
                sections=get_settings().SECTION_ORDER, error=error, page_size=PAGE_SIZE, imports=recent_imports(session),
                notice=NOTICES.get(notice))


@router.get("/subscribers", response_class=HTMLResponse)
def subscribers(request: Request, q: str = "", status: str = "", section: str = "", notice: str = "",
                editor: Editor = Depends(current_editor), session: Session = Depends(db)) -> HTMLResponse:
    return _list_page(request, session, q, status, section, notice=notice)


def _subscriber(session: Session, subscriber_id: int) -> Subscriber:
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(f"subscriber {subscriber_id} does not exist")
    return subscriber


def _detail_page(request: Request, session: Session, subscriber_id: int, status_code: int = 200, notice: str = "",
                 error: str | None = None) -> HTMLResponse:
    subscriber = _subscriber(session, subscriber_id)
    deliveries = reader_deliveries(session, subscriber.id)[::-1]  # the latest edition first
    events = session.scalars(select(DeliveryEvent).where(DeliveryEvent.email == subscriber.email)
                             .order_by(DeliveryEvent.occurred_at.desc())).all()
    return page("subscriber.html", status_code, request=request, title=subscriber.email, subscriber=subscriber,
                suppression=suppression_for(session, subscriber.email), deliveries=deliveries, events=events,
                audit=audit_trail(session, subscriber.email), notice=NOTICES.get(notice), error=error,
                activity=reader_activity(session, [subscriber.id])[subscriber.id],
                interest=reader_interest(session, subscriber.id, get_settings().INTEREST_EDITIONS),
                interest_editions=get_settings().INTEREST_EDITIONS)


@router.get("/subscribers/export")
def export(status: str = "", editor: Editor = Depends(current_editor), session: Session = Depends(db)) -> Response:
    out = io.StringIO()
    export_subscribers(session, out, _status(status))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'})


def enqueue_import(session: Session, data: bytes, what: str, actor: str) -> int:
    """Keep an upload and queue its import for a worker once the upload is committed."""
    from workers.base import enqueue  # the web enqueues; digest proper never does
    from workers.tasks import import_subscribers

    import_id = keep_upload(session, data, what=what, actor=actor)
    enqueue(session, import_subscribers, import_id)
    return import_id


@router.post("/subscribers/import", response_class=HTMLResponse)
async def import_csv(request: Request, editor: Editor = Depends(current_editor),
                     session: Session = Depends(db)) -> Response:
    """Keep the file and queue its import; the import's page follows it. The body's size is held
    to IMPORT_MAX_BYTES as it streams in (web/limits.py)."""
    form = await request.form()
    verify_csrf(request, form)
    upload = form.get("file")
    data = await upload.read() if hasattr(upload, "read") else b""
    if not data:
        return await run_in_threadpool(_list_page, request, session, status_code=400,
                                       error="file: choose a CSV file to import")
    name = getattr(upload, "filename", None) or "the uploaded CSV"

    def keep() -> Response:
        try:
            import_id = enqueue_import(session, data, name, f"editor:{editor.id}")
            session.commit()
        except InputError as exc:
            session.rollback()
            return _list_page(request, session, status_code=400, error=str(exc))
        return RedirectResponse(f"/subscribers/imports/{import_id}", status_code=303)

    return await run_in_threadpool(keep)


# While an import runs its page reloads itself this often (no script needed).
IMPORT_REFRESH_SECONDS = 2


@router.get("/subscribers/imports/{import_id}", response_class=HTMLResponse)
def import_page(request: Request, import_id: RowId, editor: Editor = Depends(current_editor),
                session: Session = Depends(db)) -> HTMLResponse:
    progress = import_progress(session, import_id)
    return page("subscriber_import.html", request=request, title=f"Import of {progress['file']}", progress=progress,
                refresh=None if progress["finished"] else IMPORT_REFRESH_SECONDS)


@router.get("/subscribers/{subscriber_id}", response_class=HTMLResponse)
def subscriber(request: Request, subscriber_id: RowId, notice: str = "",
               editor: Editor = Depends(current_editor), session: Session = Depends(db)) -> HTMLResponse:
    return _detail_page(request, session, subscriber_id, notice=notice)


def _act(form: EditorForm, subscriber_id: int, notice: str, action, after: str | None = None) -> Response:
    subscriber = _subscriber(form.session, subscriber_id)
    return form_action(form.session, lambda session: action(session, subscriber),
                       done=after or f"/subscribers/{subscriber_id}?notice={notice}",
                       show_again=lambda error: _detail_page(form.request, form.session, subscriber_id, 400,
                                                             error=error))


@router.post("/subscribers/{subscriber_id}/suppress")
def suppress_subscriber(request: Request, subscriber_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    def action(session, subscriber):
        suppress(session, subscriber.email, SuppressionReason.OPERATOR, source=f"editor:{form.editor.id}",
                 detail=form.get("detail").strip()[:500] or None, ip=client_ip(request))
    return _act(form, subscriber_id, "suppressed", action)


@router.post("/subscribers/{subscriber_id}/unsubscribe")
def unsubscribe_subscriber(request: Request, subscriber_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    return _act(form, subscriber_id, "unsubscribed",
                lambda session, subscriber: unsubscribe(session, subscriber.id, source=f"editor:{form.editor.id}",
                                                        ip=client_ip(request)))


@router.post("/subscribers/{subscriber_id}/forget")
def forget(request: Request, subscriber_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    def action(session, subscriber):
        if form.get("confirm").strip().lower() != subscriber.email:
            raise InputError("confirm: type the subscriber's address exactly to forget them")
        forget_subscriber(session, subscriber.email, source=f"editor:{form.editor.id}")
    return _act(form, subscriber_id, "forgotten", action, after="/subscribers?notice=forgotten")
