"""Counts and times every HTTP request for /metrics (digest.counters). The route label is the
route's template (`/editions/{edition_id}`), never the raw path, so that a scan of random
addresses cannot create series without end: a request no route matched is counted as `unmatched`."""

from __future__ import annotations

import time

from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.counters import record_http_request


class RequestMetrics:
    """ASGI middleware; the Redis write runs in a thread after the answer is sent, off the event loop."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler answers 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            await run_in_threadpool(record_http_request, scope["method"], route, status,
                                    time.perf_counter() - started)
