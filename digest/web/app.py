"""The FastAPI application. Pages are rendered from templates/web with the shared environment;
the subscriber pages live in web/subscribers.py, the JSON API in web/api.py, the ops page,
metrics and probes in web/ops.py."""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.editions.approve import approved_render
from digest.editions.lookup import get_edition
from digest.editions.preview import preview_values
from digest.editions.render import fill
from digest.errors import InputError, NotFound
from digest.resources import resource_dir
from digest.delivery.events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Kept,
    WebhookRejected,
    store_webhook_batch,
    verify_sendgrid_request,
)
from digest.store.models import Edition, EditionItem, EditionKind, EditionStatus
from digest.subscribers.ratelimit import RateLimited
from digest.subscribers.tokens import BadToken, ExpiredToken
from digest.web import (api, archive_cache, editor, editor_accounts, editor_feeds, editor_subscribers,
                        editor_topics, ops, public_follow, reader_follows, reports, subscribers)
from digest.templating import web_environment
from digest.web.auth import LoginRequired, PublisherRequired, login_redirect
from digest.web.auth import router as auth_router
from digest.web.csrf import CSRF_HEADER, CsrfCookie, CsrfRejected
from digest.web.head import HeadAsGet
from digest.web.headers import SecurityHeaders, add_defaults, email_csp
from digest.web.ids import RowId
from digest.web.limits import BodySizeLimit, RequestTooLarge
from digest.web.nul import no_nul_in_query
from digest.web.pages import db, edition_name, page, rendered
from digest.web.request_metrics import RequestMetrics


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Each process's routes run in at most WEB_THREADS threads (config.py says why). A request's
    session is ended on a limiter of its own (pages.db), so a request holding a connection never
    waits for one of those threads to give it back."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = get_settings().WEB_THREADS
    # What the process made to start (modules, the app, its models and templates) lives as long
    # as it does: out of the collector's reach, a full collection walks only what requests made
    # since. Walking all of it stopped every request of the process for 40 to 90 ms, a score of
    # times a minute under a post-send burst.
    gc.freeze()
    yield


# No /docs, /redoc or /openapi.json: the API is documented in docs/web.md, not mapped for anyone.
app = FastAPI(title="Analyst Digest", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
              dependencies=[Depends(no_nul_in_query)])
app.mount("/static", StaticFiles(directory=resource_dir("templates") / "web" / "static"), name="static")
log = logging.getLogger(__name__)


def _error(request: Request, status_code: int, title: str, message: str,
           headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status_code, headers=headers)
    return page("error.html", status_code, headers=headers, title=title, message=message)


@app.exception_handler(Exception)
def server_error(request: Request, exc: Exception) -> Response:
    """A bug or a dependency down (500). Starlette calls this from its outermost middleware, after
    the exception passed every other one, so the security headers are added here."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    answer = _error(request, 500, "Something went wrong", "this request could not be answered; the error is "
                    "logged for the operators. Try again in a moment")
    add_defaults(answer.headers)
    return answer


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


@app.exception_handler(RequestTooLarge)
def too_large(request: Request, exc: RequestTooLarge) -> Response:
    return _error(request, 413, "Too large", exc.detail, {"Connection": "close"})


@app.exception_handler(subscribers.SignupUnavailable)
def signup_unavailable(request: Request, exc: subscribers.SignupUnavailable) -> Response:
    return _error(request, 503, "Please try again shortly", exc.message, {"Retry-After": str(exc.retry_after)})


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    # A path no route serves is a page like the others (JSON under /api/), not Starlette's JSON.
    if exc.status_code == 404:
        return _error(request, 404, "Not found", f"There is no page at {request.url.path}.")
    return await http_exception_handler(request, exc)


@app.exception_handler(RequestValidationError)
async def malformed(request: Request, exc: RequestValidationError) -> Response:
    # A path that names no object (/editions/abc) is a page that does not exist.
    if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
        return _error(request, 404, "Not found", f"There is no page at {request.url.path}.")
    return await request_validation_exception_handler(request, exc)


@app.exception_handler(InputError)
def bad_input(request: Request, exc: InputError) -> Response:
    return _error(request, 400, "That did not work", str(exc))


@app.exception_handler(LoginRequired)
def login_required(request: Request, exc: LoginRequired) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "log in, or send an editor's API token as a bearer token"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return login_redirect(exc)


@app.exception_handler(PublisherRequired)
def publisher_required(request: Request, exc: PublisherRequired) -> Response:
    return _error(request, 403, "Publishers only", "only a publisher may do this (approve, schedule, "
                  "pause, resume or cancel a send, or manage editor accounts)")


@app.exception_handler(CsrfRejected)
def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": f"a call authenticated by the session cookie needs the page's CSRF token in "
                                      f"the {CSRF_HEADER} header; scripts use an API token (Authorization: Bearer)"},
                            status_code=403)
    return _error(request, 400, "Form expired", "this form is out of date or did not come from this site; "
                  "reload the page and try again")


# Nearest the routes: a limit raised while a route reads the body reaches the app's handlers.
app.add_middleware(BodySizeLimit)
app.add_middleware(CsrfCookie)
# Added last, so outermost: every answer, errors included, carries the headers.
app.add_middleware(SecurityHeaders)
# Outside even that: a request is timed from its first byte in to its last byte out.
app.add_middleware(RequestMetrics)
# Outermost: a HEAD is the GET it asks about, to every part of the app.
app.add_middleware(HeadAsGet)


@app.get("/healthz", response_class=PlainTextResponse)
def healthz() -> str:
    """Alive: the process answers. Whether its database and Redis do is /readyz (web/ops.py)."""
    return "ok"


@app.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    # Browsers and feed readers ask for /favicon.ico whatever the page's <link rel=icon> says.
    return RedirectResponse("/static/favicon.svg", status_code=301)


@app.get("/", response_class=HTMLResponse)
@app.get("/archive", response_class=HTMLResponse)
def archive(session: Session = Depends(db)) -> HTMLResponse:
    editions = session.scalars(
        select(Edition).where(Edition.kind == EditionKind.DIGEST, Edition.status == EditionStatus.SENT)
        .order_by(Edition.period.desc())
    ).all()
    return page("archive.html", title="Archive", editions=editions)


@app.get("/archive/feed.atom")
def archive_feed(session: Session = Depends(db)) -> Response:
    settings = get_settings()
    editions = session.scalars(
        select(Edition).where(Edition.kind == EditionKind.DIGEST, Edition.status == EditionStatus.SENT)
        .order_by(Edition.sent_at.desc()).limit(50)
    ).all()
    updated = editions[0].sent_at if editions else dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    body = web_environment().get_template("archive.atom").render(
        editions=editions, base_url=settings.base_url, from_name=settings.FROM_NAME,
        updated=updated.isoformat())
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def _published(session: Session, edition_id: int) -> Edition:
    # Its row alone: the archive is read by everyone a send reaches, and needs no article of it.
    edition = get_edition(session, edition_id, items=False)
    if edition.status != EditionStatus.SENT or edition.kind != EditionKind.DIGEST:
        raise NotFound(f"edition {edition_id} has not been published")
    return edition


@app.get("/archive/{edition_id}", response_class=HTMLResponse)
async def archive_edition(edition_id: RowId, session: Session = Depends(db)) -> HTMLResponse:
    """The edition inside the site (a heading, the way to the other editions and to the sign-up
    page, for someone arriving from a forwarded link), the email itself framed below."""
    return HTMLResponse(await _archived(("archive", edition_id), _archive_page, session, edition_id))


def _archive_page(session: Session, edition_id: int) -> bytes:
    edition = _published(session, edition_id)

    def render() -> str:
        articles = session.scalar(select(func.count()).where(EditionItem.edition_id == edition.id))
        return rendered("archived.html", title=edition_name(edition), edition=edition, articles=articles)
    return archive_cache.pages.get(archive_cache.archive_page_key(edition), render)


@app.get("/archive/{edition_id}/email", response_class=HTMLResponse)
async def archive_edition_email(edition_id: RowId, session: Session = Depends(db)) -> HTMLResponse:
    """The email as sent, less its per-reader links, for the archive page's frame: it may style
    itself but never run anything, and only our own pages may frame it. Its links open in the
    reader's window, not inside the frame (a <base target> the sent email does not carry)."""
    return HTMLResponse(await _archived(("email", edition_id), _archive_email, session, edition_id),
                        headers={"Content-Security-Policy": email_csp("'self'")})


def _archive_email(session: Session, edition_id: int) -> bytes:
    edition = _published(session, edition_id)

    def render() -> str:
        html = fill(approved_render(session, edition), preview_values(edition_id)).html
        return html.replace("<head>", '<head><base target="_top">', 1)
    return archive_cache.pages.get(archive_cache.archive_email_key(edition), render)


async def _archived(key: tuple, page_of, session: Session, edition_id: int) -> bytes:
    """A page of the archive as last answered within ROW_SECONDS, on the event loop; otherwise
    its row read (and the page rendered if it changed) on a thread, which also ends the read."""
    body = archive_cache.recent.get(key)
    if body is None:
        def read() -> bytes:
            read_at = archive_cache.clock()
            page = page_of(session, edition_id)
            session.commit()  # the connection back to the pool here, not in a second thread
            archive_cache.recent.put(key, read_at, page)
            return page
        body = await run_in_threadpool(read)
    return body


@app.post("/webhooks/sendgrid")
async def sendgrid_webhook(request: Request, session: Session = Depends(db)) -> Response:
    """Verify and keep SendGrid's events, answer at once; a worker applies them."""
    settings = get_settings()
    if not settings.SENDGRID_WEBHOOK_PUBLIC_KEY:
        # 5xx makes SendGrid retry for a day: events wait for the operator to set the key.
        log.error("SendGrid webhook called but SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
        return PlainTextResponse("webhook verification key not configured", status_code=503)
    body = await request.body()  # at most WEBHOOK_MAX_BYTES: web/limits.py refuses more as it streams
    try:
        verify_sendgrid_request(body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER),
                                settings.SENDGRID_WEBHOOK_PUBLIC_KEY, settings.WEBHOOK_MAX_AGE_SECONDS)
    except WebhookRejected as exc:
        return PlainTextResponse(f"rejected: {exc}", status_code=403)
    try:
        kept = await run_in_threadpool(_keep_webhook, session, body, request.headers[TIMESTAMP_HEADER])
    except WebhookRejected as exc:
        return PlainTextResponse(f"rejected: {exc}", status_code=400)
    if kept.replayed:
        # A 200 all the same: SendGrid retries any other answer, and a retry of a request whose
        # 200 was lost would be retried for ever.
        return PlainTextResponse(f"already received as batch {kept.batch_id}")
    return PlainTextResponse(f"accepted batch {kept.batch_id}")


def _keep_webhook(session: Session, body: bytes, timestamp: str) -> Kept:
    """Store the batch and commit before SendGrid gets its 200 (the queue message follows)."""
    try:
        kept = store_webhook_batch(session, body, timestamp)
    except WebhookRejected:
        session.rollback()
        raise
    if not kept.replayed:
        # The batch is stored, so SendGrid gets its 200 whatever the queue does: without the
        # queue, beat's sweep applies it a minute later (workers/tasks.py sweep_webhooks).
        from workers.base import enqueue_or_log
        from workers.tasks import process_webhook

        enqueue_or_log(session, process_webhook, kept.batch_id)
    session.commit()
    return kept


# After this module's own routes (the archive, which everyone a send reaches opens), and the
# readers' pages first: a request is matched against the routes in this order, and each included
# router costs tens of microseconds to look through (the archive's routes, behind all twelve,
# spent a third of a cached page's CPU being found).
app.include_router(subscribers.router)
app.include_router(reader_follows.router)
app.include_router(public_follow.router)
app.include_router(auth_router)
app.include_router(api.router)
app.include_router(editor.router)
app.include_router(editor_subscribers.router)
app.include_router(editor_feeds.router)
app.include_router(editor_topics.router)
app.include_router(editor_accounts.router)
app.include_router(ops.router)
app.include_router(reports.router)
