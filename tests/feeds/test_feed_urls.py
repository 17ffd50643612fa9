"""Feed URLs the HTTP client cannot request (an octal IPv4 host, a zero-padded one, port 0, names
IDNA refuses), with private addresses allowed as the quickstart and the tests have them: refused
by `feeds add` with exit 2 and the URL named; a feed stored with one before, or a redirect to
one, is a failure recorded on the feed's row, never an exception."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from digest.store.db import unit_of_work
from digest.store.models import Feed
from tests.cli import digest
from tests.factories import FEED_PATH, feed_at, poll_url, serve_feed
from tests.servers import Route

# Loopback spellings only; each is refused before any connection or name lookup.
UNREQUESTABLE = [
    ("http://0177.0.0.1:{port}/feed.xml", "Invalid IPv4 address: '0177.0.0.1'"),
    ("http://127.0.0.01:{port}/feed.xml", "Invalid IPv4 address: '127.0.0.01'"),
    ("http://127.0.0.1:0/feed.xml", "port 0 is not between 1 and 65535"),
    ("http://\u2615.localhost:{port}/feed.xml", "Invalid IDNA hostname"),
    ("http://xn--a.localhost:{port}/feed.xml", "invalid IDNA host name"),
    ("http://local host:{port}/feed.xml", "host 'local%20host' has characters no host name can have"),
]


def _feeds() -> int:
    with unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Feed))


@pytest.mark.parametrize("spelling, reason", UNREQUESTABLE)
def test_feeds_add_refuses_a_url_the_poller_cannot_request(settings, feed_server, spelling, reason):
    serve_feed(feed_server)
    url = spelling.format(port=feed_server.httpd.server_address[1])
    ran = digest("feeds", "add", url)
    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    [line] = ran.stderr.strip().splitlines()
    assert line.startswith(f"Error: feed URL {url!r} is not valid: ") and reason in line
    assert _feeds() == 0 and feed_server.requests == []


def test_feeds_add_refuses_a_url_too_long_to_keep(settings):
    url = "http://127.0.0.1:8742/" + "a" * 2000
    ran = digest("feeds", "add", url)
    assert ran.returncode == 2
    assert "has 2022 characters, more than the 2000 a feed URL may have" in ran.stderr
    assert _feeds() == 0


@pytest.mark.parametrize("spelling, reason", UNREQUESTABLE)
def test_a_stored_feed_url_the_poller_cannot_request_fails_on_its_row(settings, feed_server, spelling, reason):
    """As if stored before `feeds add` checked: the poll records the failure, the CLI goes on."""
    url = spelling.format(port=feed_server.httpd.server_address[1])
    with unit_of_work() as session:
        session.add(Feed(url=url))
    ran = digest("feeds", "poll")
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr
    feed = feed_at(url)
    assert feed.last_error.startswith(f"{url!r} is not a valid URL: ") and reason in feed.last_error
    assert feed.consecutive_failures == 1
    assert f"feed {feed.id}: error: {url!r} is not a valid URL" in ran.stdout


def test_a_redirect_to_a_url_the_poller_cannot_request_fails_on_the_feeds_row(settings, feed_server):
    target = f"http://0177.0.0.1:{feed_server.httpd.server_address[1]}{FEED_PATH}"
    feed_server.routes["/old.feed"] = Route(301, b"", {"Location": target})
    url = feed_server.url("/old.feed")
    result = poll_url(url)
    # httpx reads the Location itself (for its own redirects) and refuses it first.
    assert result.error.startswith(f"{url} could not be fetched: ") and "Invalid IPv4 address: '0177.0.0.1'" in result.error
    assert feed_at(url).last_error == result.error


def test_feeds_add_refuses_a_section_too_long_to_keep(settings, feed_server):
    url = serve_feed(feed_server)
    ran = digest("feeds", "add", url, "--section", "S" * 201)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert f"section {'S' * 60!r}... has 201 characters, more than the 200 a section may have" in ran.stderr
    assert _feeds() == 0 and feed_server.requests == []


def test_feeds_add_refuses_a_url_no_url_parser_reads(settings):
    ran = digest("feeds", "add", "http://[::1/feed.xml")
    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    [line] = ran.stderr.strip().splitlines()
    assert line == "Error: feed URL 'http://[::1/feed.xml' is not valid: Invalid IPv6 URL"
    assert _feeds() == 0
