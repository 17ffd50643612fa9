"""Editors' topics pages: every section, tag and author the articles name, with articles and
followers; a topic's latest articles and its followers, and a publisher's rename, merge and hide
(the same functions as `digest topics ...`, audited the same way)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from digest.errors import InputError
from digest.store.models import Editor, TopicKind
from digest.topics.admin import (FOLLOWERS_PAGE, get_topic, hide, list_topics, merge, rename, topic_articles,
                                 topic_followers)
from digest.web.auth import current_editor
from digest.web.editor import EditorForm, publisher_form
from digest.web.forms import form_action
from digest.web.ids import RowId, form_id
from digest.web.pages import db, page

router = APIRouter()
NOTICES = {"renamed": "Topic renamed.", "merged": "Topic merged: its followers and articles are here now.",
           "hidden": "Topic hidden: readers are no longer offered it.", "shown": "Topic offered to readers again."}
KIND_TITLES = {TopicKind.SECTION: "Sections", TopicKind.TAG: "Tags", TopicKind.AUTHOR: "Authors"}
# Pages of followers an address may ask for: past the last one, the page is empty.
MAX_PAGE = 100_000


@router.get("/topics", response_class=HTMLResponse)
def topics(request: Request, editor: Editor = Depends(current_editor),
           session: Session = Depends(db)) -> HTMLResponse:
    rows = list_topics(session)
    groups = [(KIND_TITLES[kind], [row for row in rows if row.kind == kind]) for kind in KIND_TITLES]
    return page("topics.html", request=request, title="Topics", groups=groups)


def _topic_page(request: Request, session: Session, topic_id: int, status_code: int = 200, notice: str = "",
                error: str | None = None, page_number: int = 1) -> HTMLResponse:
    topic = get_topic(session, topic_id)
    into = get_topic(session, topic.merged_into_id) if topic.merged_into_id else None
    total, followers = topic_followers(session, topic.id, offset=(page_number - 1) * FOLLOWERS_PAGE)
    targets = [row for row in list_topics(session, topic.kind) if row.id != topic.id]
    return page("topic.html", status_code, request=request, title=topic.name, topic=topic, into=into,
                articles=topic_articles(session, topic.id), followers=followers, total=total,
                page_number=page_number, per_page=FOLLOWERS_PAGE, targets=targets, notice=NOTICES.get(notice),
                error=error, publisher=request.state.editor.role == "publisher")


@router.get("/topics/{topic_id}", response_class=HTMLResponse)
def topic(request: Request, topic_id: RowId, notice: str = "",
          page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
          editor: Editor = Depends(current_editor), session: Session = Depends(db)) -> HTMLResponse:
    return _topic_page(request, session, topic_id, notice=notice, page_number=page_number)


def _act(form: EditorForm, topic_id: int, notice: str, action, shown_after: int | None = None) -> Response:
    """Run a publisher's `action(session, by=..., source=...)` on the topic; then its page (or
    `shown_after`'s: a merged topic's followers are on its target's page)."""
    who = {"by": form.editor.email, "source": f"editor:{form.editor.id}"}
    get_topic(form.session, topic_id)  # a topic that does not exist is a 404, not a form error
    return form_action(form.session, lambda session: action(session, **who),
                       done=f"/topics/{shown_after or topic_id}?notice={notice}",
                       show_again=lambda error: _topic_page(form.request, form.session, topic_id, 400, error=error))


@router.post("/topics/{topic_id}/rename")
def rename_topic(request: Request, topic_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    name = form.get("name")
    return _act(form, topic_id, "renamed", lambda session, **who: rename(session, topic_id, name, **who))


@router.post("/topics/{topic_id}/merge")
def merge_topic(request: Request, topic_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    into = form.get("into").strip()
    if not into:
        raise InputError("choose the topic to merge into")
    target_id = form_id(into, "topic")
    return _act(form, topic_id, "merged", lambda session, **who: merge(session, topic_id, target_id, **who),
                shown_after=target_id)


@router.post("/topics/{topic_id}/hide")
def hide_topic(request: Request, topic_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    return _act(form, topic_id, "hidden", lambda session, **who: hide(session, topic_id, True, **who))


@router.post("/topics/{topic_id}/unhide")
def unhide_topic(request: Request, topic_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    return _act(form, topic_id, "shown", lambda session, **who: hide(session, topic_id, False, **who))
