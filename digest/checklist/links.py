"""Does every link of an edition answer? Each distinct URL is asked once, HEAD first (a GET when
the server answers HEAD with an error: many refuse HEAD with 405 or 501, some with 403 or 404),
under the poller's rules: its time-outs, and only public addresses unless
FEED_ALLOW_PRIVATE_ADDRESSES (a link in an email must not make our server reach into its own
network). A few at a time, and the whole check ends by a deadline whatever the servers do."""

from __future__ import annotations

import concurrent.futures
from dataclasses import asdict, dataclass

from digest.config import get_settings
from digest.feeds.fetch import FetchError, RefusedFetch, probe
from digest.feeds.network import address_policy

# Requests in flight at once: enough for a digest's dozen links, few enough for the sites.
CONCURRENCY = 8


@dataclass(frozen=True)
class LinkAnswer:
    url: str
    ok: bool
    status: int | None  # the HTTP status, when the server answered
    note: str  # what an editor reads: "HTTP 200", "HTTP 404", "timed out", "refused: ..."

    def as_dict(self) -> dict:
        return asdict(self)


def deadline_seconds() -> float:
    """How long the whole check may take: one request's limits under the poller's rules (an
    editor waits for the page). A server that times out is not asked again with GET; one that
    answers HEAD with an error quickly leaves its GET most of this time."""
    settings = get_settings()
    return min(settings.FEED_CONNECT_TIMEOUT_SECONDS, settings.FEED_TIMEOUT_SECONDS) + settings.FEED_TIMEOUT_SECONDS + 1


def check_links(urls: list[str]) -> dict[str, LinkAnswer]:
    """The answer of each URL. A URL still waiting at the deadline is reported as such; its
    request is left to its own time-out in the background rather than waited for."""
    urls = list(dict.fromkeys(urls))
    if not urls:
        return {}
    policy = address_policy()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(urls)),
                                                 thread_name_prefix="link-check")
    futures = {pool.submit(check_link, url, policy): url for url in urls}
    limit = deadline_seconds()
    done, _ = concurrent.futures.wait(futures, timeout=limit)
    pool.shutdown(wait=False, cancel_futures=True)
    answers = {}
    for future, url in futures.items():
        if future in done:
            answers[url] = future.result()
        else:
            answers[url] = LinkAnswer(url, False, None, f"no answer within {limit:g} s")
    return answers


def check_link(url: str, policy=None) -> LinkAnswer:
    try:
        try:
            result = probe(url, method="HEAD", policy=policy)
        except FetchError as exc:
            if exc.status is None or isinstance(exc, RefusedFetch):
                raise
            result = probe(url, method="GET", policy=policy)
    except RefusedFetch as exc:
        return LinkAnswer(url, False, None, "refused: " + str(exc).rpartition(" is refused: ")[2])
    except FetchError as exc:
        return LinkAnswer(url, False, exc.status, _note(url, exc))
    moved = f", after a redirect to {result.url}" if result.url != url else ""
    return LinkAnswer(url, True, result.status, f"HTTP {result.status}{moved}")


def _note(url: str, error: FetchError) -> str:
    if error.status is not None:
        return f"HTTP {error.status}"
    text = str(error)
    if "timed out" in text:
        return "timed out"
    return text.replace(f"{url} ", "", 1)
