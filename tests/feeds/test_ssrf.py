"""The poller as an SSRF tool: feeds, redirects and article pages on loopback, private, link-local
and metadata addresses, however spelled, are refused unless FEED_ALLOW_PRIVATE_ADDRESSES is set.

The test servers listen on 127.0.0.1, so with the setting off they ARE the private network an
attacker aims at. Where a test needs a "public" server that redirects inward, it passes an
AddressPolicy naming that server's port as public: a parameter, never a setting."""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from digest.errors import InputError
from digest.feeds.fetch import RefusedFetch, fetch
from digest.feeds.network import AddressPolicy, non_public_kind
from digest.feeds.poll import poll_feed
from digest.feeds.registry import add_feed
from digest.store.db import unit_of_work
from digest.store.models import Article, Feed
from digest.web.app import app
from tests.conftest import reset_caches
from tests.factories import FEED_PATH, articles, feed_at, serve_feed
from tests.feed_documents import k2_item_page, k2_rss, recent_items
from tests.servers import FeedServer, Route
from tests.web.editor_helpers import csrf, logged_in

SPELLINGS_OF_HOME = [
    "http://127.0.0.1:{port}/feed", "http://localhost:{port}/feed", "http://0x7f000001:{port}/feed",
    "http://2130706433:{port}/feed", "http://0177.0.0.1:{port}/feed", "http://127.1:{port}/feed",
    "http://[::1]:{port}/feed", "http://[::ffff:127.0.0.1]:{port}/feed", "http://0.0.0.0:{port}/feed",
]
OTHER_PRIVATE = [
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.0.0.5/feed", "http://192.168.1.1/feed", "http://172.16.0.1/feed", "http://100.64.0.1/feed",
    "http://224.0.0.1/feed", "http://[fe80::1]/feed", "http://240.0.0.1/feed", "http://[64:ff9b::a00:1]/feed",
]


@pytest.fixture
def guarded(settings, monkeypatch):
    """The production default: private addresses refused."""
    monkeypatch.setenv("FEED_ALLOW_PRIVATE_ADDRESSES", "false")
    reset_caches()
    yield
    reset_caches()


def _register(url: str) -> int:
    """A feed row as if registered before the guard (or by a name that resolved elsewhere then)."""
    with unit_of_work() as session:
        feed = Feed(url=url)
        session.add(feed)
        session.flush()
        return feed.id


def _poll(feed_id: int, policy: AddressPolicy | None = None):
    with unit_of_work() as session:
        return poll_feed(session, feed_id, policy=policy)


def test_every_spelling_of_loopback_and_every_private_range_is_refused(guarded, feed_server):
    serve_feed(feed_server)
    port = feed_server.httpd.server_address[1]
    for url in [u.format(port=port) for u in SPELLINGS_OF_HOME] + OTHER_PRIVATE:
        with unit_of_work() as session, pytest.raises(InputError) as refused:
            add_feed(session, url)
        assert str(refused.value).startswith(f"feed URL {url!r} is refused: host ")
        assert str(refused.value).endswith("address, not a public one")
    assert feed_server.requests == [], "nothing was fetched while checking"
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Feed)) == 0


def test_feeds_add_answers_a_refused_url_with_exit_2_and_one_line(guarded, feed_server):
    for url in (feed_server.url("/feed").replace("127.0.0.1", "localhost"), "http://169.254.169.254/latest/meta-data/"):
        answer = subprocess.run([sys.executable, "-m", "digest", "feeds", "add", url],
                                capture_output=True, text=True, timeout=60)
        assert answer.returncode == 2, (url, answer.stdout, answer.stderr)
        [line] = answer.stderr.strip().splitlines()
        assert line.startswith(f"Error: feed URL {url!r} is refused: host ") and "not a public one" in line
    assert feed_server.requests == []


def test_the_add_feed_form_shows_the_same_refusal(guarded, feed_server):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        logged_in(client)
        url = feed_server.url("/feed").replace("127.0.0.1", "localhost")
        answer = client.post("/feeds", data={"csrf_token": csrf(client, "/feeds"), "url": url, "section": ""})
    assert answer.status_code == 400
    assert f"feed URL &#39;{url}&#39; is refused: host localhost resolves to 127.0.0.1, a loopback address" in answer.text
    assert feed_at(url) is None


def test_a_public_name_is_still_accepted(guarded):
    with unit_of_work() as session:
        # Public by address; it need not answer, nothing is fetched when a feed is added.
        assert add_feed(session, "http://93.184.215.14/feed.xml").id


def test_a_registered_feed_on_a_private_address_is_refused_at_poll_without_a_connection(guarded, feed_server):
    serve_feed(feed_server)
    for url in (feed_server.url(FEED_PATH), feed_server.url(FEED_PATH).replace("127.0.0.1", "localhost"),
                feed_server.url(FEED_PATH).replace("127.0.0.1", "[::ffff:127.0.0.1]")):
        result = _poll(_register(url))
        assert result.error and "is refused" in result.error and "loopback" in result.error, result
        assert url in feed_at(url).last_error
    assert feed_server.requests == [], "no request reached the private server"
    assert articles() == []


def test_a_redirect_from_a_public_host_to_a_private_one_is_refused(guarded, feed_server):
    with FeedServer() as inside:
        inside.routes["/secret"] = Route(200, k2_rss(inside.base, recent_items()))
        public = AddressPolicy(public_test_ports=frozenset({feed_server.httpd.server_address[1]}))
        targets = {"/to-loopback": inside.url("/secret"),
                   "/to-localhost": inside.url("/secret").replace("127.0.0.1", "localhost"),
                   "/to-metadata": "http://169.254.169.254/latest/meta-data/",
                   "/to-hex": inside.url("/secret").replace("127.0.0.1", "0x7f000001")}
        for path, target in targets.items():
            feed_server.routes[path] = Route(302, b"", {"Location": target})
            feed_id = _register(feed_server.url(path))
            result = _poll(feed_id, public)
            assert result.error == (f"{feed_server.url(path)} redirects to {target}, which is refused: "
                                    f"{result.error.split('which is refused: ')[1]}")
            assert "not a public one" in result.error
            assert feed_at(feed_server.url(path)).last_error == result.error
        assert inside.requests == [], "the private server was never reached"
    # The "public" server itself is fetched: the hook names only its port.
    serve_feed(feed_server)
    assert _poll(_register(feed_server.url(FEED_PATH)), public).new == 4


def test_a_public_host_keeps_its_name_on_the_wire(guarded, feed_server):
    """The socket goes to the address that was checked; the request still names the host."""
    serve_feed(feed_server)
    port = feed_server.httpd.server_address[1]
    result = fetch(f"http://localhost:{port}{FEED_PATH}", policy=AddressPolicy(public_test_ports=frozenset({port})))
    assert result.status == 200
    assert feed_server.requests[-1][1]["Host"] == f"localhost:{port}"
    with pytest.raises(RefusedFetch, match="resolves to 127.0.0.1, a loopback address"):
        fetch(f"http://localhost:{port + 1 if port < 65535 else port - 1}{FEED_PATH}",
              policy=AddressPolicy(public_test_ports=frozenset({port})))


def test_article_pages_are_fetched_only_from_the_feeds_own_host_and_port(settings, feed_server):
    """Even with private addresses allowed: an intro-only item whose link is on another server
    never makes the poller fetch (and publish) that server's page."""
    with FeedServer() as elsewhere:
        items = [dataclasses.replace(item, full_text=False) for item in recent_items(2)]
        for item in items:
            page = k2_item_page(item, date_line="Wednesday, 27 March 2013", byline="", tags=["Planted"])
            elsewhere.routes[item.link("")] = Route(200, page, {"Content-Type": "text/html"})
        # The feed's items link to the other server (another port of the same address).
        feed_server.routes[FEED_PATH] = Route(200, k2_rss(elsewhere.base, items),
                                              {"Content-Type": "application/rss+xml"})
        result = _poll(_register(feed_server.url(FEED_PATH)))
        assert result.error is None and result.new == 2
        assert elsewhere.requests == [], "no page was fetched from another host"
        assert f"not on the feed's own host 127.0.0.1:{feed_server.httpd.server_address[1]}" in result.warning
        stored = articles()
        assert all(a.url.startswith(elsewhere.base) for a in stored), "the links themselves are kept"
        assert all("Planted" not in a.tags for a in stored), "nothing of the other server's page is kept"


def test_a_page_redirecting_off_the_feeds_host_is_refused(settings, feed_server):
    with FeedServer() as elsewhere:
        items = [dataclasses.replace(item, full_text=False) for item in recent_items(1)]
        serve_feed(feed_server, items)
        feed_server.routes[items[0].link("")] = Route(302, b"", {"Location": elsewhere.url("/page")})
        result = _poll(_register(feed_server.url(FEED_PATH)))
        assert result.error is None and result.new == 1
        assert elsewhere.requests == []
        assert f"{elsewhere.url('/page')} (where {items[0].link(feed_server.base)} redirects)" in result.warning


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local (metadata)"), ("10.1.2.3", "private"), ("fd00::1", "private"),
    ("100.64.0.1", "shared (carrier-grade NAT) or special-purpose"), ("0.0.0.0", "unspecified"),
    ("ff02::1", "multicast"), ("2002:a00:1::", "private"), ("64:ff9b::a9fe:a9fe", "link-local (metadata)"),
    ("93.184.215.14", None), ("2606:4700::1111", None),
])
def test_the_kinds_of_address(address, kind):
    assert non_public_kind(ipaddress.ip_address(address)) == kind


def test_the_setting_lets_a_development_machine_poll_loopback(settings, feed_server):
    """The test suite's own setting (and the quickstart's): the sample feed is on loopback."""
    url = serve_feed(feed_server)
    with unit_of_work() as session:
        feed = add_feed(session, url)
        assert poll_feed(session, feed.id).new == 4
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 4


def test_input_errors_name_the_url(guarded):
    with unit_of_work() as session, pytest.raises(InputError, match=r"feed URL 'http://\[::1\]/x' is refused"):
        add_feed(session, "http://[::1]/x")
