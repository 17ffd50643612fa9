"""The checklist's link check: every distinct link asked once (HEAD, then GET when HEAD is refused)
under the poller's rules, each answer shown with the article it belongs to, kept until the
edition changes."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

import pytest

from digest.checklist.build import edition_checklist
from digest.checklist.links import check_links
from digest.editions.edit import update_text
from digest.editions.lookup import get_edition
from digest.store.db import unit_of_work
from tests.checklist.conftest import edition_linking_to
from tests.conftest import reset_caches
from tests.servers import Route


def _links(edition_id: int):
    with unit_of_work() as session:
        return next(check for check in edition_checklist(get_edition(session, edition_id)).checks
                    if check.key == "links")


def test_a_link_answering_404_is_a_warning_naming_its_article(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/ok", "/item/gone", answers={"/item/gone": 404})
    check = _links(edition_id)
    assert check.level == "warning"
    assert check.summary.startswith("Links that fail: 1 of 2.")
    broken = [f for f in check.findings if f.level == "warning"]
    assert [(f.text, f.url) for f in broken] == [("HTTP 404 · “Corridor report 1”", feed_server.url("/item/gone"))]
    assert [f.text for f in check.findings if f.level == "passed"] == ["HTTP 200 · “Corridor report 0”"]


def test_a_server_refusing_head_is_asked_with_get(settings, feed_server):
    # The test server knows only GET: it answers HEAD with 501, as some sites do.
    edition_id = edition_linking_to(feed_server, "/item/ok")
    assert _links(edition_id).level == "passed"
    assert [path for path, _ in feed_server.requests] == ["/item/ok"]


def test_answers_are_kept_until_the_edition_changes(settings, feed_server):
    edition_id = edition_linking_to(feed_server, "/item/ok")
    _links(edition_id)
    _links(edition_id)
    assert len(feed_server.requests) == 1  # the second checklist read the kept answer
    with unit_of_work() as session:
        update_text(session, edition_id, subject="Ferries set the pace")
    _links(edition_id)
    assert len(feed_server.requests) == 2  # new content, asked again


def test_a_private_address_is_refused_unless_allowed(settings, feed_server, monkeypatch):
    monkeypatch.setenv("FEED_ALLOW_PRIVATE_ADDRESSES", "false")
    reset_caches()
    edition_id = edition_linking_to(feed_server, "/item/inside")
    check = _links(edition_id)
    assert check.level == "warning"
    assert check.findings[0].text == "refused: host 127.0.0.1 is a loopback address, not a public one · “Corridor report 0”"
    assert feed_server.requests == []  # never connected

    monkeypatch.setenv("FEED_ALLOW_PRIVATE_ADDRESSES", "true")
    reset_caches()
    with unit_of_work() as session:
        update_text(session, edition_id, preheader="Allowed now")  # new content: no kept answer
    assert _links(edition_id).level == "passed"


@contextmanager
def _raw_server(on_connection):
    """A TCP server on loopback handing each accepted connection to `on_connection`; its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                on_connection(listener.accept()[0], stop)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.fixture
def silent_server():
    """Accepts connections and never answers a byte."""
    accepted = []
    with _raw_server(lambda connection, stop: accepted.append(connection)) as url:
        yield url
    for connection in accepted:
        connection.close()


@pytest.fixture
def dripping_server():
    """Answers a byte of its status line every 0.3 s, for ever: each read is quick, so no read
    time-out fires; only the check's own deadline ends the wait."""
    def drip(connection, stop):
        with connection:
            while not stop.wait(0.3):
                try:
                    connection.sendall(b"H")
                except OSError:
                    return

    def start_dripping(connection, stop):
        threading.Thread(target=drip, args=(connection, stop), daemon=True).start()

    with _raw_server(start_dripping) as url:
        yield url


@pytest.fixture
def short_timeouts(monkeypatch):
    """Connect and read time-outs of 1 s for the link checks."""
    monkeypatch.setenv("FEED_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("FEED_CONNECT_TIMEOUT_SECONDS", "1")
    reset_caches()


def test_a_server_that_never_answers_times_out_and_the_rest_are_still_checked(settings, feed_server, silent_server,
                                                                             short_timeouts):
    feed_server.routes["/item/ok"] = Route(200)
    answers = check_links([silent_server + "/item/hangs", feed_server.url("/item/ok")])
    assert answers[silent_server + "/item/hangs"].ok is False
    assert answers[silent_server + "/item/hangs"].note == "timed out"
    assert answers[feed_server.url("/item/ok")].ok is True


def test_a_server_that_drips_forever_is_cut_off_by_the_check_deadline(settings, feed_server, dripping_server,
                                                                      short_timeouts):
    feed_server.routes["/item/ok"] = Route(200)
    answers = check_links([dripping_server + "/item/drips", feed_server.url("/item/ok")])
    assert answers[dripping_server + "/item/drips"].note == "no answer within 3 s"
    assert answers[feed_server.url("/item/ok")].ok is True
