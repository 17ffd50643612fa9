"""Fetch feeds and article pages over HTTP politely: one request per host at a time, conditional
GET, one deadline for the whole request, a streamed size cap, and redirects followed by hand so a
permanent move (301/308) can be told apart from a temporary one (302/303/307).

The deadline (`request_seconds`) covers everything a fetch or probe does, redirects included:
connecting (within its own shorter limit), TLS, the headers and the body. It is kept where the
sockets are (feeds.network): a server dripping its answer a byte at a time is cut off at the
deadline, in the caller's thread, with no thread left waiting on it."""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from digest.clock import utcnow
from digest.config import get_settings
from digest.feeds.hosts import host_slot
from digest.feeds.links import request_problem
from digest.feeds.network import AddressPolicy, CheckedBackend, RefusedAddress, address_policy, seconds_left, within
from digest.release import release

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
MAX_REDIRECTS = 5
# A server may ask for a pause; one asking for more than this is answered with this.
MAX_RETRY_AFTER = dt.timedelta(days=7)
_PERMANENT = {301, 308}
_REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """The URL could not be fetched; `retry_after` (seconds) when the server asked for a pause."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class RefusedFetch(FetchError):
    """The URL (or a redirect's target) is on an address the poller may not connect to."""


class InvalidURL(FetchError):
    """The URL (or a redirect's target) is one the HTTP client cannot request at all."""


@dataclass(frozen=True)
class FetchResult:
    status: int
    url: str  # where the content came from, after every redirect
    permanent_url: str  # where the permanent redirects from the requested URL lead
    content: bytes
    headers: httpx.Headers

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def user_agent() -> str:
    return f"AnalystDigest/{release()} (feed poller of the CACI Analyst digest; +{get_settings().base_url})"


class CheckedTransport(httpx.HTTPTransport):
    """httpx's transport whose connection pool opens sockets only through CheckedBackend (the
    poller's, and `digest doctor`'s requests to SendGrid, which keep its deadlines)."""

    def __init__(self, policy: AddressPolicy):
        # No proxy from the environment: a proxy would connect where we did not check.
        super().__init__(trust_env=False)
        # httpx accepts no network backend, its pool does: the same pool, built with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=100,
            max_keepalive_connections=20, keepalive_expiry=5.0, network_backend=CheckedBackend(policy))


_clients: dict[AddressPolicy, httpx.Client] = {}
# The link check asks from several threads at once: one client per policy all the same.
_clients_lock = threading.Lock()


def _client(policy: AddressPolicy) -> httpx.Client:
    # One pooled client per process (and policy): a poll reuses the host's open connection
    # instead of paying a new TCP (and TLS) handshake per feed. A connection opened under one
    # policy is never reused under a stricter one.
    with _clients_lock:
        if policy not in _clients:
            _clients[policy] = httpx.Client(follow_redirects=False, trust_env=False, transport=CheckedTransport(policy),
                                            headers={"User-Agent": user_agent()})
        return _clients[policy]


def _forget_client() -> None:
    global _clients_lock
    _clients.clear()
    _clients_lock = threading.Lock()  # a fork may have happened while a thread of the parent held it


os.register_at_fork(after_in_child=_forget_client)


def request_seconds() -> float:
    """How long one fetch or probe may take, redirects included: FEED_CONNECT_TIMEOUT_SECONDS
    (at most FEED_TIMEOUT_SECONDS) to connect, plus FEED_TIMEOUT_SECONDS for the answer."""
    settings = get_settings()
    return min(settings.FEED_CONNECT_TIMEOUT_SECONDS, settings.FEED_TIMEOUT_SECONDS) + settings.FEED_TIMEOUT_SECONDS


def fetch(url: str, *, etag: str | None = None, last_modified: str | None = None,
          accept: str = FEED_ACCEPT, same_host_as: str | None = None,
          policy: AddressPolicy | None = None) -> FetchResult:
    """GET `url`, following up to MAX_REDIRECTS redirects, each hop under its host's lock and
    only to an address `policy` (by default: the settings') allows. With `same_host_as`, every
    hop must stay on that URL's host and port.

    Raises FetchError for HTTP errors, the deadline, oversized bodies, invalid URLs, refused
    addresses or hosts and network failures, and hosts.HostBusy when a host stayed busy longer
    than FEED_HOST_WAIT_SECONDS."""
    policy = policy or address_policy()
    headers = {"Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with within(request_seconds()):
        return _follow(url, lambda current: _get(current, headers, policy), same_host_as)


def probe(url: str, *, method: str = "HEAD", policy: AddressPolicy | None = None) -> FetchResult:
    """Whether `url` answers, without reading its body: redirects followed as `fetch` does, only
    to addresses `policy` allows, under the same deadline. Not under the per-host lock, which
    paces polls: a link check is a handful of short requests. Raises FetchError like `fetch`
    (with `status` for an HTTP error, e.g. 404 or the 405 of a server that refuses HEAD)."""
    policy = policy or address_policy()
    with within(request_seconds()):
        return _follow(url, lambda current: _send(method, current, {"Accept": PAGE_ACCEPT}, policy, max_bytes=0),
                       None)


def _follow(url: str, request, same_host_as: str | None) -> FetchResult:
    """`request(url)` -> (status, headers, content), repeated along redirects."""
    current, permanent, only_permanent = url, url, True
    for _ in range(MAX_REDIRECTS + 1):
        how = "" if current == url else f" (where {url} redirects)"
        problem = request_problem(current)
        if problem:
            raise InvalidURL(f"{current!r}{how} is not a valid URL: {problem}")
        if same_host_as and host_and_port(current) != host_and_port(same_host_as):
            raise FetchError(f"{current}{how} is refused: not on the feed's own host "
                             f"{urlsplit(same_host_as).netloc}")
        try:
            status, response_headers, content = request(current)
        except RefusedAddress as exc:
            where = f"{url} redirects to {current}, which" if current != url else url
            raise RefusedFetch(f"{where} is refused: {exc}") from exc
        if status not in _REDIRECTS:
            return FetchResult(status, current, permanent, content, response_headers)
        location = response_headers.get("location")
        if not location:
            raise FetchError(f"{current} answered HTTP {status} without a Location", status=status)
        target = urljoin(current, location.strip())
        if urlsplit(target).scheme not in ("http", "https"):
            raise FetchError(f"{current} redirects to {target!r}, which is not http(s)", status=status)
        # Only an unbroken chain of permanent moves from the stored URL changes what we store.
        only_permanent = only_permanent and status in _PERMANENT
        if only_permanent:
            permanent = target
        current = target
    raise FetchError(f"{url} redirected more than {MAX_REDIRECTS} times")


def host_and_port(url: str) -> tuple[str, int]:
    """What 'the same host' means for article pages: the host name and the port."""
    parts = urlsplit(url)
    return (parts.hostname or "").rstrip("."), parts.port or (443 if parts.scheme == "https" else 80)


def _get(url: str, headers: dict[str, str], policy: AddressPolicy) -> tuple[int, httpx.Headers, bytes]:
    settings = get_settings()
    host = urlsplit(url).hostname or ""
    # The lock outlives the longest request it guards, and lapses if this process dies. Waiting
    # for it counts against the deadline too.
    with host_slot(host, hold_seconds=request_seconds() + 5,
                   wait_seconds=min(settings.FEED_HOST_WAIT_SECONDS, seconds_left())):
        return _send("GET", url, headers, policy, max_bytes=settings.FEED_MAX_BYTES)


def _send(method: str, url: str, headers: dict[str, str], policy: AddressPolicy, *,
          max_bytes: int) -> tuple[int, httpx.Headers, bytes]:
    """One request within what is left of the deadline in force (feeds.network cuts every
    socket operation off there); the body read up to `max_bytes` (0: not read at all)."""
    left = seconds_left()
    if not left:
        raise FetchError(f"{url} timed out (its deadline passed before it was asked)")
    settings = get_settings()
    # A silent server is given up on after FEED_TIMEOUT_SECONDS, as each read always was; the
    # deadline is what stops one that keeps every read short.
    timeout = httpx.Timeout(min(settings.FEED_TIMEOUT_SECONDS, left),
                            connect=min(settings.FEED_CONNECT_TIMEOUT_SECONDS, left))
    try:
        with _client(policy).stream(method, url, headers=headers, timeout=timeout) as response:
            status = response.status_code
            if status == 304 or status in _REDIRECTS:
                # Read the (empty or short) rest, so the connection goes back to the pool.
                _read_capped(response, url, 64 * 1024)
                return status, response.headers, b""
            if status >= 400:
                raise FetchError(f"{url} answered HTTP {status}", status=status,
                                 retry_after=retry_after_seconds(response.headers.get("retry-after")))
            if not max_bytes:
                return status, response.headers, b""  # unread: the connection is dropped, not drained
            return status, response.headers, _read_capped(response, url, max_bytes)
    except httpx.TimeoutException as exc:
        raise FetchError(f"{url} timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{url} could not be fetched: {type(exc).__name__}: {exc}") from exc


def _read_capped(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    """The body, read as it streams. Past the cap we stop reading: leaving the stream unread
    closes the connection, so the rest is never downloaded."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{url} declares {declared} bytes, more than the {max_bytes} allowed")
    body = bytearray()
    # Decoded chunk by chunk (gzip, deflate): the cap counts what a bomb would expand to.
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FetchError(f"{url} is larger than {max_bytes} bytes; not read further")
    return bytes(body)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date, capped at MAX_RETRY_AFTER."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        seconds = max(0.0, (moment - utcnow()).total_seconds())
    return min(seconds, MAX_RETRY_AFTER.total_seconds())
