"""Polling throughput: many feeds on a local server, most unchanged (304), some with new entries.

    python bench/poll.py [--feeds 1000] [--changed 0.1] [--entries 20] [--workers 2] [--hosts 8]
                         [--database-url URL] [--tracemalloc]

Each feed is polled as a Celery worker process polls it: one transaction and one `poll_feed`
call per feed, through the per-host lock in Redis (REDIS_URL). `--workers` processes share the
feeds, as a worker with that concurrency would. The feeds are spread over `--hosts` loopback
addresses (127.0.0.1, 127.0.0.2, ...): the poller sends one request at a time per host by
design, so feeds that all live on one host are polled one after another whatever the workers.
The 304 feeds are polled first, then the feeds with new entries, each phase timed on the wall
clock. Prints feeds/s on the 304 path, entries stored/s, and peak memory per worker.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import multiprocessing
import resource
import socket
import tempfile
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0000")
os.environ["DIGEST_ENV_FILE"] = ""
# The benchmark's feeds are served on loopback addresses.
os.environ["FEED_ALLOW_PRIVATE_ADDRESSES"] = "true"


def feed_document(base: str, feed_index: int, entries: int) -> bytes:
    from tests.feed_documents import Item, k2_rss

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = ("<p>by Bench Author (05/15/2024 issue of the CACI Analyst)</p>"
            "<p><strong>BACKGROUND:</strong> " + "Context for the benchmark. " * 20 + "</p>"
            "<p>IMPLICATIONS: " + "What follows from it. " * 20 + "</p>"
            "<p>CONCLUSIONS: " + "A closing thought. " * 10 + "</p>"
            "<p>AUTHOR'S BIO: A researcher.</p><p>Read 10 times</p>")
    items = [Item(item_id=feed_index * 1000 + n, title=f"Feed {feed_index} article {n}", author="Bench Author",
                  published=now - dt.timedelta(hours=n), lead="A lead paragraph of modest length. " * 5,
                  body=body) for n in range(entries)]
    return k2_rss(base, items)


def serve(hosts: list[str], port: int, documents: dict[str, bytes], ready) -> None:
    """The feed hosts, in their own process: the poller, not the server, is what is measured."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once, as from a real server

        def do_GET(self) -> None:  # noqa: N802
            document = documents.get(self.path)
            if document is None:
                status, body = 304 if self.headers.get("If-None-Match") == '"v1"' else 404, b""
            else:
                status, body = 200, document
            self.send_response(status)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    servers = [ThreadingHTTPServer((host, port), Handler) for host in hosts]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    servers[0].serve_forever()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def poll_share(feed_ids: list[int], trace: bool) -> tuple[int, int, float]:
    """One worker's share, polled feed by feed. Returns (entries stored, traced peak, max RSS)."""
    from digest.feeds.poll import poll_feed
    from digest.store.db import dispose_engines, unit_of_work

    dispose_engines()  # a forked worker opens its own connections
    if trace:
        tracemalloc.start()
    stored = 0
    for feed_id in feed_ids:
        with unit_of_work() as session:
            result = poll_feed(session, feed_id)
        assert result.error is None and not result.deferred, result
        stored += result.new
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    return stored, peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_phase(pool, feed_ids: list[int], workers: int, trace: bool) -> tuple[float, int, int, int]:
    shares = [feed_ids[n::workers] for n in range(workers)]
    started = time.perf_counter()
    results = pool.starmap(poll_share, [(share, trace) for share in shares])
    elapsed = time.perf_counter() - started
    return elapsed, sum(r[0] for r in results), max(r[1] for r in results), max(r[2] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--changed", type=float, default=0.1, help="share of feeds with new entries")
    parser.add_argument("--entries", type=int, default=20, help="new entries per changed feed")
    parser.add_argument("--workers", type=int, default=2, help="polling processes")
    parser.add_argument("--hosts", type=int, default=8, help="loopback addresses the feeds are spread over")
    parser.add_argument("--database-url", default=f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url

    from digest.store.db import dispose_engines, unit_of_work
    from digest.store.migrate import upgrade
    from digest.store.models import Feed

    upgrade()
    every = max(1, round(1 / args.changed)) if args.changed else args.feeds + 1
    changed = {i for i in range(args.feeds) if i % every == 0}
    hosts = [f"127.0.0.{n + 1}" for n in range(args.hosts)]
    port = free_port()
    base = lambda i: f"http://{hosts[i % len(hosts)]}:{port}"  # noqa: E731
    documents = {f"/feeds/{i}.feed": feed_document(base(i), i, args.entries) for i in changed}
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    server = context.Process(target=serve, args=(hosts, port, documents, ready), daemon=True)
    server.start()
    ready.wait(10)
    with unit_of_work() as session:
        # Steady state: every feed was polled before, so each sends its ETag.
        feeds = [Feed(url=f"{base(i)}/feeds/{i}.feed", etag='"v1"') for i in range(args.feeds)]
        session.add_all(feeds)
        session.flush()
        quiet = [feed.id for i, feed in enumerate(feeds) if i not in changed]
        busy = [feed.id for i, feed in enumerate(feeds) if i in changed]
    dispose_engines()

    with context.Pool(args.workers) as pool:
        quiet_s, _, quiet_peak, quiet_rss = run_phase(pool, quiet, args.workers, args.tracemalloc)
        busy_s, stored, busy_peak, busy_rss = run_phase(pool, busy, args.workers, args.tracemalloc) if busy else (0, 0, 0, 0)
    server.terminate()

    mib = 1024 * 1024
    print(f"database {args.database_url.split(':', 1)[0]}; {args.workers} worker processes; {args.feeds} feeds "
          f"on {len(hosts)} hosts: {len(quiet)} answering 304, {len(busy)} with {args.entries} new entries each")
    print(f"304 path:      {len(quiet) / quiet_s:8.0f} feeds/s    ({len(quiet)} feeds in {quiet_s:.2f} s)")
    if busy:
        print(f"new entries:   {stored / busy_s:8.0f} entries/s  ({stored} stored in {busy_s:.2f} s, "
              f"{len(busy) / busy_s:.0f} feeds/s)")
    print(f"all feeds:     {args.feeds / (quiet_s + busy_s):8.0f} feeds/s    ({quiet_s + busy_s:.2f} s)")
    traced = f"; traced Python peak {max(quiet_peak, busy_peak) / mib:.1f} MiB" if args.tracemalloc else ""
    print(f"peak memory per worker: max RSS {max(quiet_rss, busy_rss) / mib:.0f} MiB{traced}")


if __name__ == "__main__":
    main()
