"""Rendering a page from templates/web, and what every route needs to know about a request."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from digest.config import get_settings
from digest.templating import web_environment


def page(template: str, status_code: int = 200, /, headers: dict[str, str] | None = None, **context) -> HTMLResponse:
    settings = get_settings()
    body = web_environment().get_template(template).render(tz=settings.tz, **context)
    return HTMLResponse(body, status_code=status_code, headers=headers)


def client_ip(request: Request) -> str:
    """The client's address; behind a proxy, uvicorn's --proxy-headers has already put the
    forwarded one here (from trusted proxies only)."""
    return request.client.host if request.client else "unknown"
