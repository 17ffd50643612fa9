"""CSRF tokens for the editors' forms and the cookie-authenticated JSON API: a random cookie per
browser and, in each form, that cookie's signature (double submit, signed), so the login form is
protected before anyone is logged in. A leaf: pages render the token, auth and routes check it."""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup, escape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.config import get_settings
from digest.signing import COOKIE_MAC_BYTES, sign, verify

CSRF_COOKIE = "digest_csrf"
# A state-changing /api/ call authenticated by the session cookie carries the page's CSRF token here.
CSRF_HEADER = "X-CSRF-Token"


class CsrfRejected(Exception):
    """A form arrived without the token of the page it came from."""


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page; sets the browser's CSRF cookie when it has none."""
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_nonce", None)
    if not nonce:
        nonce = request.state.new_csrf_nonce = secrets.token_urlsafe(16)
    return sign("csrf", nonce, COOKIE_MAC_BYTES)


def csrf_field(token: str) -> Markup:
    return Markup(f'<input type="hidden" name="csrf_token" value="{escape(token)}">')


def verify_csrf(request: Request, form) -> None:
    nonce = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get("csrf_token") or "")
    if not nonce or not sent or not verify("csrf", nonce, sent, COOKIE_MAC_BYTES):
        raise CsrfRejected()


def secure_cookies() -> bool:
    """Cookies are Secure when the public address is https."""
    return get_settings().base_url.startswith("https://")


class CsrfCookie:
    """ASGI middleware handing out the CSRF cookie a rendered form relies on: a page that made a
    new nonce (csrf_token) left it in the request's state. Plain ASGI, not Starlette's
    BaseHTTPMiddleware, whose extra task and streams every request paid for."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            nonce = scope.get("state", {}).get("new_csrf_nonce")
            if message["type"] == "http.response.start" and nonce:
                cookie = Response()
                cookie.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=secure_cookies(), path="/")
                message = {**message, "headers": [*message.get("headers", []),
                                                  *(h for h in cookie.raw_headers if h[0] == b"set-cookie")]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
