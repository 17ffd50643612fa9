"""Rendering a page from templates/web, and what every route needs to know about a request."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.to_thread

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.store.db import unit_of_work
from digest.templating import web_environment
from digest.web.csrf import csrf_field, csrf_token


def edition_name(edition) -> str:
    """An edition's short name for a page's title: its subject may be long, and a title is read
    out first and cut in a browser's tab (html-validate asks for 70 characters at most)."""
    if edition.period is None:
        return f"Alert {edition.id}"
    return f"Edition of {web_environment().filters['long_date'](edition.period)}"


def page(template: str, status_code: int = 200, /, headers: dict[str, str] | None = None,
         request: Request | None = None, **context) -> HTMLResponse:
    """Render a page. Pass `request` for pages with forms: `{{ csrf_field() }}` then holds the
    token `verify_csrf` expects, and the logged-in editor (if any) is `editor`."""
    return HTMLResponse(rendered(template, request, **context), status_code=status_code, headers=headers)


def rendered(template: str, request: Request | None = None, /, **context) -> str:
    """A page's HTML, as page() answers it."""
    if request is not None:
        token = csrf_token(request)
        context.setdefault("csrf_field", lambda: csrf_field(token))
        context.setdefault("editor", getattr(request.state, "editor", None))
    else:
        context.setdefault("csrf_field", _no_request)
    return web_environment().get_template(template).render(tz=get_settings().tz, **context)


def _no_request():
    raise RuntimeError("a page with a form is rendered with page(..., request=request)")


async def db() -> AsyncIterator[Session]:
    """The request's unit of work; one per request, shared by every dependency that asks. Made on
    the event loop: a session connects at its first statement, not before, so no thread is taken
    for it. Its end (commit or rollback, and the connection given back) runs in a thread on a
    limiter of its own, as FastAPI ends a sync dependency, so that it never waits for the routes'
    threads (WEB_THREADS); on the loop when the request has no transaction open and nothing to
    flush (it sent no statement, or committed its change itself), for there is nothing to send.
    Shielded: a client gone mid-request still has its transaction ended."""
    work = unit_of_work()
    session = work.__enter__()
    try:
        yield session
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            if not await _end(session, work.__exit__, type(exc), exc, exc.__traceback__):
                raise
    else:
        with anyio.CancelScope(shield=True):
            await _end(session, work.__exit__, None, None, None)


async def _end(session: Session, end, *exc_info) -> bool | None:
    if not (session.in_transaction() or session.new or session.dirty or session.deleted):
        return end(*exc_info)
    return await anyio.to_thread.run_sync(end, *exc_info, limiter=anyio.CapacityLimiter(1))


def client_ip(request: Request) -> str:
    """The client's address; behind a proxy, `digest serve` has already put the forwarded one
    here, when the proxy is one named in FORWARDED_ALLOW_IPS (never otherwise)."""
    return request.client.host if request.client else "unknown"
