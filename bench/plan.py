"""Planning alone: an edition's slices planned by worker-like processes, nothing sent.

    python bench/plan.py [--subscribers 1000000] [--lanes 2]

Prints the time from "due" until every slice is committed when planning has the machine to
itself (in bench/send.py it shares it with the sends), and the CPU of the planning processes
and of their PostgreSQL server processes (writing the delivery rows is most of it).
PostgreSQL at BENCH_POSTGRES_URL (a scratch database is made and dropped), as bench/send.py.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def plan_lane(numbers: list[int], edition_id: int) -> tuple[float, float]:
    """Plan these slices one after the other, as one lane of workers does; returns the CPU
    seconds of this process and of its PostgreSQL server process."""
    from sqlalchemy import text

    from bench.processes import cpu_seconds
    from digest.delivery.plan import plan_slice
    from digest.store.db import dispose_engines, unit_of_work

    dispose_engines()  # a forked process opens its own connections
    gc.freeze()  # as a worker process does after start-up (workers/app.py)
    started = time.process_time()
    for number in numbers:
        with unit_of_work() as session:
            plan_slice(session, edition_id, number)
    with unit_of_work() as session:  # the server process of this lane's connection, before it ends
        server = session.scalar(text("SELECT pg_backend_pid()"))
        return time.process_time() - started, cpu_seconds([server])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--lanes", type=int, default=2)
    args = parser.parse_args()

    from bench.seed import approved_edition_for
    from tests.databases import scratch_postgres

    database_url, drop = scratch_postgres(ADMIN_URL, "digest_bench")
    os.environ.update({"DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000",
                       "DATABASE_URL": database_url, "FROM_EMAIL": "digest@example.org"})
    from digest.delivery.plan import open_edition, release_edition
    from digest.store.db import dispose_engines, unit_of_work
    from digest.store.migrate import upgrade
    from digest.store.models import SendBatch
    from sqlalchemy import func, select

    try:
        upgrade(database_url)
        edition_id = approved_edition_for(args.subscribers)
        due = time.perf_counter()
        with unit_of_work() as session:
            release_edition(session, edition_id)
            slices = open_edition(session, edition_id)
        dispose_engines()
        lanes = [slices[lane::args.lanes] for lane in range(args.lanes)]
        with multiprocessing.get_context("fork").Pool(args.lanes) as pool:
            cpu = pool.starmap(plan_lane, [(lane, edition_id) for lane in lanes])
        wall = time.perf_counter() - due
        lanes_cpu, postgres_cpu = (sum(part) for part in zip(*cpu))
        with unit_of_work() as session:
            rows = session.scalar(select(func.sum(SendBatch.size)).where(SendBatch.edition_id == edition_id))
        print(f"planned {rows:,} readers in {len(slices)} slices by {args.lanes} lanes: {wall:.2f} s "
              f"({rows / wall:,.0f}/s); CPU: the lanes {lanes_cpu:.2f} s, their PostgreSQL processes "
              f"{postgres_cpu:.2f} s")
    finally:
        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
