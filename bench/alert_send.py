"""A new article followed by many readers at pace alert, through real workers, Redis and
PostgreSQL, against the SendGrid stand-in: the time from the beat tick that ends its hold to
every reader accepted.

    python bench/alert_send.py [--subscribers 100000] [--worker QUEUES:PROCESSES ...] [--latency 0.05]

Every reader follows the article's tag at pace alert (and one reader in 300 is 'digest only',
so gets nothing). The alert is made by the poll's code and its hold has ended; one
`edition_tick` (what beat sends every minute) releases it (the checklist's fast checks), starts
it, and the workers plan and send it as any edition. Prints the wall time from the tick to all
accepted, whether every reader was sent to once, the CPU used and each worker's peak memory.
PostgreSQL and Redis as bench/send.py (a scratch database; a private redis-server unless
BENCH_REDIS_URL names one it may flush). Goal: under 5 s for 100,000 readers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.processes import children, cpu_seconds, peak_rss_mib, postgres_pids, stop_workers  # noqa: E402
from bench.send import (PROCFILE_WORKERS, REDIS_URL, add_worker_option, scratch_database,  # noqa: E402
                        start_workers)

DIGEST_ONLY_EVERY = 300


def held_alert_for(subscribers: int) -> tuple[int, int]:
    """The readers, their follows of one tag at pace alert and an alert on it whose hold has
    ended: (its id, how many readers should receive it)."""
    from sqlalchemy import select, text

    from bench.alert_seed import add_follows, add_tags, end_hold, make_digest_only, new_alert
    from digest.clock import utcnow
    from digest.sample.readers import add_readers
    from digest.store.db import unit_of_work
    from digest.store.models import Pace, Subscriber

    now = utcnow()
    with unit_of_work() as session:
        add_readers(session, subscribers)
        [tag] = add_tags(session, 1)
        readers = session.scalars(select(Subscriber.id)).all()
        add_follows(session, ((reader, tag, Pace.ALERT.value, now) for reader in readers))
        digest_only = make_digest_only(session, DIGEST_ONLY_EVERY)
    with unit_of_work() as session:
        session.execute(text("ANALYZE"))
    with unit_of_work() as session:
        alert_id = new_alert(session, [tag], utcnow())
        end_hold(session, alert_id, utcnow())
    return alert_id, subscribers - digest_only


def wait_until_sent(alert_id: int, started: float) -> None:
    """Poll cheaply until the alert is sent (its first and last batch are timed by the stand-in)."""
    from sqlalchemy import select

    from digest.store.db import unit_of_work
    from digest.store.models import Edition

    status = "draft"
    while status != "sent":
        time.sleep(0.1)
        with unit_of_work() as session:
            status = session.scalar(select(Edition.status).where(Edition.id == alert_id))
        if time.perf_counter() - started > 600:
            raise SystemExit(f"gave up: alert {status} after 10 minutes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    add_worker_option(parser)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    args.workers = args.workers or PROCFILE_WORKERS

    database_url, drop = scratch_database()
    from tests.sendgrid_standin import SendGridStandIn

    standin = SendGridStandIn(latency=args.latency).__enter__()
    os.environ.update({
        "DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000", "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL, **standin.settings(), "FROM_EMAIL": "digest@example.org",
        "PUBLIC_BASE_URL": "https://digest.example.org"})
    import redis

    from digest.ledger.states import reader_counts
    from digest.store.db import dispose_engines, unit_of_work
    from digest.store.migrate import upgrade

    redis.Redis.from_url(REDIS_URL).flushdb()
    upgrade(database_url)
    started = time.perf_counter()
    alert_id, expected = held_alert_for(args.subscribers)
    print(f"setup: {args.subscribers:,} readers following the tag at pace alert, {expected:,} to receive it, "
          f"in {time.perf_counter() - started:.1f} s")
    workers = start_workers(args.workers, "alertbench")
    try:
        from workers.tasks import edition_tick

        worker_pids = [p for w in workers for p in (w.pid, *children(w.pid))]
        cpu_before = (cpu_seconds(worker_pids), cpu_seconds(postgres_pids()))
        tick = time.perf_counter()
        edition_tick.delay()
        wait_until_sent(alert_id, tick)
        first_accepted, wall = standin.first_accepted_at - tick, standin.last_accepted_at - tick
        workers_cpu, postgres_cpu = (after - before for after, before in
                                     zip((cpu_seconds(worker_pids), cpu_seconds(postgres_pids())), cpu_before))
        once = len(standin.delivered) == expected and set(standin.delivered.values()) == {1}
        print(f"tick -> all accepted: {wall:.2f} s for {expected:,} readers ({expected / wall:,.0f}/s); "
              f"first batch accepted after {first_accepted:.3f} s "
              f"(workers {' '.join(f'{q}:{c}' for q, c in args.workers)}, "
              f"stand-in latency {args.latency * 1000:.0f} ms)")
        print(f"requests: {standin.accepted_requests}; every reader once: {once}")
        with unit_of_work() as session:
            counts = reader_counts(session, alert_id)
        print(f"ledger: {', '.join(f'{status} {count:,}' for status, count in counts.items())}")
        print(f"CPU from tick to sent: workers {workers_cpu:.2f} s, PostgreSQL {postgres_cpu:.2f} s")
        for n, worker in enumerate(workers):
            print(f"worker {n}: peak RSS {peak_rss_mib(worker.pid):.0f} MiB")
    finally:
        stop_workers(workers)
        standin.__exit__(None, None, None)
        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
