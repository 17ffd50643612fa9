"""Request body limits, enforced while the body streams in: a declared Content-Length over the
limit is refused before a byte is read, and a chunked body is counted as it arrives, so an
oversized request never sits in memory whole. Limits are settings (digest/config.py).
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.config import get_settings

# Routes whose bodies are CSV files (the API and the subscribers page's upload form).
IMPORT_PATHS = ("/api/subscribers/import", "/subscribers/import")
WEBHOOK_PATHS = ("/webhooks/sendgrid",)


class RequestTooLarge(HTTPException):
    """Raised from inside `receive` once a body passes its limit. An HTTPException, so that
    FastAPI's body parsing passes it on unchanged (it turns other errors into a 400)."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than this address accepts ({limit} bytes)")
        self.limit = limit


def body_limit(path: str) -> int:
    settings = get_settings()
    if path in WEBHOOK_PATHS:
        return settings.WEBHOOK_MAX_BYTES
    if path in IMPORT_PATHS:
        return settings.IMPORT_MAX_BYTES
    return settings.REQUEST_MAX_BYTES


class BodySizeLimit:
    """ASGI middleware: 413 for any request whose body is over its route's limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, RequestTooLarge(limit))
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except RequestTooLarge as exc:
            # Normally the app's own handler answers; this catches a body read outside a route.
            if started:
                raise
            await _refuse(send, exc)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


async def _refuse(send: Send, exc: RequestTooLarge) -> None:
    body = exc.detail.encode()
    # Connection: close, since the rest of the body is never read.
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
