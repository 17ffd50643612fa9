"""Publishers' page for editor accounts: list them, reset a password, revoke an API token,
remove an account. The same functions as `digest editors ...`, audited the same way."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from digest.accounts import account_actions, list_editors, remove_editor, revoke_api_token, set_password
from digest.clock import utcnow
from digest.errors import NotFound
from digest.store.models import Editor
from digest.web.auth import LoginRequired, require_publisher
from digest.web.editor import EditorForm, publisher_form
from digest.web.forms import form_action
from digest.web.ids import RowId
from digest.web.pages import db, page

router = APIRouter()
NOTICES = {"password": "Password changed; that editor's sessions have ended.",
           "token": "API token revoked.",
           "removed": "Editor removed."}


def _page(request: Request, session: Session, status_code: int = 200, **context) -> HTMLResponse:
    return page("editors.html", status_code, request=request, title="Editors", editors=list_editors(session),
                actions=account_actions(session), now=utcnow(), **context)


@router.get("/editors", response_class=HTMLResponse)
def editors(request: Request, notice: str = "", editor: Editor = Depends(require_publisher),
            session: Session = Depends(db)) -> HTMLResponse:
    return _page(request, session, notice=NOTICES.get(notice), error=None)


def _act(form: EditorForm, editor_id: int, notice: str, action) -> Response:
    target = form.session.get(Editor, editor_id)
    if target is None:
        raise NotFound(f"editor {editor_id} does not exist")
    email, who = target.email, {"by": form.editor.email, "source": f"editor:{form.editor.id}"}
    actor_id = form.editor.id

    def show_again(error: str) -> HTMLResponse:
        # Another publisher may have removed this one meanwhile (two removing each other at
        # once): their session is over, as on their next request.
        if form.session.get(Editor, actor_id) is None:
            raise LoginRequired("/editors")
        return _page(form.request, form.session, 400, notice=None, error=error)

    return form_action(form.session, lambda session: action(session, email, **who), done=f"/editors?notice={notice}",
                       show_again=show_again)


@router.post("/editors/{editor_id}/password")
def reset_password(request: Request, editor_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    password = form.get("password")
    return _act(form, editor_id, "password",
                lambda session, email, **who: set_password(session, email, password, **who))


@router.post("/editors/{editor_id}/revoke-token")
def revoke_token(request: Request, editor_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    return _act(form, editor_id, "token", revoke_api_token)


@router.post("/editors/{editor_id}/remove")
def remove(request: Request, editor_id: RowId, form: EditorForm = Depends(publisher_form)) -> Response:
    return _act(form, editor_id, "removed", remove_editor)
