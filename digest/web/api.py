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
from digest.subscribers.csv_import import import_subscribers
from digest.web.auth import api_editor
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


@router.post("/import", dependencies=[Depends(api_editor)])
async def import_csv(request: Request, session: Session = Depends(db)) -> JSONResponse:
    """The request body is the CSV file itself (Content-Type: text/csv)."""
    data = await request.body()

    def run() -> dict:
        report = import_subscribers(session, io.BytesIO(data), what="the uploaded CSV", actor="api").as_dict()
        session.commit()
        return report

    return JSONResponse(await run_in_threadpool(run))
