"""A form action of the editors' pages, run in the request's one session (`pages.db`): committed
before the redirect answers it, so the page the browser goes to next shows the change (and tasks
registered with workers.base.enqueue are sent); bad input rolls everything back and shows the form again.
A missing object (NotFound) is not bad input: it reaches the app's 404 handler."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from digest.errors import InputError


def form_action(session: Session, action: Callable[[Session], object], *, done: str,
                show_again: Callable[[str], Response]) -> Response:
    """Run `action(session)`; redirect to `done`, or answer `show_again(message)` with nothing saved."""
    try:
        action(session)
        session.commit()
    except InputError as exc:
        session.rollback()
        return show_again(str(exc))
    return RedirectResponse(done, status_code=303)
