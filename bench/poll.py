"""Polling throughput: many feeds on a local server, most unchanged (304), some with new entries.

    python bench/poll.py [--feeds 1000] [--changed 0.1] [--entries 20] [--database-url URL]

Each feed is polled as a worker polls it: one transaction and one `poll_feed` call per feed,
through the per-host lock in Redis (REDIS_URL, default redis://127.0.0.1:6379/0). Prints
feeds/s on the 304 path, entries stored/s on the changed feeds, and peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import multiprocessing
import socket
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0000")
os.environ["DIGEST_ENV_FILE"] = ""


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


def serve(port: int, documents: dict[str, bytes], ready) -> None:
    """The feed host, in its own process: the poller, not the server, is what is measured."""

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

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--changed", type=float, default=0.1, help="share of feeds with new entries")
    parser.add_argument("--entries", type=int, default=20, help="new entries per changed feed")
    parser.add_argument("--database-url", default=f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url

    from digest.feeds.poll import poll_feed
    from digest.store.db import unit_of_work
    from digest.store.migrate import upgrade
    from digest.store.models import Feed

    upgrade()
    every = max(1, round(1 / args.changed)) if args.changed else args.feeds + 1
    changed = {i for i in range(args.feeds) if i % every == 0}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    documents = {f"/feeds/{i}.feed": feed_document(base, i, args.entries) for i in changed}
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, documents, ready), daemon=True)
    server.start()
    ready.wait(10)
    with unit_of_work() as session:
        # Steady state: every feed was polled before, so each sends its ETag.
        feeds = [Feed(url=f"{base}/feeds/{i}.feed", etag='"v1"') for i in range(args.feeds)]
        session.add_all(feeds)
        session.flush()
        ids = [(feed.id, i in changed) for i, feed in zip(range(args.feeds), feeds)]

    if not os.environ.get("BENCH_NO_TRACE"): tracemalloc.start()
    spent = {True: 0.0, False: 0.0}
    stored = 0
    started = time.perf_counter()
    for feed_id, has_new in ids:
        began = time.perf_counter()
        with unit_of_work() as session:
            result = poll_feed(session, feed_id)
        spent[has_new] += time.perf_counter() - began
        assert result.error is None, result.error
        stored += result.new
    total = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    server.terminate()

    unchanged = args.feeds - len(changed)
    print(f"database: {args.database_url.split(':', 1)[0]}; {args.feeds} feeds, {len(changed)} with "
          f"{args.entries} new entries each, {unchanged} answering 304")
    print(f"all feeds:        {args.feeds / total:8.0f} feeds/s   ({total:.2f} s)")
    print(f"304 path:         {unchanged / spent[False]:8.0f} feeds/s   ({spent[False]:.2f} s)")
    if changed:
        print(f"new entries:      {stored / spent[True]:8.0f} entries/s ({stored} stored in {spent[True]:.2f} s, "
              f"{len(changed) / spent[True]:.0f} feeds/s)")
    print(f"peak memory:      {peak / 1024 / 1024:8.1f} MiB traced (Python objects), "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB max RSS (process)")


if __name__ == "__main__":
    main()
