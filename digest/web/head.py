"""HEAD on every GET route (uptime monitors and link checkers use it): answered as the GET it asks
about, with the same status and headers (Content-Length included, as RFC 9110 allows) and no body.
FastAPI routes answer only the methods they name, so without this every HEAD was a 405."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """ASGI middleware; outermost, so everything inside (the metrics too) sees the GET."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)
