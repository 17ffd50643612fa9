"""The preference page's other forms, behind the same signed link (`/p/{token}/...`): a followed
topic's pace or its end, a pause (1, 2 or 4 weeks, or until a date), "digest only", the resume
link every page shows while paused, and the page a "Follow <topic>" link opens. And an alert's
"stop these alerts" (`/unfollow/{alert_token}`, its one-click List-Unsubscribe). A link's GET
shows a page with a button; only POST changes anything (mail scanners open links). Each change
commits before the answer and is credited to the edition the link came from (`?e=`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from digest.errors import InputError
from digest.reports.attribution import credit_edition
from digest.subscribers.follows import (follow, offered_follow, pause, pause_end, resume, set_digest_only,
                                        unfollow)
from digest.subscribers.preferences import get_subscriber, paused_now
from digest.subscribers.alert_unfollow import alert_follows, stop_alert_follows
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token, read_alert_unfollow, read_token
from digest.web.ids import RowId
from digest.web.pages import client_ip, db, page
from digest.web.subscribers import preferences_page_for, via_edition

router = APIRouter()

# A change: (subscriber id, who and where from) -> the sentence saying what was done.
Change = Callable[[int, dict], str]


def _change(request: Request, session: Session, token: str, e: str | None, change: Change) -> HTMLResponse:
    """Make one change through the reader's link, credited to the edition the link came from;
    bad input shows the page again with the message, having changed nothing."""
    subscriber_id = read_token(PREFERENCES, token).subscriber_id
    via = via_edition(e)
    try:
        credited = credit_edition(session, subscriber_id, e, "web_preferences")
        done = change(subscriber_id, {"source": "web", "ip": client_ip(request),
                                      "edition": int(e) if credited else None})
        session.commit()
    except InputError as exc:
        session.rollback()
        return preferences_page_for(session, subscriber_id, token, 400, via=via, error=str(exc))
    return preferences_page_for(session, subscriber_id, token, via=via, saved=done)


@router.post("/p/{token}/follows/{topic_id}", response_class=HTMLResponse)
def change_follow(request: Request, token: str, topic_id: RowId, pace: Annotated[str, Form()] = "digest",
                  do: Annotated[str, Form()] = "save", e: str | None = None,
                  session: Session = Depends(db)) -> HTMLResponse:
    def change(subscriber_id: int, who: dict) -> str:
        if do == "unfollow":
            unfollow(session, subscriber_id, topic_id, **who)
            return "You no longer follow that topic."
        follow(session, subscriber_id, topic_id, pace, **who)
        return "Saved: " + ("an email soon after each new article." if pace == "alert" else "in the digest.")
    return _change(request, session, token, e, change)


@router.post("/p/{token}/pause", response_class=HTMLResponse)
def pause_now(request: Request, token: str, weeks: Annotated[str | None, Form()] = None,
              until: Annotated[str | None, Form()] = None, e: str | None = None,
              session: Session = Depends(db)) -> HTMLResponse:
    def change(subscriber_id: int, who: dict) -> str:
        pause(session, subscriber_id, pause_end(until=until, weeks=weeks), **who)
        return ""  # the page's notice of the pause, with its end, says it
    return _change(request, session, token, e, change)


@router.post("/p/{token}/digest-only", response_class=HTMLResponse)
def digest_only(request: Request, token: str, on: Annotated[str, Form()] = "yes", e: str | None = None,
                session: Session = Depends(db)) -> HTMLResponse:
    def change(subscriber_id: int, who: dict) -> str:
        set_digest_only(session, subscriber_id, on == "yes", **who)
        return "Every alert is off: you receive the digest only." if on == "yes" else "Alerts are on again."
    return _change(request, session, token, e, change)


@router.get("/p/{token}/resume", response_class=HTMLResponse)
def resume_page(token: str, e: str | None = None, session: Session = Depends(db)) -> HTMLResponse:
    subscriber = get_subscriber(session, read_token(PREFERENCES, token).subscriber_id)
    paused = paused_now(subscriber)
    return page("resume.html", title="Resume the digest", token=token, via=via_edition(e), paused=paused,
                paused_until=subscriber.paused_until if paused else None,
                preferences_url=f"/p/{token}{via_edition(e)}")


@router.post("/p/{token}/resume", response_class=HTMLResponse)
def resume_now(request: Request, token: str, e: str | None = None, session: Session = Depends(db)) -> HTMLResponse:
    def change(subscriber_id: int, who: dict) -> str:
        resume(session, subscriber_id, **who)
        return "Resumed: the next edition reaches you."
    return _change(request, session, token, e, change)


@router.get("/p/{token}/follow/{topic_id}", response_class=HTMLResponse)
def follow_page(token: str, topic_id: RowId, e: str | None = None, pace: str | None = None,
                session: Session = Depends(db)) -> HTMLResponse:
    """A "Follow <topic>" link from an edition (or from the email a public follow page sends,
    whose `pace=alert` is the choice made there): the topic and its pace to choose, and a button
    (POST to the follow's form). Opening the link changes nothing."""
    subscriber = get_subscriber(session, read_token(PREFERENCES, token).subscriber_id)
    topic, followed = offered_follow(session, subscriber.id, topic_id)
    paused = paused_now(subscriber)
    return page("follow.html", title="Follow a topic", token=token, via=via_edition(e), topic=topic,
                pace=followed, chosen=followed.value if followed else pace,
                digest_only=subscriber.digest_only, paused=paused,
                paused_until=subscriber.paused_until if paused else None,
                resume_url=f"/p/{token}/resume{via_edition(e)}", preferences_url=f"/p/{token}{via_edition(e)}")


@router.get("/unfollow/{alert_token}", response_class=HTMLResponse)
def stop_alerts_page(alert_token: str, session: Session = Depends(db)) -> HTMLResponse:
    """An alert's "stop these alerts" link: the topics it would stop, and a button. Opening the
    link changes nothing (mail scanners open links)."""
    subscriber_id, edition_id = read_alert_unfollow(alert_token)
    topics = alert_follows(session, subscriber_id, edition_id)
    return page("stop_alerts.html", title="Stop these alerts", token=alert_token, topics=topics, done=False,
                **_reader_links(subscriber_id))


@router.post("/unfollow/{alert_token}", response_class=HTMLResponse)
def stop_alerts_now(request: Request, alert_token: str, session: Session = Depends(db)) -> HTMLResponse:
    """RFC 8058 one-click (and the page's button): the reader's alert follows on the alert's topics
    go to pace digest, credited to the alert; they stay subscribed. Answers 200 and repeats harmlessly."""
    subscriber_id, edition_id = read_alert_unfollow(alert_token)
    topics = stop_alert_follows(session, subscriber_id, edition_id, source="web", ip=client_ip(request))
    credit_edition(session, subscriber_id, str(edition_id), "web_preferences")
    session.commit()
    return page("stop_alerts.html", title="Alerts stopped", token=alert_token, topics=topics, done=True,
                **_reader_links(subscriber_id))


def _reader_links(subscriber_id: int) -> dict[str, str]:
    return {"preferences_url": f"/p/{make_token(PREFERENCES, subscriber_id)}",
            "unsubscribe_url": f"/u/{make_token(UNSUBSCRIBE, subscriber_id)}"}
