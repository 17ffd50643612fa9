"""Editor logins for the web app: signed session cookies, per-editor API tokens, CSRF tokens.

The session cookie carries the editor's id, when it was issued and a nonce, signed (digest.signing,
scope "session") together with a fingerprint of the editor's password hash and the editor's session
generation: changing the password, or logging out (which adds one to the generation), ends every
session of that editor on every browser, server-side; a copied cookie stops working too. It is
HttpOnly, SameSite=Lax, and Secure when the public address is https. CSRF tokens: digest/web/csrf.py.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from digest.accounts import LoginRefused, LoginsBusy, authenticate, editor_for_token, end_sessions
from digest.config import get_settings
from digest.store.models import Editor
from digest.login_limit import refund_login_attempt, reserve_login_attempt
from digest.signing import COOKIE_MAC_BYTES, sign, verify
from digest.web.csrf import CSRF_HEADER, secure_cookies, verify_csrf
from digest.web.ids import is_row_id
from digest.subscribers.ratelimit import RateLimited
from digest.web.pages import client_ip, db, page

SESSION_COOKIE = "digest_session"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
router = APIRouter()


class LoginRequired(Exception):
    """Raised by `current_editor`; the app answers a redirect to the login page (or 401 JSON)."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class PublisherRequired(Exception):
    """An editor asked for what only a publisher may do."""


def _fingerprint(editor: Editor) -> str:
    password = hashlib.sha256(editor.password_hash.encode()).hexdigest()[:16]
    return f"{password}.{editor.session_generation}"


def session_value(editor: Editor, issued: int | None = None) -> str:
    issued = int(time.time()) if issued is None else issued
    nonce = secrets.token_urlsafe(12)
    payload = f"{editor.id}.{issued}.{nonce}"
    signature = sign("session", f"{payload}\0{_fingerprint(editor)}", COOKIE_MAC_BYTES)
    return f"{payload}.{signature}"


def _editor_from_session(db: Session, value: str) -> Editor | None:
    try:
        editor_id, issued, nonce, signature = value.split(".")
        fresh = time.time() - int(issued) < get_settings().SESSION_HOURS * 3600
        # Looked up before the signature can be checked (it covers the editor's password hash).
        editor = db.get(Editor, int(editor_id)) if is_row_id(int(editor_id)) else None
    except (ValueError, TypeError, OverflowError):  # OverflowError: an `issued` past any float
        return None
    if editor is None or not fresh:
        return None
    signed = f"{editor_id}.{issued}.{nonce}\0{_fingerprint(editor)}"
    return editor if verify("session", signed, signature, COOKIE_MAC_BYTES) else None


def current_editor(request: Request, db: Session = Depends(db)) -> Editor:
    """The logged-in editor (session cookie or `Authorization: Bearer <API token>`)."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        editor = editor_for_token(db, authorization[7:].strip())
    else:
        editor = _editor_from_session(db, request.cookies.get(SESSION_COOKIE, ""))
    if editor is None:
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    request.state.editor = editor
    return editor


def api_editor(request: Request, editor: Editor = Depends(current_editor)) -> Editor:
    """`current_editor` for the JSON API: a state-changing call authenticated by the session
    cookie must also carry the page's CSRF token in CSRF_HEADER, since a browser sends the cookie
    with any site's request (a text/plain POST needs no preflight). A bearer token needs none:
    no other site can make a browser send it."""
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    if not bearer and request.method not in _SAFE_METHODS:
        verify_csrf(request, {"csrf_token": request.headers.get(CSRF_HEADER, "")})
    return editor


def require_publisher(editor: Editor = Depends(current_editor)) -> Editor:
    if editor.role != "publisher":
        raise PublisherRequired()
    return editor


def api_publisher(editor: Editor = Depends(api_editor)) -> Editor:
    """`require_publisher` for the JSON API, with `api_editor`'s CSRF rule for cookies."""
    return require_publisher(editor)


WRONG_LOGIN = ("Wrong email or password. After repeated failures an account is locked for a while; "
               "try again later.")


def _safe_next(next_path: str | None) -> str:
    # Only a path on this site: never an absolute URL an attacker chose.
    if next_path and next_path.startswith("/") and not next_path.startswith("//"):
        return next_path
    return "/dashboard"


@router.get("/login")
def login_page(request: Request, next: str = "/dashboard"):  # noqa: A002 - the query parameter's name
    return page("login.html", title="Log in", request=request, next=_safe_next(next), error=None, email="")


@router.post("/login")
def login(request: Request, email: str = Form(""), password: str = Form(""), csrf_token: str = Form(""),
          next: str = Form("/dashboard"), db: Session = Depends(db)):  # noqa: A002
    verify_csrf(request, {"csrf_token": csrf_token})
    ip = client_ip(request)
    try:
        reserve_login_attempt(ip)
    except RateLimited as exc:
        return page("login.html", 429, headers={"Retry-After": str(exc.retry_after)}, title="Log in",
                    request=request, next=_safe_next(next), error=str(exc), email=email)
    try:
        editor = authenticate(db, email, password)
    except LoginsBusy as exc:
        refund_login_attempt(ip)  # no password was checked: no guess to count
        return page("login.html", 503, headers={"Retry-After": str(exc.retry_after)}, title="Log in",
                    request=request, next=_safe_next(next), error=str(exc), email=email)
    except LoginRefused:
        db.commit()  # the failure count is kept, whatever the answer
        # The page's words; the same for a wrong password, an unknown address and a locked account.
        return page("login.html", 401, title="Log in", request=request, next=_safe_next(next),
                    error=WRONG_LOGIN, email=email)
    refund_login_attempt(ip)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_value(editor), max_age=get_settings().SESSION_HOURS * 3600,
                        httponly=True, samesite="lax", secure=secure_cookies(), path="/")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form(""), db: Session = Depends(db)):
    verify_csrf(request, {"csrf_token": csrf_token})
    editor = _editor_from_session(db, request.cookies.get(SESSION_COOKIE, ""))
    if editor is not None:
        end_sessions(db, editor.id)
        db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)
