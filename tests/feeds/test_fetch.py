"""Fetching as a polite client against a local server: redirects, pauses a server asks for,
timeouts, oversized bodies, the User-Agent, and one request at a time per host."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from email.utils import format_datetime

import pytest

from digest.clock import utcnow
from digest.config import get_settings
from digest.feeds.hosts import host_slot
from digest.feeds.registry import add_feed
from digest.store.db import unit_of_work
from tests.conftest import wait_for
from tests.factories import FEED_PATH, articles, feed_at, poll_url, serve_feed
from tests.feed_documents import k2_rss, recent_items
from tests.servers import Route


def _set(monkeypatch, **values) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()


def test_it_identifies_itself(settings, feed_server):
    poll_url(serve_feed(feed_server))
    agent = feed_server.requests[-1][1]["User-Agent"]
    assert agent.startswith("AnalystDigest/") and "https://digest.example.org" in agent


@pytest.mark.parametrize("status, moves", [(301, True), (308, True), (302, False), (307, False)])
def test_permanent_redirects_move_the_feed_and_temporary_ones_do_not(settings, feed_server, status, moves):
    new_url = serve_feed(feed_server, path="/new.feed")
    feed_server.routes["/old.feed"] = Route(status, b"", {"Location": "/new.feed"})
    old_url = feed_server.url("/old.feed")
    result = poll_url(old_url)
    assert result.new == 4 and result.error is None
    assert (feed_at(new_url) is not None) is moves
    assert (feed_at(old_url) is not None) is not moves


def test_a_temporary_hop_after_a_permanent_one_keeps_the_permanent_target(settings, feed_server):
    final = serve_feed(feed_server, path="/final.feed")
    feed_server.routes["/old.feed"] = Route(301, b"", {"Location": "/moved.feed"})
    feed_server.routes["/moved.feed"] = Route(302, b"", {"Location": final})
    poll_url(feed_server.url("/old.feed"))
    assert feed_at(feed_server.url("/moved.feed")) is not None


def test_a_redirect_loop_is_an_error_on_the_feed(settings, feed_server):
    feed_server.routes["/loop.feed"] = Route(302, b"", {"Location": "/loop.feed"})
    result = poll_url(feed_server.url("/loop.feed"))
    assert "redirected more than 5 times" in result.error


@pytest.mark.parametrize("status", [429, 503])
def test_it_honours_retry_after_in_seconds(settings, feed_server, status):
    feed_server.routes[FEED_PATH] = Route(status, b"slow down", {"Retry-After": "7200"})
    url = feed_server.url(FEED_PATH)
    result = poll_url(url)
    assert f"HTTP {status}" in result.error
    feed = feed_at(url)
    # Not the 60 minutes a first failure backs off: the two hours the server asked for.
    assert feed.next_poll_at - feed.last_polled_at == dt.timedelta(hours=2)


def test_it_honours_retry_after_as_an_http_date(settings, feed_server):
    until = (utcnow() + dt.timedelta(hours=3)).replace(microsecond=0)
    feed_server.routes[FEED_PATH] = Route(429, b"", {"Retry-After": format_datetime(until, usegmt=True)})
    url = feed_server.url(FEED_PATH)
    poll_url(url)
    assert abs(feed_at(url).next_poll_at - until) < dt.timedelta(seconds=5)


def _slow_headers(handler):
    time.sleep(2)
    return Route(200, k2_rss("http://x", recent_items(1)))


def _trickle(handler):
    """Answers at once, then sends the body a few bytes at a time, for longer than allowed."""
    try:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", "4000")
        handler.end_headers()
        for _ in range(40):
            handler.wfile.write(b" " * 100)
            handler.wfile.flush()
            time.sleep(0.1)
    except OSError:
        pass


@pytest.mark.parametrize("route", [_slow_headers, _trickle], ids=["slow-headers", "slow-body"])
def test_a_slow_server_times_out(settings, feed_server, monkeypatch, route):
    _set(monkeypatch, FEED_TIMEOUT_SECONDS=1)
    feed_server.routes[FEED_PATH] = route
    url = feed_server.url(FEED_PATH)
    started = time.monotonic()
    result = poll_url(url)
    assert "timed out" in result.error
    assert time.monotonic() - started < 3.5  # stopped at its limit, not at the server's pace
    assert feed_at(url).consecutive_failures == 1


def test_an_oversized_body_is_dropped_while_streaming(settings, feed_server, monkeypatch):
    _set(monkeypatch, FEED_MAX_BYTES=64 * 1024)
    outcome = {}

    def endless(handler):
        # No Content-Length: only reading tells the size. 50 MB unless the client hangs up.
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Connection", "close")
        handler.end_headers()
        sent = 0
        try:
            while sent < 50 * 1024 * 1024:
                handler.wfile.write(b"<!-- padding -->" * 4096)
                sent += 16 * 4096
            outcome["dropped"] = False
        except OSError:
            outcome["dropped"] = True
        handler.close_connection = True

    feed_server.routes[FEED_PATH] = endless
    result = poll_url(feed_server.url(FEED_PATH))
    assert "larger than 65536 bytes" in result.error
    assert wait_for(lambda: "dropped" in outcome, timeout=20, what="the server to finish") and outcome["dropped"]


def test_an_oversized_declared_length_is_refused_unread(settings, feed_server, monkeypatch):
    _set(monkeypatch, FEED_MAX_BYTES=64 * 1024)
    feed_server.routes[FEED_PATH] = Route(200, b" " * (200 * 1024), {"Content-Type": "application/rss+xml"})
    assert "declares 204800 bytes" in poll_url(feed_server.url(FEED_PATH)).error


def test_two_concurrent_polls_of_one_host_take_turns(settings, feed_server):
    def slow(path):
        body = k2_rss(feed_server.base, recent_items())

        def route(handler):
            time.sleep(0.5)
            return Route(200, body, {"Content-Type": "application/rss+xml"})
        feed_server.routes[path] = route
        return feed_server.url(path)

    urls = [slow("/a.feed"), slow("/b.feed")]
    with unit_of_work() as session:  # registered first: the two polls race only for the host
        for url in urls:
            add_feed(session, url)
    start = threading.Barrier(2)
    results = {}

    def poll(url):
        start.wait()
        results[url] = poll_url(url)

    threads = [threading.Thread(target=poll, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [(results[u].new, results[u].deferred) for u in urls] == [(4, False), (4, False)]
    assert feed_server.max_in_flight == 1


def test_a_poll_is_deferred_when_another_process_holds_the_host(settings, feed_server, monkeypatch):
    url = serve_feed(feed_server)
    poll_url(url)
    feed_id, requests = feed_at(url).id, len(feed_server.requests)
    with host_slot("127.0.0.1", hold_seconds=60):
        result = subprocess.run([sys.executable, "-m", "digest", "feeds", "poll", "--feed", str(feed_id)],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "FEED_HOST_WAIT_SECONDS": "0.3"})
    assert result.returncode == 0, result.stderr
    assert "deferred" in result.stdout
    assert len(feed_server.requests) == requests
    feed = feed_at(url)
    assert feed.consecutive_failures == 0 and feed.last_error is None
    assert dt.timedelta(0) < feed.next_poll_at - utcnow() <= dt.timedelta(minutes=1)
    assert len(articles()) == 4
