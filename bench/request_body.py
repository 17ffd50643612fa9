"""The worker's CPU for one SendGrid request of a send batch, without the database or HTTP:
making the readers (their signed links) and writing the mail/send body.

    python bench/request_body.py [--readers 1000] [--repeat 50]

Prints the best of `--repeat` runs in milliseconds for each part. The readers' names are mixed
as real lists are: most plain, some with an apostrophe, an ampersand or non-ASCII, some missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update({"DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000", "DATABASE_URL": "sqlite://",
                   "DELIVERY_BACKEND": "memory", "FROM_EMAIL": "digest@example.org",
                   "PUBLIC_BASE_URL": "https://digest.example.org"})

from digest.delivery.outgoing import outgoing_batch  # noqa: E402
from digest.delivery.sendgrid import request_body  # noqa: E402
from digest.editions.render import TransactionalMail  # noqa: E402
from digest.store.models import Edition  # noqa: E402

NAMES = ("Reader {}", "Reader {}", "Reader {}", "Seán O'Brien {}", "Tom & Jerry {}", None)


class Row(NamedTuple):
    """A batch's reader as send_batch selects it (ledger.writer.Waiting)."""
    id: int | None
    subscriber_id: int
    email: str
    name: str | None
    left: bool = False


def name_of(reader: int) -> str | None:
    name = NAMES[reader % len(NAMES)]
    return None if name is None else name.format(reader)


def best_ms(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.thread_time()
        work()
        times.append(time.thread_time() - started)
    return min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    edition = Edition(id=42, send_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), provider_batch_id=None)
    # About the size of a real edition's parts, with its markers.
    rendered = TransactionalMail(subject="The week, for [%name%]", text="Hello [%name%]. " * 400,
                                 html="<p>Hello [%name:html%].</p>" * 400)
    rows = [Row(None, 5_000 + i, f"reader{i}@example.org", name_of(i)) for i in range(args.readers)]
    # No "For you" placeholder in this render, so no session is needed (bench/follow_variants.py
    # measures the lists).
    def outgoing():
        return outgoing_batch(None, edition, rendered, "all:html", 7, rows)

    batch = outgoing()
    readers = best_ms(outgoing, args.repeat)
    body = best_ms(lambda: request_body(batch), args.repeat)
    both = best_ms(lambda: request_body(outgoing()), args.repeat)
    print(f"{args.readers} readers: {readers:.2f} ms making the readers, {body:.2f} ms writing the body "
          f"({len(request_body(batch)) / 1e6:.2f} MB), {both:.2f} ms both (best of {args.repeat}, thread CPU)")


if __name__ == "__main__":
    main()
