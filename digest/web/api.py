"""The JSON API for subscribers: the public sign-up, and import/export for editors.

Import and export need an editor: an editor's API token as a bearer token (`digest editors token
EMAIL`), or a logged-in session, whose import must then carry the page's CSRF token in the
X-CSRF-Token header.
"""

from __future__ import annotations

import io

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from digest.errors import InputError
from digest.store.models import SubscriberStatus
from digest.subscribers.csv_export import export_subscribers
from digest.subscribers.imports import import_progress
from digest.web.auth import api_editor
from digest.web.editor_subscribers import enqueue_import
from digest.web.ids import RowId
from digest.web.pages import db
from digest.web.subscribers import request_signup

router = APIRouter(prefix="/api/subscribers")

# The same answer for every address, known or not (see request_signup).
SIGNUP_ANSWER = {"status": "accepted",
                 "message": "If this address can receive the digest, a confirmation link is on its way."}


class SignupRequest(BaseModel):
    email: str
    name: str | None = None
    website: str = ""  # honeypot for forms that post here from a browser: people leave it empty


@router.post("/signup", status_code=202)
def signup(request: Request, body: SignupRequest, session: Session = Depends(db)) -> dict:
    request_signup(request, session, body.email, body.name, body.website, source="api")
    return SIGNUP_ANSWER


@router.get("/export", dependencies=[Depends(api_editor)])
def export(status: str | None = None, session: Session = Depends(db)) -> Response:
    chosen = None
    if status is not None:
        try:
            chosen = SubscriberStatus(status)
        except ValueError:
            raise InputError(f"status {status!r} must be one of: "
                             f"{', '.join(s.value for s in SubscriberStatus)}") from None
    out = io.StringIO()
    export_subscribers(session, out, chosen)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="subscribers.csv"'})


@router.post("/import", dependencies=[Depends(api_editor)], status_code=202)
async def import_csv(request: Request, session: Session = Depends(db)) -> JSONResponse:
    """The request body is the CSV file itself (Content-Type: text/csv). The file is kept and a
    worker imports it: the answer (202) names the import, whose progress `status_url` gives."""
    data = await request.body()

    def keep() -> int:
        import_id = enqueue_import(session, data, "the uploaded CSV", "api")
        session.commit()
        return import_id

    import_id = await run_in_threadpool(keep)
    return JSONResponse({"id": import_id, "state": "queued", "status_url": f"/api/subscribers/imports/{import_id}"},
                        status_code=202)


@router.get("/imports/{import_id}", dependencies=[Depends(api_editor)])
def import_status(import_id: RowId, session: Session = Depends(db)) -> dict:
    """How far an import has got: state (queued, running, done, failed), counts, bad rows."""
    return import_progress(session, import_id)
