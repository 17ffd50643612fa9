"""The FastAPI application. Pages are rendered from templates/web with the shared environment."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.editions.approve import approved_render, get_edition
from digest.editions.preview import preview_edition
from digest.editions.render import fill
from digest.errors import InputError, NotFound
from digest.delivery.events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookRejected,
    store_webhook_batch,
    verify_sendgrid_request,
)
from digest.store.db import on_commit, unit_of_work
from digest.store.models import Edition, EditionStatus
from digest.subscribers.lifecycle import unsubscribe
from digest.subscribers.tokens import UNSUBSCRIBE, BadToken, read_token
from digest.templating import web_environment

app = FastAPI(title="Analyst Digest", docs_url=None, redoc_url=None)
log = logging.getLogger(__name__)
# SendGrid posts batches of at most a few MB; anything far larger is not theirs.
MAX_WEBHOOK_BYTES = 20 * 1024 * 1024


def db() -> Iterator[Session]:
    with unit_of_work() as session:
        yield session


def page(name: str, status_code: int = 200, **context) -> HTMLResponse:
    settings = get_settings()
    body = web_environment().get_template(name).render(tz=settings.tz, **context)
    return HTMLResponse(body, status_code=status_code)


@app.exception_handler(NotFound)
def not_found(request: Request, exc: NotFound) -> HTMLResponse:
    return page("error.html", 404, title="Not found", message=str(exc))


@app.exception_handler(InputError)
def bad_input(request: Request, exc: InputError) -> HTMLResponse:
    return page("error.html", 400, title="That did not work", message=str(exc))


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


@app.get("/archive/feed.atom")
def archive_feed(session: Session = Depends(db)) -> Response:
    settings = get_settings()
    editions = session.scalars(
        select(Edition).where(Edition.status == EditionStatus.SENT).order_by(Edition.sent_at.desc()).limit(50)
    ).all()
    updated = editions[0].sent_at if editions else dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    body = web_environment().get_template("archive.atom").render(
        editions=editions, base_url=settings.base_url, from_name=settings.FROM_NAME,
        updated=updated.isoformat())
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@app.get("/archive/{edition_id}", response_class=HTMLResponse)
def archive_edition(edition_id: int, session: Session = Depends(db)) -> HTMLResponse:
    edition = get_edition(session, edition_id)
    if edition.status != EditionStatus.SENT:
        raise NotFound(f"edition {edition_id} has not been published")
    # The web version carries no per-reader links.
    values = {"name": "reader", "unsubscribe_url": f"{get_settings().base_url}/unsubscribe"}
    return HTMLResponse(fill(approved_render(session, edition), values).html)


@app.get("/editions/{edition_id}/preview")
def edition_preview(edition_id: int, format: str = "html", session: Session = Depends(db)) -> Response:  # noqa: A002
    if format not in ("html", "text"):
        raise InputError(f"format {format!r} must be html or text")
    filled = preview_edition(get_edition(session, edition_id))
    if format == "text":
        return PlainTextResponse(f"Subject: {filled.subject}\n\n{filled.text}")
    return HTMLResponse(filled.html)


@app.post("/webhooks/sendgrid")
async def sendgrid_webhook(request: Request) -> Response:
    """Verify and keep SendGrid's events, answer at once; a worker applies them."""
    settings = get_settings()
    if not settings.SENDGRID_WEBHOOK_PUBLIC_KEY:
        # 5xx makes SendGrid retry for a day: events wait for the operator to set the key.
        log.error("SendGrid webhook called but SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
        return PlainTextResponse("webhook verification key not configured", status_code=503)
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        return PlainTextResponse("payload too large", status_code=413)
    try:
        verify_sendgrid_request(body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER),
                                settings.SENDGRID_WEBHOOK_PUBLIC_KEY, settings.WEBHOOK_MAX_AGE_SECONDS)
    except WebhookRejected as exc:
        return PlainTextResponse(f"rejected: {exc}", status_code=403)
    try:
        batch_id = await run_in_threadpool(_keep_webhook, body)
    except WebhookRejected as exc:
        return PlainTextResponse(f"rejected: {exc}", status_code=400)
    return PlainTextResponse(f"accepted batch {batch_id}")


def _keep_webhook(body: bytes) -> int:
    from workers.tasks import process_webhook

    with unit_of_work() as session:
        batch = store_webhook_batch(session, body)
        on_commit(session, lambda: process_webhook.delay(batch.id))
        return batch.id


@app.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_help() -> HTMLResponse:
    return page("unsubscribe_help.html", title="Unsubscribe")


@app.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str) -> HTMLResponse:
    read_token(UNSUBSCRIBE, token)
    return page("unsubscribe.html", title="Unsubscribe", token=token, done=False)


@app.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_now(token: str, session: Session = Depends(db)) -> HTMLResponse:
    """RFC 8058 one-click (and the page's button): the signed token alone authorises it, so no
    cookie or form field is needed; answers 200, never a redirect, and repeats harmlessly."""
    try:
        subscriber_id = read_token(UNSUBSCRIBE, token)
    except BadToken as exc:
        return page("error.html", 400, title="Link not valid", message=str(exc))
    unsubscribe(session, subscriber_id)
    return page("unsubscribe.html", title="Unsubscribed", token=token, done=True)
