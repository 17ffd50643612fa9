"""The archive's pages of a sent edition, rendered once per process: everyone a send reaches may
open them within minutes, and they depend only on what the edition's row says of it (its approved
hash, which pins the content, and the few fields the page shows) and on this process's settings.
All of that is the key, so a changed row is a new page.

The row itself is read at most once every ROW_SECONDS per page and process (`recent`): in the
minutes after a send, thousands of readers and link scanners ask for the same page, and a read of
the row (a trip to the database, on a thread) was most of what each of them cost. A sent
edition's row rarely changes again (a re-send of its failed readers dates it anew); when it does,
the page follows within ROW_SECONDS."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from digest.config import get_settings
from digest.store.models import Edition

# Pages kept per process: the latest editions' archive page and framed email (an email is tens of
# kilobytes), least recently asked for forgotten first.
KEPT_PAGES = 64


class RenderedPages:
    """A bounded least-recently-used map of rendered bodies; shared by the request threads. Two
    threads asking for a page not kept yet may both render it: it is the same page."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: Hashable, render: Callable[[], str]) -> bytes:
        with self._lock:
            body = self._pages.get(key)
            if body is not None:
                self._pages.move_to_end(key)
                return body
        body = render().encode()
        with self._lock:
            self._pages[key] = body
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return body

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()


pages = RenderedPages(KEPT_PAGES)

ROW_SECONDS = 10.0


class RecentAnswers:
    """The body last answered for a page (by the edition's id), for ROW_SECONDS after its row was
    read; bounded as the rendered pages are. Shared by the request threads and the event loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            answer = self._answers.get(key)
        if answer is None or clock() - answer[0] >= ROW_SECONDS:
            return None
        return answer[1]

    def put(self, key: Hashable, read_at: float, body: bytes) -> None:
        with self._lock:
            self._answers[key] = (read_at, body)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


clock = time.monotonic  # a test moves time on through this
recent = RecentAnswers(KEPT_PAGES)


def forget() -> None:
    """Every kept page and answer (a test that changes an edition's row and looks at once)."""
    pages.clear()
    recent.clear()


def archive_page_key(edition: Edition) -> tuple:
    """What the archive page shows of an edition: its row's fields (the article count follows from
    the approved content) and the publication's time zone, which dates its sending."""
    return ("archive", edition.id, edition.approved_hash, edition.subject, edition.period, edition.sent_at,
            get_settings().PUBLICATION_TZ)


def archive_email_key(edition: Edition) -> tuple:
    """The framed email: the approved render (pinned by the hash) filled with the site's links."""
    return ("email", edition.id, edition.approved_hash, get_settings().base_url)
