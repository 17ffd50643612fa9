"""Render once and fill per reader, against one Jinja render per reader.

    python bench/render.py [--readers N] [--articles N]

Builds an edition in a throw-away SQLite database and prints the cost of each path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import tracemalloc

os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0000")
os.environ["DIGEST_ENV_FILE"] = ""
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"

from digest.clock import utcnow  # noqa: E402
from digest.editions.compose import compose_next_edition  # noqa: E402
from digest.editions.render import _inliner, edition_context, fill, render_edition  # noqa: E402
from digest.store.db import unit_of_work  # noqa: E402
from digest.store.migrate import upgrade  # noqa: E402
from digest.store.models import Article, Feed  # noqa: E402
from digest.templating import email_environment  # noqa: E402

SECTIONS = ["Analytical Articles", "Feature Articles", "Field Reports", "News Digest"]


def build_edition(articles: int):
    upgrade()
    now = utcnow()
    with unit_of_work() as session:
        feed = Feed(url="http://127.0.0.1/bench.feed")
        session.add(feed)
        session.flush()
        for i in range(articles):
            lead = " ".join(["A sentence of the lead paragraph about regional policy."] * 6)
            session.add(Article(
                feed_id=feed.id, entry_key=f"k{i}", url=f"https://example.org/item/{i}", title=f"Article {i}",
                authors="A. Author", section=SECTIONS[i % 4], summary_html=f"<p>{lead}</p>",
                content_html="", content_hash=str(i), published_at=now - dt.timedelta(days=1 + i % 10)))
    with unit_of_work() as session:
        edition = compose_next_edition(session, now)
        session.refresh(edition)
        for item in edition.items:
            item.article  # noqa: B018 - load before the session closes
        return edition


def per_reader_render(edition, reader: dict) -> None:
    env = email_environment()
    context = edition_context(edition)
    html = env.get_template("edition/body.html").render(context, reader=reader, subject=edition.subject)
    _inliner().inline(html)
    env.get_template("edition/body.txt").render(context, reader=reader, subject=edition.subject)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=20_000)
    parser.add_argument("--articles", type=int, default=12)
    parser.add_argument("--sample", type=int, default=300, help="readers rendered one by one, to time that path")
    args = parser.parse_args()
    edition = build_edition(args.articles)

    started = time.perf_counter()
    rendered = render_edition(edition)
    render_seconds = time.perf_counter() - started

    tracemalloc.start()
    started = time.perf_counter()
    for i in range(args.readers):
        fill(rendered, {"name": f"Reader {i}", "unsubscribe_url": f"https://digest.example.org/u/{i:x}.sig",
                        "preferences_url": f"https://digest.example.org/p/{i:x}.sig"})
    fill_seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    started = time.perf_counter()
    for i in range(args.sample):
        per_reader_render(edition, {"name": f"Reader {i}", "unsubscribe_url": f"https://x/u/{i}",
                                    "preferences_url": f"https://x/p/{i}"})
    per_render = (time.perf_counter() - started) / args.sample

    per_fill = fill_seconds / args.readers
    print(f"edition: {args.articles} articles, HTML {len(rendered.html.encode()) / 1024:.1f} KiB, "
          f"text {len(rendered.text.encode()) / 1024:.1f} KiB")
    print(f"render once:              {render_seconds * 1000:8.2f} ms")
    print(f"fill per reader:          {per_fill * 1e6:8.1f} us  ({args.readers} readers, "
          f"{fill_seconds:.2f} s, peak {peak / 1024 / 1024:.1f} MiB)")
    print(f"render per reader:        {per_render * 1e6:8.1f} us  (sampled over {args.sample})")
    print(f"fill is {per_render / per_fill:.0f}x cheaper than a render per reader")


if __name__ == "__main__":
    main()
