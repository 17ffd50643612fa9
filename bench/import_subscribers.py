"""CSV import throughput on SQLite and PostgreSQL: a first import of N new rows, then the same
file again (everything unchanged), then an export.

    python bench/import_subscribers.py [--rows 100000] [--postgres URL | --no-postgres]

Each database is a throw-away one (a temporary SQLite file; a PostgreSQL database created and
dropped on the server named by --postgres).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.databases

os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0000")
os.environ["DIGEST_ENV_FILE"] = ""

from digest.config import get_settings  # noqa: E402
from digest.store.db import dispose_engines, get_engine, unit_of_work  # noqa: E402
from digest.store.migrate import upgrade  # noqa: E402
from digest.subscribers.csv_export import export_subscribers  # noqa: E402
from digest.subscribers.csv_import import import_subscribers  # noqa: E402
from tests.databases import scratch_postgres  # noqa: E402

SECTIONS = ["Analytical Articles", "Feature Articles", "Field Reports", "News Digest"]


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(5)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeffemail,name,sections,confirmed_at,source,organisation,country\r\n")
        for i in range(rows):
            sections = ";".join(rng.sample(SECTIONS, rng.randint(0, 2)))
            confirmed = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T09:30:00Z" if i % 5 else ""
            out.write(f"reader{i}@example{i % 97}.org,Reader {i},{sections},{confirmed},bench,"
                      f"Institute {i % 300},Country {i % 40}\r\n")


def run(url: str, csv_path: Path, rows: int) -> None:
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    dispose_engines()
    upgrade()
    name = get_engine().dialect.name
    for label in ("first import", "same file again"):
        started = time.perf_counter()
        with csv_path.open("rb") as stream, unit_of_work() as session:
            report = import_subscribers(session, stream)
        seconds = time.perf_counter() - started
        print(f"{name:<10} {label:<16} {rows / seconds:>9,.0f} rows/s  ({seconds:.2f} s; "
              f"{report.created} created, {report.unchanged} unchanged, {report.skipped} skipped)")
    started = time.perf_counter()
    with unit_of_work() as session:
        exported = export_subscribers(session, io.StringIO())
    seconds = time.perf_counter() - started
    print(f"{name:<10} {'export':<16} {exported / seconds:>9,.0f} rows/s  ({seconds:.2f} s)")
    dispose_engines()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a server on which a throw-away database may be created")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp())
    csv_path = workdir / "subscribers.csv"
    write_csv(csv_path, args.rows)
    print(f"{args.rows:,} rows, {csv_path.stat().st_size / 1024 / 1024:.1f} MiB of CSV")
    run(f"sqlite:///{workdir}/bench.sqlite3", csv_path, args.rows)
    if args.no_postgres:
        return
    database_url, drop = scratch_postgres(args.postgres, "digest_bench")
    try:
        run(database_url, csv_path, args.rows)
    finally:
        drop()


if __name__ == "__main__":
    main()
