"""Render once per variant and fill per reader, against one Jinja render per reader.

    python bench/render.py [--readers 100000] [--articles 12] [--sample 500]

An edition of `--articles` articles over four sections goes to `--readers` readers spread over
eight section variants. Prints the variant renders, the fill cost per reader, and the cost of
rendering per reader instead (timed on `--sample` readers, extrapolated to all of them).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0000")
os.environ["DIGEST_ENV_FILE"] = ""
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"

from digest.editions.placeholders import markers  # noqa: E402
from digest.editions.render import Variant, _inliner, edition_context, fill, render_edition  # noqa: E402
from digest.sample.editions import add_sample_edition  # noqa: E402
from digest.store.db import unit_of_work  # noqa: E402
from digest.store.migrate import upgrade  # noqa: E402
from digest.editions.templates import email_environment  # noqa: E402

SECTIONS = ("Analytical Articles", "Feature Articles", "Field Reports", "News Digest")
VARIANTS = [Variant(), *(Variant((s,)) for s in SECTIONS),
            Variant(SECTIONS[:2]), Variant(SECTIONS[2:]), Variant((SECTIONS[0], SECTIONS[3]))]


def build_edition(articles: int):
    upgrade()
    with unit_of_work() as session:
        return add_sample_edition(session, articles, lambda i: f"https://example.org/item/{i}", SECTIONS)


def reader(i: int) -> dict[str, str]:
    return {"name": f"Reader {i}", "unsubscribe_url": f"https://digest.example.org/u/{i:x}.c2lnbmF0dXJl",
            "preferences_url": f"https://digest.example.org/p/{i:x}.c2lnbmF0dXJl"}


def render_per_reader(edition, variant: Variant, values: dict[str, str]) -> None:
    # What rendering per reader would cost: the templates with the reader's values, CSS inlined.
    env = email_environment()
    context = edition_context(edition, variant)
    filled_html = {k: values[k] for k in markers("html")}
    html = env.get_template("edition/body.html").render(context, reader=filled_html, subject=edition.subject)
    _inliner().inline(html)
    env.get_template("edition/body.txt").render(context, reader=filled_html, subject=edition.subject)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=12)
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    edition = build_edition(args.articles)
    values = [reader(i) for i in range(args.readers)]

    started = time.perf_counter()
    rendered = [render_edition(edition, variant) for variant in VARIANTS]
    render_seconds = time.perf_counter() - started

    started = time.perf_counter()
    html_bytes = 0
    for i, reader_values in enumerate(values):
        html_bytes += len(fill(rendered[i % len(VARIANTS)], reader_values).html)
    fill_seconds = time.perf_counter() - started

    started = time.perf_counter()
    for i in range(args.sample):
        render_per_reader(edition, VARIANTS[i % len(VARIANTS)], values[i])
    per_render = (time.perf_counter() - started) / args.sample

    per_fill = fill_seconds / args.readers
    once_total = render_seconds + fill_seconds
    print(f"edition: {args.articles} articles, {len(VARIANTS)} section variants, {args.readers:,} readers; "
          f"full variant HTML {len(rendered[0].html.encode()) / 1024:.1f} KiB")
    print(f"render once per variant : {len(VARIANTS)} renders in {render_seconds * 1000:.1f} ms")
    print(f"fill per reader         : {per_fill * 1e6:.2f} us  ({fill_seconds:.2f} s for all readers)")
    print(f"total, render once      : {once_total:.2f} s")
    print(f"render per reader       : {per_render * 1e6:.0f} us  (timed on {args.sample}); "
          f"{per_render * args.readers:.0f} s for all readers")
    print(f"fill is {per_render / per_fill:.0f}x cheaper per reader; the edition is "
          f"{per_render * args.readers / once_total:.0f}x faster to prepare")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
