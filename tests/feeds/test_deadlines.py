"""Slow-drip servers against one total deadline per request: a server that sends its headers one
byte at a time resets no clock. Each read is quick, yet the fetch, the poll and the link check end
by their deadline (here FEED_CONNECT_TIMEOUT_SECONDS + FEED_TIMEOUT_SECONDS = 2 s), leave no
thread behind, and the failure is on the feed's row."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from digest.checklist.links import check_links, deadline_seconds
from digest.feeds.fetch import FetchError, fetch, request_seconds
from digest.feeds.poll import poll_deadline_seconds
from digest.feeds.registry import add_feed
from digest.store.db import unit_of_work
from tests.checklist.conftest import edition_linking_to
from tests.cli import digest, digest_process
from tests.conftest import Worker, reset_caches, wait_for
from tests.factories import FEED_PATH, articles, feed_at, poll_url
from tests.feed_documents import k2_rss, recent_items
from tests.servers import Route
from tests.slow_servers import DRIPPED_ANSWER, dripping_server

# What a test allows beyond the deadline: closing sockets, a database commit, a loaded machine.
MARGIN = 3.0
# One byte of the answer every this many seconds: each read is quick, the answer takes minutes.
DRIP_INTERVAL = 0.5


@pytest.fixture
def short_deadline(settings, monkeypatch):
    monkeypatch.setenv("FEED_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("FEED_CONNECT_TIMEOUT_SECONDS", "1")
    reset_caches()
    assert request_seconds() == 2


@pytest.fixture
def dripping():
    with dripping_server(interval=DRIP_INTERVAL) as url:
        yield url


def test_a_fetch_from_a_dripping_server_ends_by_its_deadline(short_deadline, dripping):
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetch(dripping + FEED_PATH)
    assert time.monotonic() - started < request_seconds() + MARGIN


def test_a_dripped_tls_handshake_ends_by_the_deadline(short_deadline):
    """The handshake is under the deadline too: a TLS record announced whole, then dripped."""
    record = b"\x16\x03\x03\x40\x00" + b"\x02" * 300
    with dripping_server(interval=DRIP_INTERVAL, answer=record) as url:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            fetch(url.replace("http://", "https://") + FEED_PATH)
        assert time.monotonic() - started < request_seconds() + MARGIN


def test_feeds_poll_of_a_dripping_feed_ends_by_its_deadline_and_records_it(short_deadline, dripping):
    url = dripping + FEED_PATH
    with unit_of_work() as session:
        feed_id = add_feed(session, url).id
    started = time.monotonic()
    ran = digest("feeds", "poll")
    assert time.monotonic() - started < request_seconds() + MARGIN
    assert ran.returncode == 0, ran.stderr
    assert f"feed {feed_id}: error: {url} timed out" in ran.stdout
    feed = feed_at(url)
    assert "timed out" in feed.last_error and feed.consecutive_failures == 1


def _dripping_page(handler) -> None:
    """An article page whose answer arrives one byte every half second (on the feed's own host)."""
    handler.close_connection = True
    try:
        for byte in DRIPPED_ANSWER:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(DRIP_INTERVAL)
    except OSError:
        pass  # the poller hung up


def test_a_poll_whose_article_pages_drip_ends_by_the_polls_deadline(short_deadline, feed_server):
    """Each page alone keeps its deadline; the poll as a whole keeps one too, so a feed of many
    slow pages cannot hold a worker for many deadlines. Pages not reached in time wait for the
    next poll (their entries are not stored yet), so no article loses its page for good."""
    items = [dataclasses.replace(item, full_text=False) for item in recent_items(8)]
    feed_server.routes[FEED_PATH] = Route(200, k2_rss(feed_server.base, items), {"Content-Type": "application/rss+xml"})
    for item in items:
        feed_server.routes[item.link("")] = _dripping_page
    started = time.monotonic()
    result = poll_url(feed_server.url(FEED_PATH))
    assert time.monotonic() - started < poll_deadline_seconds() + MARGIN
    assert result.error is None
    assert 1 <= result.new < len(items)
    assert "article page not read" in result.warning and "timed out" in result.warning
    assert f"{len(items) - result.new} entries wait for the next poll" in result.warning
    assert len(articles()) == result.new


def _link_check_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("link-check")]


def test_check_links_ends_by_its_deadline_and_leaves_no_thread(short_deadline, feed_server, dripping):
    feed_server.routes["/item/ok"] = Route(200)
    started = time.monotonic()
    answers = check_links([dripping + "/item/drips", feed_server.url("/item/ok")])
    assert time.monotonic() - started < deadline_seconds() + MARGIN
    assert answers[dripping + "/item/drips"].ok is False
    assert answers[dripping + "/item/drips"].note == "timed out"
    assert answers[feed_server.url("/item/ok")].ok is True
    assert _link_check_threads() == []


class _At:
    """Where edition_linking_to points an article: the dripping server, by its URL."""

    def __init__(self, base: str):
        self.base, self.routes = base, {}

    def url(self, path: str) -> str:
        return self.base + path


def test_editions_check_exits_by_its_deadline_with_a_dripping_link(short_deadline, dripping):
    """The real process: it once printed its answer in time, then waited at exit for the
    abandoned request thread for as long as the server kept dripping."""
    edition_id = edition_linking_to(_At(dripping), "/item/drips")
    started = time.monotonic()
    ran = digest_process("editions", "check", str(edition_id))
    elapsed = time.monotonic() - started
    assert "Traceback" not in ran.stderr
    assert f"{dripping}/item/drips" in ran.stdout and "timed out" in ran.stdout
    # Python's start and the spam check are in it too (slow on a loaded machine): the bound is
    # well before the dripped answer's end, which the process used to wait for.
    dripped_for = len(DRIPPED_ANSWER) * DRIP_INTERVAL
    assert elapsed < dripped_for / 3, (elapsed, ran.stdout)


@pytest.mark.postgresql_only  # the worker proves the same on either database; its start is the slow part
def test_a_worker_polling_dripping_feeds_ends_each_poll_by_its_deadline(short_deadline, service_env, redis_client,
                                                                        tmp_path):
    """Three dripping feeds queued to one worker process: each task ends by its deadline, so the
    queue drains in three deadlines instead of holding the worker for minutes per feed."""
    from workers.tasks import poll_feed

    redis_client.flushdb()  # this test process's own database: no message of an earlier test runs
    worker = Worker(dict(service_env, FEED_TIMEOUT_SECONDS="1", FEED_CONNECT_TIMEOUT_SECONDS="1"),
                    tmp_path / "worker.log").start()
    try:
        with dripping_server(interval=DRIP_INTERVAL) as base:
            urls = [f"{base}/feed-{number}.xml" for number in range(3)]
            with unit_of_work() as session:
                feed_ids = [add_feed(session, url).id for url in urls]
            started = time.monotonic()
            for feed_id in feed_ids:
                poll_feed.delay(feed_id)
            wait_for(lambda: all(feed_at(url).last_error for url in urls), timeout=60,
                     what="the three polls to record their failures")
            assert time.monotonic() - started < len(urls) * request_seconds() + 2 * MARGIN
            assert all("timed out" in feed_at(url).last_error for url in urls)
    finally:
        worker.stop()
