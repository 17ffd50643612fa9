"""Does every link of an edition answer? Each distinct URL is asked once, HEAD first (a GET when
the server answers HEAD with an error: many refuse HEAD with 405 or 501, some with 403 or 404),
under the poller's rules: its time-outs, and only public addresses unless
FEED_ALLOW_PRIVATE_ADDRESSES (a link in an email must not make our server reach into its own
network). A few at a time, and the whole check ends by a deadline whatever the servers do:
every request is cut off there, so no thread outlives the check."""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import asdict, dataclass

from digest.feeds.fetch import FetchError, InvalidURL, RefusedFetch, probe, request_seconds
from digest.feeds.network import AddressPolicy, address_policy, until

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
    """How long the whole check may take: one request's deadline under the poller's rules, and
    a second to spare (an editor waits for the page). A server that times out is not asked
    again with GET; one that answers HEAD with an error quickly leaves its GET the rest."""
    return request_seconds() + 1


def check_links(urls: list[str]) -> dict[str, LinkAnswer]:
    """The answer of each URL, by the deadline: a URL whose turn comes too late (more than
    CONCURRENCY slow servers before it) is answered "timed out" without being asked."""
    urls = list(dict.fromkeys(urls))
    if not urls:
        return {}
    policy = address_policy()
    deadline = time.monotonic() + deadline_seconds()
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(urls)),
                                               thread_name_prefix="link-check") as pool:
        answers = pool.map(lambda url: check_link(url, policy, deadline), urls)
        return dict(zip(urls, answers))


def check_link(url: str, policy: AddressPolicy, deadline: float) -> LinkAnswer:
    """The answer of one URL, asked by `deadline` (time.monotonic)."""
    try:
        with until(deadline):
            try:
                result = probe(url, method="HEAD", policy=policy)
            except FetchError as exc:
                if exc.status is None or isinstance(exc, RefusedFetch):
                    raise
                result = probe(url, method="GET", policy=policy)
    except RefusedFetch as exc:
        return LinkAnswer(url, False, None, "refused: " + str(exc).rpartition(" is refused: ")[2])
    except InvalidURL as exc:
        return LinkAnswer(url, False, None, "not a valid URL: " + str(exc).rpartition(" is not a valid URL: ")[2])
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
