"""Counts and times every HTTP request for /metrics (digest.counters). Every label comes from a
closed set, so that no scan can create series without end (each lives in Redis for good): the
route is the route's template (`/editions/{edition_id}`), never the raw path, and a request no route
matched is counted as `unmatched`; a method HTTP does not define (any token is a valid method) is
counted as `other`; the status is one our code answers."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.counters import record_http_request

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})


class RequestMetrics:
    """ASGI middleware; a request is added to the process's tally, written to Redis once a
    second (digest.counters), never on the request's way."""

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
            method = scope["method"] if scope["method"] in METHODS else "other"
            record_http_request(method, route, status, time.perf_counter() - started)
