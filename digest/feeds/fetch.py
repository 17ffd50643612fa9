"""Fetch a feed's bytes over HTTP politely: conditional GET, timeouts, a size cap."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

USER_AGENT = "AnalystDigest/0.1 (+feed poller of the CACI Analyst newsletter)"


class FetchError(Exception):
    """The feed could not be fetched; `retry_after` (seconds) when the server asked for a pause."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class FetchResult:
    status: int
    url: str
    content: bytes
    headers: httpx.Headers

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 20.0,
    max_bytes: int = 10 * 1024 * 1024,
) -> FetchResult:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    try:
        with httpx.Client(timeout=timeouts, follow_redirects=True, max_redirects=5) as client:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return FetchResult(304, str(response.url), b"", response.headers)
                if response.status_code >= 400:
                    raise FetchError(
                        f"{url} answered HTTP {response.status_code}",
                        status=response.status_code,
                        retry_after=_retry_after(response.headers.get("Retry-After")),
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise FetchError(f"{url} is larger than {max_bytes} bytes; not read further")
                return FetchResult(response.status_code, str(response.url), bytes(body), response.headers)
    except httpx.TimeoutException as exc:
        raise FetchError(f"{url} timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{url} could not be fetched: {exc}") from exc


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
