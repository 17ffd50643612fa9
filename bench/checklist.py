"""The pre-send checklist of a 12-article edition: first run (every link asked, SpamAssassin run)
against a run from the kept results, with links served slowly by a local server.

    REDIS_URL=redis://127.0.0.1:6379/0 python bench/checklist.py [--articles 12] [--delay 0.2]

Each article links to its own page on a local server that answers after `--delay` seconds and
refuses HEAD (501), so every link costs two requests, as on sites that refuse HEAD. Prints the
time of the edition page's checklist (links and spam score pending, for a worker), of the first
full checklist (what the worker and `digest editions check` run), of the link check alone, of
SpamAssassin alone and of a checklist read from the kept results. Uses the Redis at REDIS_URL (its checklist keys for edition 1 are
replaced).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0000")
os.environ["DIGEST_ENV_FILE"] = ""
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
os.environ["FEED_ALLOW_PRIVATE_ADDRESSES"] = "true"  # the link server is on loopback

from digest.checklist.build import edition_checklist, forget_checks, sample_message  # noqa: E402
from digest.checklist.links import check_links  # noqa: E402
from digest.checklist.spam import spam_report  # noqa: E402
from digest.editions.lookup import get_edition  # noqa: E402
from digest.sample.editions import add_sample_edition  # noqa: E402
from digest.store.db import unit_of_work  # noqa: E402
from digest.store.migrate import upgrade  # noqa: E402


def serve(delay: float) -> ThreadingHTTPServer:
    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def build_edition(articles: int, base: str) -> int:
    upgrade()
    with unit_of_work() as session:
        return add_sample_edition(session, articles, lambda i: f"{base}/item/{i}").id


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=12)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    server = serve(args.delay)
    edition_id = build_edition(args.articles, f"http://127.0.0.1:{server.server_address[1]}")
    forget_checks(edition_id)
    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        _, pending = timed(lambda: edition_checklist(edition, wait=False))  # what the page waits for
        checklist, first = timed(lambda: edition_checklist(edition))
        _, kept = timed(lambda: edition_checklist(edition))
        urls = [f"http://127.0.0.1:{server.server_address[1]}/item/{i}" for i in range(args.articles)]
        _, links = timed(lambda: check_links(urls))
        _, _, raw = sample_message(edition)
        report, spam = timed(lambda: spam_report(raw))
    forget_checks(edition_id)
    print(f"{args.articles} articles, links answering after {args.delay:g} s, HEAD refused (501, then GET)")
    print(f"  page's checklist, pending: {pending * 1000:7.0f} ms  (links and spam score left to a worker)")
    print(f"  checklist, first run:      {first * 1000:7.0f} ms  ({checklist.counts})")
    print(f"  link check alone:          {links * 1000:7.0f} ms  (one at a time: {args.delay * args.articles * 1000:.0f} ms)")
    print(f"  SpamAssassin alone:        {spam * 1000:7.0f} ms  (score {report.score:g})")
    print(f"  checklist, kept results:   {kept * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
