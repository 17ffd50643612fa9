"""Rendering a page from templates/web, and what every route needs to know about a request."""

from __future__ import annotations

from collections.abc import Iterator

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


def db() -> Iterator[Session]:
    """The request's unit of work; one per request, shared by every dependency that asks."""
    with unit_of_work() as session:
        yield session


def client_ip(request: Request) -> str:
    """The client's address; behind a proxy, `digest serve` has already put the forwarded one
    here, when the proxy is one named in FORWARDED_ALLOW_IPS (never otherwise)."""
    return request.client.host if request.client else "unknown"
