"""Send one edition to many readers through real workers, Redis and PostgreSQL, against the
SendGrid stand-in answering after a fixed latency.

    python bench/send.py [--subscribers 100000] [--worker QUEUES:PROCESSES ...] [--latency 0.05]

Prints the wall time from "due" to "all accepted", recipients per second, requests made, the CPU
of the workers, PostgreSQL and the stand-in in all and per reader, and the peak resident memory of
each worker process (and its pool children). Needs PostgreSQL at
BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test; a scratch database
is created and dropped) and a Redis it may flush: BENCH_REDIS_URL, else a private redis-server started
on a free port for the run (a shared Redis is never flushed). The workers log to var/bench/ at
BENCH_WORKER_LOGLEVEL (WARNING; INFO adds each task's run time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.processes import children, cpu_seconds, peak_rss_mib, postgres_pids, stop_workers  # noqa: E402
from bench.seed import approved_edition_for  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def private_redis() -> str:
    """A redis-server of the benchmark's own, keeping nothing on disk, stopped when it ends."""
    import atexit
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    atexit.register(server.terminate)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0"


REDIS_URL = os.environ.get("BENCH_REDIS_URL") or private_redis()


def scratch_database() -> tuple[str, callable]:
    from tests.databases import scratch_postgres

    return scratch_postgres(ADMIN_URL, "digest_bench")


def start_samplers(workers: list[subprocess.Popen], directory: Path) -> list[tuple[subprocess.Popen, Path]]:
    """py-spy on each worker and its pool processes (sampling costs the workers nothing: it reads
    their memory from outside, though it takes some of the machine's CPU)."""
    directory.mkdir(parents=True, exist_ok=True)
    samplers = []
    for n, worker in enumerate(workers):
        out = directory / f"worker{n}.txt"
        samplers.append((subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--subprocesses", "--nonblocking", "--gil", "--rate", "250", "--format", "raw",
             "--output", str(out), "--pid", str(worker.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out))
    time.sleep(1)  # py-spy attaches before the send starts
    return samplers


def stop_samplers(samplers: list[tuple[subprocess.Popen, Path]]) -> list[Path]:
    import signal

    for sampler, _ in samplers:
        sampler.send_signal(signal.SIGINT)
    for sampler, _ in samplers:
        sampler.wait(timeout=60)
    return [out for _, out in samplers if out.exists()]


# The Procfile's workers during a send: `worker` plans (editions; feeds and webhooks are idle
# here) and `delivery` sends. tests/test_deploy_files.py keeps the two in step.
PROCFILE_WORKERS = [("editions", 2), ("delivery", 6)]


def start_workers(lineup: list[tuple[str, int]], name: str = "bench") -> list[subprocess.Popen]:
    """A Celery worker for each (queues, processes) of `lineup`, logging to var/bench/, once each
    answers a ping."""
    logs = REPO / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queues,
         "-c", str(processes), "-n", f"{name}{n}-{uuid.uuid4().hex[:6]}@localhost",
         "--without-gossip", "--without-mingle", "--loglevel", os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING")],
        cwd=REPO, env=dict(os.environ), stdout=(logs / f"{name}-worker{n}.log").open("wb"), stderr=subprocess.STDOUT)
        for n, (queues, processes) in enumerate(lineup)]
    from workers.app import app

    deadline = time.time() + 60
    while len(app.control.ping(timeout=0.5) or []) < len(workers) and time.time() < deadline:
        time.sleep(0.2)
    return workers


def add_worker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--worker", dest="workers", metavar="QUEUES:PROCESSES", type=worker_spec, action="append",
                        help="a worker to start, repeated for each (default: the Procfile's worker and delivery, "
                             f"{' '.join(':'.join(map(str, w)) for w in PROCFILE_WORKERS)}; earlier rounds of "
                             "the send benchmarks ran editions,delivery:2 twice)")


def worker_spec(text: str) -> tuple[str, int]:
    queues, _, processes = text.rpartition(":")
    if not queues or not processes.isdigit() or int(processes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected QUEUES:PROCESSES, as editions,delivery:2")
    return queues, int(processes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    add_worker_option(parser)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--py-spy", metavar="DIR", type=Path,
                        help="sample every worker process with py-spy from due to sent; write collapsed "
                             "stacks to DIR and print the functions that cost the most (bench/stacks.py)")
    args = parser.parse_args()
    args.workers = args.workers or PROCFILE_WORKERS

    database_url, drop = scratch_database()
    from tests.sendgrid_standin import SendGridStandIn

    standin = SendGridStandIn(latency=args.latency).__enter__()
    env = {
        "DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000", "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL, **standin.settings(), "FROM_EMAIL": "digest@example.org",
        "PUBLIC_BASE_URL": "https://digest.example.org",
    }
    os.environ.update(env)
    import redis
    from sqlalchemy import exists, select, update

    from digest.clock import utcnow
    from digest.store.db import unit_of_work
    from digest.store.migrate import upgrade
    from digest.ledger.states import reader_counts
    from digest.store.models import Edition, PlanSlice

    redis.Redis.from_url(REDIS_URL).flushdb()
    upgrade(database_url)
    started = time.perf_counter()
    edition_id = approved_edition_for(args.subscribers)
    print(f"setup: {args.subscribers:,} subscribers in {time.perf_counter() - started:.1f} s")

    workers = start_workers(args.workers)
    try:
        from workers.tasks import start_edition

        worker_pids = [p for w in workers for p in (w.pid, *children(w.pid))]
        samplers = start_samplers(workers, args.py_spy) if args.py_spy else []
        cpu_before = (cpu_seconds(worker_pids), cpu_seconds(postgres_pids()), time.process_time())
        watching_before = time.thread_time()  # this thread: the polling below, not the stand-in's threads
        due = time.perf_counter()
        with unit_of_work() as session:
            session.execute(update(Edition).where(Edition.id == edition_id).values(send_at=utcnow()))
        start_edition.delay(edition_id)
        # Poll cheaply (the edition's status, whether a slice is still unplanned: index lookups) so
        # that watching does not slow the send. The first and last batch are timed by the stand-in,
        # to the moment of its answer; polling would add up to its own period.
        planned_at = None
        status = "approved"
        while status != "sent":
            time.sleep(0.1)
            with unit_of_work() as session:
                status = session.scalar(select(Edition.status).where(Edition.id == edition_id))
                if planned_at is None and status != "approved" and not session.scalar(select(exists().where(
                        PlanSlice.edition_id == edition_id, PlanSlice.planned_at.is_(None)))):
                    planned_at = time.perf_counter() - due
            if time.perf_counter() - due > 1800:
                raise SystemExit(f"gave up: edition {status} after 30 minutes")
        wall = time.perf_counter() - due  # the CPU's window: until the edition was seen sent
        accepted = standin.last_accepted_at - due
        stacks = stop_samplers(samplers)
        cpu_after = (cpu_seconds(worker_pids), cpu_seconds(postgres_pids()), time.process_time())
        workers_cpu, postgres_cpu, own_cpu = (after - before for after, before in zip(cpu_after, cpu_before))
        watching_cpu = time.thread_time() - watching_before
        print(f"planned (every slice committed) after {planned_at:.2f} s; "
              f"first batch accepted after {standin.first_accepted_at - due:.3f} s")
        print(f"due -> all accepted: {accepted:.2f} s for {args.subscribers:,} recipients "
              f"(workers {' '.join(f'{q}:{c}' for q, c in args.workers)}, "
              f"stand-in latency {args.latency * 1000:.0f} ms); "
              f"the edition seen sent after {wall:.2f} s")
        print(f"recipients/s: {args.subscribers / accepted:,.0f}")
        print(f"requests: {standin.accepted_requests}; every recipient once: "
              f"{len(standin.delivered) == args.subscribers and set(standin.delivered.values()) == {1}}")
        with unit_of_work() as session:
            counts = reader_counts(session, edition_id)
        print(f"ledger: {', '.join(f'{status} {count:,}' for status, count in counts.items())}")
        print(f"CPU from due to sent: workers {workers_cpu:.2f} s, PostgreSQL {postgres_cpu:.2f} s, "
              f"stand-in {own_cpu - watching_cpu:.2f} s, watching {watching_cpu:.2f} s "
              f"({(workers_cpu + postgres_cpu + own_cpu) / wall:.2f} "
              f"of {os.cpu_count()} cores)")
        per_reader = 1e6 / args.subscribers
        print(f"CPU per reader: workers {workers_cpu * per_reader:.1f} us, PostgreSQL "
              f"{postgres_cpu * per_reader:.1f} us, stand-in {(own_cpu - watching_cpu) * per_reader:.1f} us")
        for n, worker in enumerate(workers):
            print(f"worker {n}: peak RSS {peak_rss_mib(worker.pid):.0f} MiB")
        if stacks:
            from bench.stacks import print_top

            print_top(stacks)
    finally:
        stop_workers(workers)
        standin.__exit__(None, None, None)
        from digest.store.db import dispose_engines

        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
