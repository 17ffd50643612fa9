"""The checklist's link check: every distinct link asked once (HEAD, then GET when HEAD is refused)
under the poller's rules, each answer shown with the article it belongs to, kept until the
edition changes."""

from __future__ import annotations

import pytest

from digest.checklist.build import edition_checklist
from digest.checklist.links import check_links
from digest.editions.edit import update_text
from digest.editions.lookup import get_edition
from digest.feeds.links import rendered_url
from digest.store.db import unit_of_work
from tests.checklist.conftest import edition_linking_to
from tests.cli import digest
from tests.conftest import reset_caches
from tests.servers import Route
from tests.slow_servers import raw_server


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


def test_a_link_with_non_ascii_characters_is_asked_for_and_named_as_the_email_writes_it(settings, feed_server):
    # Joomla's item alias with a typographic apostrophe: the site answers the URI (UTF-8, %XX).
    edition_id = edition_linking_to(feed_server, "/item/13314-kazakhstan’s-bid.html")
    encoded = "/item/13314-kazakhstan%E2%80%99s-bid.html"
    feed_server.routes[encoded] = Route(200, b"<html><body>An article page</body></html>", {"Content-Type": "text/html"})
    check = _links(edition_id)
    assert check.level == "passed"
    assert [(f.text, f.url) for f in check.findings] == [("HTTP 200 · “Corridor report 0”", feed_server.url(encoded))]
    assert {path for path, _ in feed_server.requests} == {encoded}


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


@pytest.fixture
def silent_server():
    """Accepts connections and never answers a byte."""
    accepted = []
    with raw_server(lambda connection, stop: accepted.append(connection)) as url:
        yield url
    for connection in accepted:
        connection.close()


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



class _Addresses:
    """For edition_linking_to: each "path" is a whole URL, served by nobody."""

    routes: dict = {}

    def url(self, path: str) -> str:
        return path


# Links a browser (and http_url) reads but httpx refuses to request: loopback spellings only, and
# refused before any connection or name lookup.
UNREQUESTABLE = [
    ("http://0177.0.0.1:8742/x", "Invalid IPv4 address: '0177.0.0.1'"),
    ("http://127.0.0.01:8742/x", "Invalid IPv4 address: '127.0.0.01'"),
    ("http://127.0.0.1:0/x", "port 0 is not between 1 and 65535"),
    # Written in the email as its IDNA form (xn--53h), which httpx will not decode.
    ("http://\u2615.localhost:8742/x", "invalid IDNA host name"),
    ("http://xn--a.localhost:8742/x", "invalid IDNA host name"),
]


def test_a_link_httpx_cannot_request_is_an_answer_not_an_exception(settings):
    edition_id = edition_linking_to(_Addresses(), *(url for url, _ in UNREQUESTABLE))
    check = _links(edition_id)
    assert check.level == "warning"
    assert check.summary.startswith(f"Links that fail: {len(UNREQUESTABLE)} of {len(UNREQUESTABLE)}.")
    found = {finding.url: finding.text for finding in check.findings}
    for url, reason in UNREQUESTABLE:
        written = rendered_url(url)  # as the email's href has it
        assert found[written].startswith("not a valid URL: ") and reason in found[written], found[written]


def test_editions_check_answers_an_octal_link_and_approval_is_not_blocked(settings):
    edition_id = edition_linking_to(_Addresses(), "http://0177.0.0.1:8742/x")
    ran = digest("editions", "check", str(edition_id))
    assert "Traceback" not in ran.stderr and ran.returncode == 0, ran.stderr
    assert "not a valid URL: Invalid IPv4 address: '0177.0.0.1'" in ran.stdout
    approved = digest("editions", "approve", str(edition_id), "--by", "publisher@example.org", "--yes")
    assert approved.returncode == 0, approved.stderr
