"""Public subscriber pages: sign-up form, confirmation, preferences and unsubscribe. Each
link page is reached through a signed token from an email; no login, no cookie.

Each route works in the request's one session (pages.db). State changes commit inside the route
(not in the dependency's teardown), so that the answer is sent only once the change is stored,
and the confirmation task is enqueued only after commit.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import astuple
from typing import Annotated

import kombu.exceptions
import redis
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from digest.config import get_settings
from digest.delivery.confirmation import AskedFollow
from digest.errors import InputError
from digest.reports.attribution import credit_edition, edition_of, edition_query, unsubscribe_through_link
from digest.store.db import unit_of_work
from digest.store.models import SubscriberFormat, SubscriberStatus
from digest.addresses import normalize_email
from digest.subscribers.lifecycle import MAX_NAME, clean_name, confirm_subscription, sign_up
from digest.subscribers.follows import PAUSE_WEEKS, follow_on_confirming, pause_dates
from digest.reports.preference_read import PreferenceRead, read_preferences
from digest.subscribers.preferences import chosen_sections, paused_now, update_preferences
from digest.subscribers.ratelimit import RateLimited, check_signup_ip
from digest.subscribers.tokens import CONFIRM, PREFERENCES, UNSUBSCRIBE, make_token, read_token
from digest.web.ids import is_row_id
from digest.web.pages import client_ip, db, page

router = APIRouter()
log = logging.getLogger(__name__)


class SignupUnavailable(Exception):
    """Redis (rate limits, the confirmation queue) is down: the sign-up is refused with a
    request to retry. Before the commit nothing is stored; if only the enqueue failed, the row is
    pending and the retry sends its confirmation."""

    retry_after = 120
    message = ("We could not take your sign-up just now: part of our service is briefly unavailable. "
               "Please try again in a few minutes.")


def request_signup(request: Request, session: Session, email: str, name: str | None, honeypot: str,
                   source: str, follow: AskedFollow | None = None) -> None:
    """The one sign-up path of the form, the API and the public follow page. Whatever happens
    short of bad input, the IP limit or an outage, the caller answers the same way: new, pending,
    confirmed, unsubscribed, suppressed, a bot (the honeypot is filled) or an address that has had
    its confirmations for today. `follow`: the topic to follow once confirmed (a subscribed reader
    is sent the link to their own follow page instead)."""
    try:
        _request_signup(request, session, email, name, honeypot, source, follow)
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
        log.error("sign-up refused, Redis unavailable (%s: %s); the reader was asked to retry",
                  type(exc).__name__, exc)
        raise SignupUnavailable() from exc


def _request_signup(request: Request, session: Session, email: str, name: str | None, honeypot: str,
                    source: str, follow: AskedFollow | None) -> None:
    ip = client_ip(request)
    check_signup_ip(ip)
    if honeypot:
        return
    from workers.base import enqueue  # the web and the CLI enqueue; digest proper never does
    from workers.tasks import send_confirmation

    settings = get_settings()
    try:
        signup = sign_up(session, email, name=name, source=source, ip=ip,
                         check_deliverability=settings.SIGNUP_CHECK_DELIVERABILITY)
    except InputError:
        session.rollback()
        raise
    if signup.send_confirmation:
        if follow is None:
            enqueue(session, send_confirmation, signup.subscriber_id)
        else:
            enqueue(session, send_confirmation, signup.subscriber_id, follow=list(astuple(follow)))
    session.commit()


def signup_problem(email: str, name: str) -> str:
    """What was wrong with the form, in the page's words: the validator's own message is written
    for developers ("An email address must have an @-sign."), not for a reader."""
    typed = email.strip()
    if not typed:
        return "Please enter your email address."
    try:
        address = normalize_email(typed)
    except InputError:
        return f"“{typed}” is not a complete email address. Please check it: it should look like name@example.org."
    try:
        clean_name(name, address)
    except InputError:
        hidden = next((char for char in name if unicodedata.category(char) == "Cc" and char not in "\t\n\r"), None)
        if hidden is not None:
            return f"The name contains an invisible control character (U+{ord(hidden):04X}). Please remove it."
        return f"Please give a name of at most {MAX_NAME} characters, or leave it empty."
    return f"“{typed}” does not seem to receive email. Please check the part after the @."


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form() -> HTMLResponse:
    return page("subscribe.html", title="Subscribe", error=None, email="", name="")


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(request: Request, email: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
              website: Annotated[str, Form()] = "", session: Session = Depends(db)) -> HTMLResponse:
    try:
        request_signup(request, session, email, name, website, source="web")
    except RateLimited:
        raise
    except InputError:
        return page("subscribe.html", 400, title="Subscribe", error=signup_problem(email, name), email=email, name=name)
    except SignupUnavailable as exc:
        return page("subscribe.html", 503, headers={"Retry-After": str(exc.retry_after)}, title="Subscribe",
                    error=exc.message, email=email, name=name)
    return page("subscribe_sent.html", title="Check your inbox")


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str) -> HTMLResponse:
    # A button, not a confirmation on GET: mail scanners open links, and they must not subscribe anyone.
    read_token(CONFIRM, token)
    return page("confirm.html", title="Confirm your subscription", token=token, done=False)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_now(request: Request, token: str, session: Session = Depends(db)) -> HTMLResponse:
    subscriber = confirm_subscription(session, token, ip=client_ip(request))
    followed = follow_on_confirming(session, subscriber.id, read_token(CONFIRM, token).follow, ip=client_ip(request))
    preferences = f"/p/{make_token(PREFERENCES, subscriber.id)}"
    session.commit()
    return page("confirm.html", title="You are subscribed", token=token, done=True, preferences_url=preferences,
                followed=followed)


@router.get("/preferences", response_class=HTMLResponse)
def preferences_help(e: str | None = None, follow: str | None = None) -> Response:
    """The page preferences links lead to where no reader is known (the archive, a preview, a test
    send); a "Follow <topic>" link there (`?e=..&follow=<topic id>`) leads to the public follow page."""
    if follow is not None:
        return RedirectResponse(f"/follow/{followed_topic(follow)}{via_edition(e)}", status_code=303)
    return page("preferences_help.html", title="Preferences")


def followed_topic(follow: str) -> int:
    """The topic id a "Follow <topic>" link's `follow=` names; InputError naming it otherwise."""
    if not (follow.isascii() and follow.isdigit() and len(follow) <= 10 and is_row_id(int(follow))):
        raise InputError(f"follow={follow[:40]!r} is not a topic: this link was cut short or altered")
    return int(follow)


def preferences_page_for(session: Session, subscriber_id: int, token: str, status_code: int = 200, *, via: str,
                         saved: bool | str = False, error: str | None = None) -> HTMLResponse:
    """The preference page (and what the pages it leads to show of the pause): sections, format,
    the followed topics with their pace, the pause with its end, and "digest only", read as the
    page's GET reads them (read_preferences). `saved`: True for the sections form, or the
    sentence saying what another form changed."""
    return preferences_shown(read_preferences(session, subscriber_id), token, status_code, via=via, saved=saved,
                             error=error)


def preferences_shown(read: PreferenceRead, token: str, status_code: int = 200, *, via: str,
                      saved: bool | str = False, error: str | None = None) -> HTMLResponse:
    """The preference page of what read_preferences read."""
    subscriber, follows, suggested = read.reader, read.follows, read.suggested
    paused = paused_now(subscriber)
    return page("preferences.html", status_code, title="Your preferences", token=token, via=via,
                saved=saved, error=error, sections=get_settings().SECTION_ORDER,
                chosen=chosen_sections(subscriber), format=subscriber.format.value, paused=paused,
                paused_until=subscriber.paused_until if paused else None, digest_only=subscriber.digest_only,
                follows=follows, suggested=suggested, pause_weeks=PAUSE_WEEKS,
                pause_dates=pause_dates(), resume_url=f"/p/{token}/resume{via}",
                unsubscribed=subscriber.status == SubscriberStatus.UNSUBSCRIBED,
                unsubscribe_url=f"/u/{make_token(UNSUBSCRIBE, subscriber.id)}")


@router.get("/p/{token}", response_class=HTMLResponse)
async def preferences_page(token: str, e: str | None = None, follow: str | None = None) -> Response:
    """The reader's preferences; with `follow=<topic id>` (an email's "Follow <topic>" link, the
    reader's preference link with that suffix), that topic's follow page. The redirect reads
    nothing and is answered on the event loop (every link scanner opens it within seconds of a
    send); the page is read and rendered in a thread, as a sync route is."""
    subscriber_id = read_token(PREFERENCES, token).subscriber_id
    if follow is not None:
        return RedirectResponse(f"/p/{token}/follow/{followed_topic(follow)}{via_edition(e)}", status_code=303)
    return await run_in_threadpool(_read_preferences, subscriber_id, token, via_edition(e))


def _read_preferences(subscriber_id: int, token: str, via: str) -> HTMLResponse:
    # The page's unit of work begins and ends in this thread, not through pages.db: nothing else
    # of the request shares it, and the dependency's setup and end on the event loop cost the
    # page (and the redirect above, which reads nothing) more than the session itself.
    with unit_of_work() as session:
        # One statement, so no transaction around it (autocommit): no BEGIN and no COMMIT, two
        # round trips to PostgreSQL fewer. It sees one snapshot all the same.
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        read = read_preferences(session, subscriber_id)
    return preferences_shown(read, token, via=via)


@router.post("/p/{token}", response_class=HTMLResponse)
def preferences_save(request: Request, token: str, sections: Annotated[list[str], Form()] = [],  # noqa: B006
                     format: Annotated[str, Form()] = SubscriberFormat.HTML.value,  # noqa: A002
                     paused: Annotated[str, Form()] = "", e: str | None = None,
                     session: Session = Depends(db)) -> HTMLResponse:
    subscriber_id = read_token(PREFERENCES, token).subscriber_id
    try:
        update_preferences(session, subscriber_id, sections=sections, format=format, paused=bool(paused),
                           ip=client_ip(request))
        credit_edition(session, subscriber_id, e, "web_preferences")
        session.commit()
    except InputError as exc:
        session.rollback()
        return preferences_page_for(session, subscriber_id, token, 400, error=str(exc), via=via_edition(e))
    return preferences_page_for(session, subscriber_id, token, saved=True, via=via_edition(e))


@router.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_help() -> HTMLResponse:
    return page("unsubscribe_help.html", title="Unsubscribe")


def via_edition(e: str | None) -> str:
    """The edition credit (`?e=`) a reader link came with, carried on into the page's form."""
    edition_id = edition_of(e)
    return "" if edition_id is None else edition_query(edition_id)


@router.get("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, e: str | None = None) -> HTMLResponse:
    # On the event loop: a signature checked and a page rendered, no I/O, and every link scanner
    # opens it within seconds of a send (a thread would only add its hop).
    read_token(UNSUBSCRIBE, token)
    return page("unsubscribe.html", title="Unsubscribe", token=token, via=via_edition(e), done=False)


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_now(request: Request, token: str, e: str | None = None) -> HTMLResponse:
    """RFC 8058 one-click (and the page's button): the signed token alone authorises it, so no
    cookie or form field is needed; answers 200, never a redirect, and repeats harmlessly. The
    change is stored in a thread, by a unit of work begun and ended there (as the preference
    page's read: nothing else of the request shares it), and answered once it is committed; the
    page, which reads nothing, is rendered on the event loop as the unsubscribe page is."""
    subscriber_id = read_token(UNSUBSCRIBE, token).subscriber_id
    await run_in_threadpool(_unsubscribe, subscriber_id, e, client_ip(request))
    return page("unsubscribe.html", title="Unsubscribed", token=token, via="", done=True)


def _unsubscribe(subscriber_id: int, e: str | None, ip: str) -> None:
    with unit_of_work() as session:
        unsubscribe_through_link(session, subscriber_id, e, ip=ip)
