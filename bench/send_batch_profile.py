"""Where one worker's time goes per send batch: send_batch called in-process, batch after batch,
against the SendGrid stand-in answering at once, on PostgreSQL, optionally under cProfile.

    python bench/send_batch_profile.py [--subscribers 20000] [--profile TOP] [--phases] [--statements]

Prints the milliseconds per batch of 1,000: the CPU of the calling thread (the worker's share;
the stand-in answers from other threads) and the wall time; with --profile, the functions that
take the most time (cProfile slows the Python parts several times over); with --phases, the
thread's CPU in each step of a send (claim, read, render, build, request, record, finish check);
with --statements, each SQL statement's wall time. After a first batch (the warm-up), what was
made so far is frozen out of the collector's reach, as in a worker (workers.app.collect_as_a_worker).
Needs PostgreSQL at BENCH_POSTGRES_URL (a scratch database is made and dropped) and a Redis, as bench/send.py:
BENCH_REDIS_URL, else a private redis-server for the run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def time_statements() -> dict[str, float]:
    """Seconds spent in each kind of statement (its first 110 characters) from now on."""
    from collections import defaultdict

    from sqlalchemy import event

    from digest.store.db import get_engine

    spent: dict[str, float] = defaultdict(float)

    @event.listens_for(get_engine(), "before_cursor_execute")
    def started(conn, cursor, statement, parameters, context, executemany):
        conn.info["statement_started"] = time.perf_counter()

    @event.listens_for(get_engine(), "after_cursor_execute")
    def finished(conn, cursor, statement, parameters, context, executemany):
        spent[" ".join(statement.split())[:110]] += time.perf_counter() - conn.info.pop("statement_started")

    return spent


# What a send task does, in order: each timed by the worker thread's CPU with --phases.
PHASES = (("digest.delivery.send", "edition_row"), ("digest.delivery.send", "claim_batch"), ("digest.delivery.send", "waiting_readers"),
          ("digest.delivery.send", "approved_render"), ("digest.delivery.send", "outgoing_batch"),
          ("digest.delivery.sendgrid", "request_body"), ("digest.delivery.sendgrid", "SendGridSender._call"),
          ("digest.delivery.send", "settle_readers"), ("digest.delivery.send", "finish_edition_if_complete"))


def time_phases() -> dict[str, float]:
    """The calling thread's CPU seconds in each of PHASES from now on (nested calls are not
    subtracted from their callers: the phases are siblings in send_batch)."""
    import importlib

    spent: dict[str, float] = {}
    for module_name, attribute in PHASES:
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name, None)
        if original is None:  # a phase of a later version, timed when the code measured has it
            continue

        def timed(*args, __original=original, __key=attribute, **kwargs):
            began = time.thread_time()
            try:
                return __original(*args, **kwargs)
            finally:
                spent[__key] = spent.get(__key, 0.0) + time.thread_time() - began

        setattr(owner, name, timed)
    return spent


def time_collections() -> dict:
    """The calling thread's CPU in Python's collector from now on, and how many times it ran."""
    import gc

    spent = {"seconds": 0.0, "runs": 0, "began": 0.0}

    def timed(phase, info):
        if phase == "start":
            spent["began"] = time.thread_time()
        else:
            spent["seconds"] += time.thread_time() - spent["began"]
            spent["runs"] += 1

    gc.callbacks.append(timed)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="profile the batches and print the TOP functions by their own time")
    parser.add_argument("--phases", action="store_true", help="print the worker's CPU per batch in each phase")
    parser.add_argument("--statements", action="store_true",
                        help="print each SQL statement's wall time per batch (client side: PostgreSQL's work and the round trip)")
    args = parser.parse_args()

    from bench.seed import approved_edition_for
    from bench.send import REDIS_URL  # BENCH_REDIS_URL, else a private redis-server
    from tests.databases import scratch_postgres
    from tests.sendgrid_standin import SendGridStandIn

    database_url, drop = scratch_postgres(ADMIN_URL, "digest_bench")
    standin = SendGridStandIn(latency=0).__enter__()
    os.environ.update({
        "DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000", "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "DELIVERY_BACKEND": "sendgrid", "SENDGRID_API_KEY": standin.api_key, "SENDGRID_API_HOST": standin.url,
        "FROM_EMAIL": "digest@example.org", "PUBLIC_BASE_URL": "https://digest.example.org",
    })
    from digest.clock import utcnow
    from digest.delivery.backends import get_sender
    from digest.delivery.plan import start_edition
    from digest.delivery import send
    from digest.editions.render import prepare_rendering
    from digest.store.db import dispose_engines, unit_of_work
    from digest.store.migrate import upgrade
    from workers.app import collect_as_a_worker, collect_what_the_task_left, pause_collector

    try:
        upgrade(database_url)
        edition_id = approved_edition_for(args.subscribers)
        with unit_of_work() as session:
            batches = start_edition(session, edition_id, utcnow())
        sender = get_sender()
        prepare_rendering()  # what a worker prepares as it starts (workers/app.py)
        send.prepare_statements()
        sender.prepare()
        cold = time.thread_time()
        with unit_of_work() as session:  # warm up: connections, caches
            send.send_batch(session, edition_id, batches[0], sender)
        cold = time.thread_time() - cold
        collect_as_a_worker()  # what was made so far frozen, as in a worker
        timings = time_statements() if args.statements else None
        phases = time_phases() if args.phases else None
        collecting = time_collections() if args.phases else None
        profile = cProfile.Profile()
        # The thread's own CPU: the stand-in answers from threads of this process, not counted.
        cpu, wall = time.thread_time(), time.perf_counter()
        if args.profile:
            profile.enable()
        for batch_id in batches[1:]:
            pause_collector()  # as around each task in a worker
            with unit_of_work(hold_connection=True) as session:  # as a task's run
                send.send_batch(session, edition_id, batch_id, sender)
            collect_what_the_task_left()
        profile.disable()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        sent = len(batches) - 1
        print(f"{sent} batches of up to 1,000: {cpu / sent * 1000:.1f} ms of the worker's CPU, "
              f"{wall / sent * 1000:.1f} ms wall per batch{' (profiled)' if args.profile else ''}; every reader once: "
              f"{len(standin.delivered) == args.subscribers and set(standin.delivered.values()) == {1}}")
        print(f"the process's first batch (after what a worker prepares): {cold * 1000:.1f} ms of CPU")
        if timings is not None:
            for statement, seconds in sorted(timings.items(), key=lambda item: -item[1]):
                print(f"{seconds / sent * 1000:7.2f} ms  {statement}")
        if phases is not None:
            for phase, seconds in phases.items():
                print(f"{seconds / sent * 1000:7.2f} ms  {phase}")
            print(f"{collecting['seconds'] / sent * 1000:7.2f} ms  the collector ({collecting['runs']} runs; "
                  f"within the phases above where it ran in one)")
        if args.profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
    finally:
        standin.__exit__(None, None, None)
        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
