"""Security headers on every response. Pages get a Content-Security-Policy that allows only our
own scripts (templates/web/static) and refuses framing; an email shown on our origin (the
archive, the editor's preview) gets a stricter one of its own: no script at all, its inline
styles and remote images allowed. A route that set its own policy keeps it.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
            "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def email_csp(frame_ancestors: str) -> str:
    """For an email's HTML served from our origin: CSS is inlined into style attributes and
    images are remote, so those are allowed; nothing runs, submits or loads a plugin."""
    return ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
            f"font-src https: data:; frame-ancestors {frame_ancestors}; form-action 'none'; base-uri 'none'")


# Per-reader links carry tokens in their paths (/u/..., /p/...): never hand them to another site.
DEFAULTS = {
    "content-security-policy": PAGE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def add_defaults(headers: MutableHeaders) -> None:
    for name, value in DEFAULTS.items():
        if name not in headers:
            headers[name] = value


class SecurityHeaders:
    """ASGI middleware adding DEFAULTS to every response that does not set them itself. Starlette
    answers an unhandled exception outside every middleware: its handler (app.py) adds them too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_defaults(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)
