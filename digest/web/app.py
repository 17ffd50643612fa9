"""The FastAPI application. Pages are rendered from templates/web with the shared environment;
the subscriber pages live in web/subscribers.py, the JSON API in web/api.py."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.editions.approve import approved_render, get_edition
from digest.editions.preview import preview_edition
from digest.editions.render import fill
from digest.errors import InputError, NotFound
from digest.store.db import unit_of_work
from digest.store.models import Edition, EditionStatus
from digest.subscribers.ratelimit import RateLimited
from digest.subscribers.tokens import BadToken, ExpiredToken
from digest.web import api, subscribers
from digest.web.pages import page

app = FastAPI(title="Analyst Digest", docs_url=None, redoc_url=None)
app.include_router(subscribers.router)
app.include_router(api.router)


def db() -> Iterator[Session]:
    with unit_of_work() as session:
        yield session


def _error(request: Request, status_code: int, title: str, message: str,
           headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status_code, headers=headers)
    return page("error.html", status_code, headers=headers, title=title, message=message)


@app.exception_handler(NotFound)
def not_found(request: Request, exc: NotFound) -> Response:
    return _error(request, 404, "Not found", str(exc))


@app.exception_handler(BadToken)
def bad_token(request: Request, exc: BadToken) -> Response:
    title = "Link expired" if isinstance(exc, ExpiredToken) else "Link not valid"
    return _error(request, 400, title, str(exc))


@app.exception_handler(RateLimited)
def rate_limited(request: Request, exc: RateLimited) -> Response:
    return _error(request, 429, "Too many requests", str(exc), {"Retry-After": str(exc.retry_after)})


@app.exception_handler(InputError)
def bad_input(request: Request, exc: InputError) -> Response:
    return _error(request, 400, "That did not work", str(exc))


@app.get("/healthz", response_class=PlainTextResponse)
def healthz(session: Session = Depends(db)) -> str:
    session.execute(text("SELECT 1"))
    return "ok"


@app.get("/", response_class=HTMLResponse)
@app.get("/archive", response_class=HTMLResponse)
def archive(session: Session = Depends(db)) -> HTMLResponse:
    editions = session.scalars(
        select(Edition).where(Edition.status == EditionStatus.SENT).order_by(Edition.period.desc())
    ).all()
    return page("archive.html", title="Archive", editions=editions)


@app.get("/archive/{edition_id}", response_class=HTMLResponse)
def archive_edition(edition_id: int, session: Session = Depends(db)) -> HTMLResponse:
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.SENT:
        raise NotFound(f"edition {edition_id} has not been published")
    # The web version carries no per-reader links.
    base = get_settings().base_url
    values = {"name": "reader", "unsubscribe_url": f"{base}/unsubscribe", "preferences_url": f"{base}/preferences"}
    return HTMLResponse(fill(approved_render(session, edition), values).html)


@app.get("/editions/{edition_id}/preview")
def edition_preview(edition_id: int, format: str = "html", session: Session = Depends(db)) -> Response:  # noqa: A002
    if format not in ("html", "text"):
        raise InputError(f"format {format!r} must be html or text")
    filled = preview_edition(get_edition(session, edition_id))
    if format == "text":
        return PlainTextResponse(f"Subject: {filled.subject}\n\n{filled.text}")
    return HTMLResponse(filled.html)
