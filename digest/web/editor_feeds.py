"""Editors' feeds page: every feed with its health (last success, last error, stale), and adding,
pausing, resuming and polling one now (a task, enqueued once the change is committed)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from digest.clock import utcnow
from digest.config import get_settings
from digest.feeds.registry import add_feed, feed_health, get_feed, pause_feed, resume_feed
from digest.store.models import Editor
from digest.web.auth import current_editor
from digest.web.editor import EditorForm, editor_form
from digest.web.forms import form_action
from digest.web.ids import RowId
from digest.web.pages import db, page

router = APIRouter()
NOTICES = {"added": "Feed added; it is polled within a minute.", "paused": "Feed paused.",
           "resumed": "Feed resumed; it is polled within a minute.", "polling": "Poll queued; reload in a moment."}


def _feeds_page(request: Request, session: Session, status_code: int = 200, notice: str = "",
                error: str | None = None, url: str = "", section: str = "") -> HTMLResponse:
    return page("feeds.html", status_code, request=request, title="Feeds", feeds=feed_health(session, utcnow()),
                notice=NOTICES.get(notice), error=error, url=url, section=section,
                sections=get_settings().SECTION_ORDER, stale_days=get_settings().FEED_STALE_DAYS)


@router.get("/feeds", response_class=HTMLResponse)
def feeds(request: Request, notice: str = "", editor: Editor = Depends(current_editor),
          session: Session = Depends(db)) -> HTMLResponse:
    return _feeds_page(request, session, notice=notice)


def _poll_after_commit(session, feed_id: int) -> None:
    from workers.base import enqueue  # the web enqueues; digest proper never does
    from workers.tasks import poll_feed

    enqueue(session, poll_feed, feed_id)


def _act(form: EditorForm, notice: str, action, **shown) -> Response:
    return form_action(form.session, action, done=f"/feeds?notice={notice}",
                       show_again=lambda error: _feeds_page(form.request, form.session, 400, error=error, **shown))


@router.post("/feeds")
def add(request: Request, form: EditorForm = Depends(editor_form)) -> Response:
    url, section = form.get("url"), form.get("section").strip()

    def action(session):
        _poll_after_commit(session, add_feed(session, url, section or None).id)
    return _act(form, "added", action, url=url, section=section)


@router.post("/feeds/{feed_id}/pause")
def pause(request: Request, feed_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    return _act(form, "paused", lambda session: pause_feed(session, feed_id))


@router.post("/feeds/{feed_id}/resume")
def resume(request: Request, feed_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    return _act(form, "resumed", lambda session: _poll_after_commit(session, resume_feed(session, feed_id).id))


@router.post("/feeds/{feed_id}/poll")
def poll_now(request: Request, feed_id: RowId, form: EditorForm = Depends(editor_form)) -> Response:
    return _act(form, "polling", lambda session: _poll_after_commit(session, get_feed(session, feed_id).id))
