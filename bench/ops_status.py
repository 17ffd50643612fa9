"""How long the operations status takes to gather (ops page, JSON, CLI, each /metrics scrape)
while an edition of many readers is half sent and the last hour holds many task records.

    python bench/ops_status.py [--subscribers 100000] [--repeat 20]

Prints the median and slowest gather_status() and metrics_text() in milliseconds. Needs
PostgreSQL at BENCH_POSTGRES_URL (a scratch database is created and dropped) and Redis at
BENCH_REDIS_URL (flushed), else a private redis-server for the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from send import REDIS_URL, scratch_database  # noqa: E402


def _timed(function, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    database_url, drop = scratch_database()
    os.environ.update({"DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000",
                       "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "DELIVERY_BACKEND": "outbox"})
    try:
        import datetime as dt
        import random

        import redis

        from digest.clock import utcnow
        from digest.delivery.plan import release_edition, start_edition
        from digest.editions.approve import approve_edition
        from digest.editions.compose import compose_next_edition
        from digest.ops.metrics import metrics_text
        from digest.ops.records import record_failure, record_task, record_worker_heartbeat
        from digest.ops.status import gather_status
        from digest.store.db import unit_of_work
        from digest.store.migrate import upgrade
        from digest.sample.readers import add_readers
        from digest.store.models import DeliveryStatus
        from tests.delivery.batches import settle
        from bench.seed import add_feed_of_articles

        redis.Redis.from_url(REDIS_URL).flushdb()
        upgrade(database_url)
        now = utcnow()
        with unit_of_work() as session:
            add_feed_of_articles(session, now)
            add_readers(session, args.subscribers, now=now)
        with unit_of_work() as session:
            edition = compose_next_edition(session, utcnow())
            approve_edition(session, edition.id, "publisher@example.org")
            release_edition(session, edition.id)
        with unit_of_work() as session:
            start_edition(session, edition.id)
        settle(edition.id, args.subscribers // 2, DeliveryStatus.ACCEPTED, sent_at=utcnow() - dt.timedelta(minutes=3))
        # A busy hour: 8 task names, 50 runs a minute each, and a full failure list.
        at = time.time()
        for name in range(8):
            for minute in range(60):
                for _ in range(50):
                    record_task(f"digest.bench.task{name}", "succeeded", random.random(), at=at - minute * 60)
        for number in range(100):
            record_failure("digest.bench.task0", str(number), "ValueError: bench", "Traceback\n" * 40)
        for number in range(4):
            record_worker_heartbeat(f"bench{number}@localhost", ["delivery"], 1, 1000, 1)
        status_median, status_max = _timed(gather_status, args.repeat)
        metrics_median, metrics_max = _timed(metrics_text, args.repeat)
        print(f"{args.subscribers:,} deliveries (half accepted), 8 tasks x 60 minutes x 50 runs, 100 failures")
        print(f"gather_status: median {status_median:.0f} ms, slowest {status_max:.0f} ms")
        print(f"/metrics text: median {metrics_median:.0f} ms, slowest {metrics_max:.0f} ms")
    finally:
        from digest.store.db import dispose_engines

        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
