"""Operators' part of the web app: the ops page (updating itself in place: static/ops.js) and its
actions, the status as JSON, Prometheus metrics and the probes. Everything reads
digest.ops.status.gather_status."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.counters import flush_http_requests
from digest.delivery.control import Done
from digest.errors import InputError
from digest.ops import actions
from digest.ops.metrics import metrics_text
from digest.ops.queues import QUEUES
from digest.ops.records import redis_client
from digest.ops.status import gather_status, readiness
from digest.store.models import Editor
from digest.web.auth import api_publisher, current_editor, require_publisher
from digest.web.csrf import verify_csrf
from digest.web.ids import RowId
from digest.web.pages import db, page

router = APIRouter()
log = logging.getLogger(__name__)


@router.get("/readyz")
def readyz() -> Response:
    """Public, for load balancers: which dependency is down, never its error, which names internal
    hosts, ports and database names; those go to the log, and to /ops for editors."""
    errors = readiness()
    for name, error in errors.items():
        if error:
            log.warning("/readyz: %s is down: %s", name, error)
    ready = not any(errors.values())
    return JSONResponse({"ready": ready, **{name: "down" if error else "ok" for name, error in errors.items()}},
                        status_code=200 if ready else 503)


@router.get("/metrics")
def metrics() -> Response:
    # Figures only (no addresses, no tracebacks); expose it to the monitoring network alone.
    flush_http_requests()  # this process's own requests are in what it answers
    return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/ops/status")
def api_status(editor: Editor = Depends(current_editor), session: Session = Depends(db)) -> JSONResponse:
    return JSONResponse(gather_status(session=session))


def send_actions(send: dict) -> list[tuple[str, str, str]]:
    """The actions that apply to a send in its state, as (action, label, button style): a sent
    edition offers none, except calling off a send the provider holds until its time, and
    re-sending rows SendGrid never reported. Stopping and dropping are styled as the destructive
    actions they are."""
    counts = send["deliveries"]
    offered = {"sending": [("pause", "Pause", "secondary"), ("cancel", "Cancel the send", "danger")],
               "paused": [("resume", "Resume", ""), ("cancel", "Cancel the send", "danger")]}
    applicable = list(offered.get(send["status"], []))
    if send["status"] == "sent" and send["held_at_provider"]:
        applicable.append(("cancel", "Cancel the scheduled send", "danger"))
    if send["status"] in offered and counts.get("failed"):
        applicable += [("retry-failed", "Retry failed", "secondary"), ("discard-failed", "Discard failed", "danger")]
    if counts.get("unknown"):
        applicable.append(("resend-unknown", "Re-send unknown", "secondary"))
    return applicable


@router.get("/ops")
def ops_page(request: Request, editor: Editor = Depends(current_editor), session: Session = Depends(db)) -> Response:
    status = gather_status(session=session)
    recent = actions.recent_actions(session)
    return page("ops.html", request=request, title="Operations", status=status, recent=recent,
                queues=QUEUES, refresh=get_settings().OPS_PAGE_REFRESH_SECONDS, send_actions=send_actions,
                publisher=editor.role == "publisher", backend=get_settings().DELIVERY_BACKEND)


def _by(editor: Editor) -> dict:
    return {"by": editor.email, "source": "web:ops"}


async def _form(request: Request):
    form = await request.form()
    verify_csrf(request, form)
    return form


def _done() -> RedirectResponse:
    return RedirectResponse("/ops", status_code=303)


def _run_edition_action(session: Session, edition_id: int, action: str, editor: Editor, source: str) -> Done:
    from workers.tasks import run_send_action  # the web enqueues; digest proper never does

    done = run_send_action(session, edition_id, action, by=editor.email, source=source)
    session.commit()  # before the answer: the batches are enqueued, the next page shows the change
    return done


@router.post("/ops/editions/{edition_id}/{action}")
async def edition_action(edition_id: RowId, action: str, request: Request,
                         editor: Editor = Depends(require_publisher), session: Session = Depends(db)) -> Response:
    await _form(request)
    await run_in_threadpool(_run_edition_action, session, edition_id, action, editor, "web:ops")
    return _done()


@router.post("/api/editions/{edition_id}/{action}")
def api_edition_action(edition_id: RowId, action: str, editor: Editor = Depends(api_publisher),
                       session: Session = Depends(db)) -> JSONResponse:
    """The same actions for scripts (an editor's API token): pause, resume, cancel, ..."""
    done = _run_edition_action(session, edition_id, action, editor, "api")
    return JSONResponse({"edition_id": edition_id, "action": done.action, "deliveries": done.deliveries,
                         "batches_queued": len(done.batches)})


@router.post("/ops/queues/{queue}/purge")
async def purge_queue(queue: str, request: Request, editor: Editor = Depends(require_publisher),
                      session: Session = Depends(db)) -> Response:
    form = await _form(request)
    if queue not in QUEUES:
        raise InputError(f"queue {queue!r} is not one of: {', '.join(QUEUES)}")
    if form.get("confirm") != queue:
        raise InputError(f"to purge {queue}, type its name ({queue}) in the confirmation box")

    def run() -> None:
        actions.purge(session, redis_client(), queue, **_by(editor))
        session.commit()

    await run_in_threadpool(run)
    return _done()

