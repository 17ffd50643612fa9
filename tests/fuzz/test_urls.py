"""URLs from outside (a feed's links, an editor's feed URL, a link an edition checks): random
strings, IPv4 in decimal, octal, hex and short forms, IPv6, IDNA, odd ports. A feed URL is
accepted only when httpx can request it, else refused with the project's own error (InputError);
a request fails only with FetchError; a link is kept for readers as an absolute http(s) URL, and
when httpx cannot request it `request_problem` says why; a non-public address is refused.
Only loopback is ever connected to; hosts are IP literals whenever a name would be resolved."""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import InputError
from digest.feeds.fetch import FetchError, probe
from digest.feeds.links import http_url, rendered_url, request_problem
from digest.feeds.network import AddressPolicy, non_public_kind
from digest.feeds.registry import validate_feed_url
from tests.fuzz.strategies import budget, hostile_text
from tests.servers import FeedServer, Route


@st.composite
def ipv4_spellings(draw, address: int | None = None) -> str:
    """An IPv4 address as inet_aton reads it: 1 to 4 parts, each decimal, octal or hex (so it is
    resolved without any DNS query)."""
    address = draw(st.integers(0, 2**32 - 1)) if address is None else address
    parts = draw(st.integers(1, 4))
    values = [(address >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    values.append(address & (2 ** (8 * (5 - parts)) - 1))
    spelled = []
    for value in values:
        form = draw(st.sampled_from(["decimal", "octal", "hex", "HEX"]))
        spelled.append({"decimal": str(value), "octal": f"0{value:o}", "hex": f"0x{value:x}",
                        "HEX": f"0X{value:X}"}[form])
    return ".".join(spelled)


hosts = st.one_of(
    ipv4_spellings(),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
    st.sampled_from(["localhost", "example.org", "EXAMPLE.org.", "xn--a.com", "xn--bcher-kva.de",
                     "b\u00fccher.de", "\uff21.com", "a..b", "-a.com", "a_b.com", "[::1", "[v1.x]",
                     "\u0430\u0440\u0440\u04cf\u0435.com", "a" * 64 + ".com", "%31%32%37.0.0.1", "user:pw@host",
                     "127.0.0.1\x00.example.org", "127.0.0.1 .example.org"]),
    hostile_text,
)
ports = st.one_of(st.just(""), st.integers(-1, 70000).map(lambda port: f":{port}"),
                  st.sampled_from([":", ":0x50", ": 80", ":+80", ":٨٠"]))
urls = st.one_of(
    st.builds("{}://{}{}/{}".format, st.sampled_from(["http", "https", "HTTP", " http", "ftp", "javascript"]),
              hosts, ports, hostile_text),
    hostile_text,
)


def assert_requestable(url: str) -> None:
    request = httpx.Request("GET", url)
    assert request.url.scheme in ("http", "https") and request.url.host


@settings(max_examples=budget(400))
@given(urls, st.one_of(st.none(), st.just("https://www.cacianalyst.org/feed"), urls))
def test_a_link_is_kept_only_as_an_absolute_http_url_and_what_httpx_refuses_is_named(value, base):
    kept = http_url(value, base=base)
    if kept is not None:
        assert http_url(kept) == kept, "a kept link passes the check again unchanged"
        # Browsers read links httpx refuses (0177.0.0.1): such a link is kept for readers, and
        # the checklist answers it with the problem instead of asking it.
        if request_problem(kept) is None:
            assert_requestable(kept)


@settings(max_examples=budget(400))
@given(urls)
def test_a_link_is_written_as_an_ascii_uri_that_reads_as_itself(value):
    """What every email, page and check writes (rendered_url): ASCII only, an http(s) URL still,
    unchanged when written again, and the same link as the one kept (its non-ASCII characters
    percent-encoded, nothing else changed but the host's IDNA form)."""
    kept = http_url(value)
    written = rendered_url(value)
    if not written:
        return
    assert kept is not None and written.isascii() and http_url(written) == written
    assert rendered_url(written) == written
    kept_parts, written_parts = urlsplit(kept), urlsplit(written)
    assert written_parts.scheme == kept_parts.scheme
    for part in ("path", "query", "fragment"):
        assert unquote(getattr(written_parts, part)) == unquote(getattr(kept_parts, part))


@settings(max_examples=budget(300))
@given(urls)
def test_a_feed_url_is_accepted_as_one_httpx_can_request_or_refused_by_name(url):
    try:
        accepted = validate_feed_url(url, AddressPolicy(allow_private=True))
    except InputError as exc:
        assert repr(url.strip())[1:-1][:40] in str(exc) or repr(url)[1:-1][:40] in str(exc)
        return
    assert_requestable(accepted)


@settings(max_examples=budget(300))
@given(st.integers(0, 2**32 - 1).flatmap(lambda address: st.tuples(st.just(address), ipv4_spellings(address))),
       st.sampled_from(["http", "https"]))
def test_a_non_public_address_is_refused_however_it_is_spelled(case, scheme):
    address, spelled = case
    url = f"{scheme}://{spelled}/feed.xml"
    try:
        validate_feed_url(url, AddressPolicy(allow_private=False))
    except InputError:
        return
    assert non_public_kind(ipaddress.IPv4Address(address)) is None, f"{url} ({ipaddress.IPv4Address(address)}) was accepted"


@pytest.fixture(scope="module")
def server():
    with FeedServer() as running:
        running.routes["/x"] = Route(200, b"ok")
        yield running


@settings(max_examples=budget(150))
@given(ipv4_spellings(0x7F000001), st.from_regex(r"[/a-z0-9%._~-]{0,30}", fullmatch=True))
def test_a_request_to_any_spelling_of_loopback_answers_or_fails_with_fetch_error(server, host, path):
    url = f"http://{host}:{server.base.rpartition(':')[2]}/{path}"
    if http_url(url) is None:
        return
    try:
        answer = probe(url, method="GET", policy=AddressPolicy(allow_private=True))
    except FetchError as exc:
        assert exc.status == 404 or url in str(exc)
        return
    assert answer.status == 200
