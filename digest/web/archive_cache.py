"""The archive's pages of a sent edition, rendered once per process: everyone a send reaches may
open them within minutes, and they depend only on what the edition's row says of it (its approved
hash, which pins the content, and the few fields the page shows) and on this process's settings.
Each request still reads the row; all of that is the key, so a changed row is a new page."""

from __future__ import annotations

import threading
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


def archive_page_key(edition: Edition) -> tuple:
    """What the archive page shows of an edition: its row's fields (the article count follows from
    the approved content) and the publication's time zone, which dates its sending."""
    return ("archive", edition.id, edition.approved_hash, edition.subject, edition.period, edition.sent_at,
            get_settings().PUBLICATION_TZ)


def archive_email_key(edition: Edition) -> tuple:
    """The framed email: the approved render (pinned by the hash) filled with the site's links."""
    return ("email", edition.id, edition.approved_hash, get_settings().base_url)
