"""Stand-in for the lead's editor logins (digest/web/auth.py on main), with the same interface,
so that the editor pages can be built and tested before it lands; replaced by it on merge."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape

from digest.config import get_settings
from digest.store.db import unit_of_work
from digest.store.models import Editor

SESSION_COOKIE = "digest_session"
CSRF_COOKIE = "digest_csrf"
router = APIRouter()


class LoginRequired(Exception):
    def __init__(self, next_path: str):
        self.next_path = next_path


class PublisherRequired(Exception):
    pass


class CsrfRejected(Exception):
    pass


def _sign(*parts: str) -> str:
    key = get_settings().SECRET_KEY.encode()
    return hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()[:32]


def current_editor(request: Request) -> Editor:
    editor_id, _, signature = request.cookies.get(SESSION_COOKIE, "").partition(".")
    editor = None
    if editor_id.isdigit() and hmac.compare_digest(signature, _sign("session", editor_id)):
        with unit_of_work() as session:
            editor = session.get(Editor, int(editor_id))
    if editor is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    request.state.editor = editor
    return editor


def require_publisher(editor: Editor = Depends(current_editor)) -> Editor:
    if editor.role != "publisher":
        raise PublisherRequired()
    return editor


def csrf_token(request: Request) -> str:
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_nonce", None)
    if not nonce:
        nonce = request.state.new_csrf_nonce = secrets.token_urlsafe(16)
    return _sign("csrf", nonce)


def csrf_field(token: str) -> Markup:
    return Markup(f'<input type="hidden" name="csrf_token" value="{escape(token)}">')


def verify_csrf(request: Request, form) -> None:
    nonce = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get("csrf_token") or "")
    if not nonce or not sent or not hmac.compare_digest(sent, _sign("csrf", nonce)):
        raise CsrfRejected()


def set_auth_cookies(request: Request, response: Response) -> Response:
    nonce = getattr(request.state, "new_csrf_nonce", None)
    if nonce:
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="lax", path="/")
    return response


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


def login_as(client, editor: Editor) -> None:
    client.cookies.set(SESSION_COOKIE, f"{editor.id}.{_sign('session', str(editor.id))}")
