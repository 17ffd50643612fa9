"""The public "Follow <topic>" page, where no reader is known (the archive's links, a preview's, a
test send's): the topic, an email address and a pace. Its POST goes the one sign-up way
(web/subscribers.request_signup: the same IP limit, confirmations per address and honeypot) and
always answers "check your inbox": an address already subscribed is emailed the link to its own
signed follow page, any other address the double opt-in confirmation that also follows the topic
once pressed. Whether an address is subscribed shows nowhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from digest.delivery.confirmation import AskedFollow
from digest.errors import InputError
from digest.subscribers.follows import parse_pace, public_topic
from digest.subscribers.ratelimit import RateLimited
from digest.web.ids import RowId
from digest.web.pages import db, page
from digest.web.subscribers import SignupUnavailable, request_signup, signup_problem, via_edition

router = APIRouter()


def _form(topic, e: str | None, status_code: int = 200, *, email: str = "", pace: str = "digest",
          error: str | None = None, headers: dict | None = None) -> HTMLResponse:
    return page("follow_public.html", status_code, headers=headers, title="Follow a topic", topic=topic,
                via=via_edition(e), email=email, pace=pace, error=error)


@router.get("/follow/{topic_id}", response_class=HTMLResponse)
def public_follow_form(topic_id: RowId, e: str | None = None, session: Session = Depends(db)) -> HTMLResponse:
    return _form(public_topic(session, topic_id), e)


@router.post("/follow/{topic_id}", response_class=HTMLResponse)
def public_follow(request: Request, topic_id: RowId, email: Annotated[str, Form()] = "",
                  pace: Annotated[str, Form()] = "digest", website: Annotated[str, Form()] = "",
                  e: str | None = None, session: Session = Depends(db)) -> HTMLResponse:
    topic = public_topic(session, topic_id)
    try:
        chosen = parse_pace(pace)
    except InputError as exc:
        return _form(topic, e, 400, email=email, error=str(exc))
    asked = AskedFollow(topic.id, chosen.value, int(e) if via_edition(e) else None)
    try:
        request_signup(request, session, email, None, website, source="web", follow=asked)
    except RateLimited:
        raise
    except InputError:
        return _form(topic, e, 400, email=email, pace=chosen.value, error=signup_problem(email, ""))
    except SignupUnavailable as exc:
        return _form(topic, e, 503, email=email, pace=chosen.value, error=exc.message,
                     headers={"Retry-After": str(exc.retry_after)})
    return page("subscribe_sent.html", title="Check your inbox", follow_topic=topic)
