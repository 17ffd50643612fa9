"""CSRF tokens for the editors' forms and the cookie-authenticated JSON API: a random cookie per
browser and, in each form, that cookie's signature (double submit, signed), so the login form is
protected before anyone is logged in. A leaf: pages render the token, auth and routes check it."""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup, escape

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


def set_csrf_cookie(request: Request, response: Response) -> Response:
    """Called for every response: hands out the CSRF cookie a rendered form relies on."""
    nonce = getattr(request.state, "new_csrf_nonce", None)
    if nonce:
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=secure_cookies(), path="/")
    return response
