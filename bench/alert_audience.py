"""Finding an alert's audience among a million readers, on PostgreSQL.

    python bench/alert_audience.py [--subscribers 1000000] [--tags 50] [--alert-share 0.3]
                                   [--article-tags 1,2] [--lanes 1] [--explain]

Seeds confirmed readers (COPY), tag topics, and 1 to 6 follows a reader drawn by Zipf's law over
the tags, a share of them at pace alert, one reader in 300 'digest only'. One new article filed
under two tags (by rank: 1 and 2 are the most followed) makes an alert by the poll's code, which
is released and opened. Then, in this process, one slice after the other: the bare audience
query (`alert_readers`) of every slice, and the planning of every slice (`plan_slice`, which
writes the batches); each with its time and statements. A second alert on the same tags, planned
after the first, shows the daily cap reading the first one's batches; a third, every reader held
back by the cap (ALERT_MAX_PER_DAY 2) and owed its article; the next day's first alert, those
articles carried to them. Goal: under 1 s.
PostgreSQL at BENCH_POSTGRES_URL (a scratch database is made and dropped), as bench/plan.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def backend_cpu() -> float:
    """CPU seconds of the PostgreSQL server process behind this process's pooled connection."""
    from sqlalchemy import text

    from bench.processes import cpu_seconds
    from digest.store.db import unit_of_work

    with unit_of_work() as session:
        return cpu_seconds([session.scalar(text("SELECT pg_backend_pid()"))])


def cpu_now() -> tuple[float, float]:
    return time.process_time(), backend_cpu()


def cpu_since(before: tuple[float, float]) -> str:
    own, server = (after - then for after, then in zip(cpu_now(), before))
    return f"CPU: this process {own:.2f} s, its PostgreSQL process {server:.2f} s"


@contextmanager
def counted():
    """The statements run inside the block (a list that fills as they run)."""
    from sqlalchemy import event

    from digest.store.db import get_engine

    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)


def seed(subscribers: int, tags: int, alert_share: float) -> list[int]:
    """The readers, tags and follows; the tag ids in rank order."""
    from sqlalchemy import func, select, text

    from bench.alert_seed import add_follows, add_tags, make_digest_only, reader_ids, zipf_follows
    from digest.clock import utcnow
    from digest.sample.readers import add_readers
    from digest.store.db import unit_of_work
    from digest.store.models import Follow, Pace, Subscriber

    started = time.perf_counter()
    now = utcnow()
    with unit_of_work() as session:
        add_readers(session, subscribers)
        tag_ids = add_tags(session, tags)
        follows = add_follows(session, zipf_follows(reader_ids(session), tag_ids, alert_share, now))
        digest_only = make_digest_only(session, 300)
    with unit_of_work() as session:
        session.execute(text("ANALYZE"))
    with unit_of_work() as session:
        alert_follows = session.scalar(select(func.count()).select_from(Follow).where(Follow.pace == Pace.ALERT))
        alert_readers = session.scalar(select(func.count(func.distinct(Follow.subscriber_id)))
                                       .where(Follow.pace == Pace.ALERT))
        readers = session.scalar(select(func.count()).select_from(Subscriber))
    print(f"seeded in {time.perf_counter() - started:.1f} s: {readers:,} readers, {tags} tags, {follows:,} follows "
          f"({follows / readers:.2f} a reader); at pace alert {alert_follows:,} follows "
          f"({alert_follows / follows:.1%}), {alert_readers:,} readers with one at least ({alert_readers / readers:.1%}); "
          f"{digest_only:,} digest only")
    return tag_ids


def opened_alert(tags: list[int], name: str) -> tuple[int, list[int]]:
    """A new article under `tags` gathered into an alert, released and opened: (id, slices)."""
    from bench.alert_seed import count_followers, new_alert, release
    from digest.clock import utcnow
    from digest.delivery.plan import open_edition
    from digest.store.db import unit_of_work
    from digest.store.models import Pace

    with unit_of_work() as session:
        alert_id = new_alert(session, tags, utcnow(), name)
        followers = count_followers(session, tags, Pace.ALERT)
    with unit_of_work() as session:
        release(session, alert_id, utcnow())
    with unit_of_work() as session:
        slices = open_edition(session, alert_id)
    print(f"alert {alert_id} ({name}): tags {tags}, {followers:,} readers follow one of them at pace alert, "
          f"{len(slices)} slices")
    return alert_id, slices


def a_day_passes() -> None:
    """What happened so far happened a day earlier: the alerts began, readers were held back."""
    from sqlalchemy import func, select, text, update

    from digest.store.db import unit_of_work
    from digest.store.models import AlertCarry, Edition

    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.started_at.is_not(None))
                        .values(started_at=Edition.started_at - text("interval '1 day'")))
        session.execute(update(AlertCarry).values(created_at=AlertCarry.created_at - text("interval '1 day'")))
        owed = session.scalar(select(func.count()).select_from(AlertCarry))
    print(f"a day passes: {owed:,} readers owed an article")


def audience_query(alert_id: int, slices: list[int]) -> None:
    """The bare audience query (`alert_readers`: readers, their articles, the daily cap) of every
    slice, in one transaction, nothing written."""
    from sqlalchemy import select

    from digest.clock import utcnow
    from digest.delivery.alert_audience import alert_readers
    from digest.store.db import unit_of_work
    from digest.store.models import Edition, PlanSlice

    found = 0
    cpu = cpu_now()
    with unit_of_work() as session:
        edition = session.get(Edition, alert_id)
        _ = edition.items
        bounds = session.execute(select(PlanSlice.first_subscriber_id, PlanSlice.last_subscriber_id)
                                 .where(PlanSlice.edition_id == alert_id).order_by(PlanSlice.number)).all()
        now = utcnow()
        with counted() as statements:
            started = time.perf_counter()
            for first, last in bounds:
                found += sum(map(len, alert_readers(session, edition, (first, last), now).values()))
            took = time.perf_counter() - started
        session.rollback()
    print(f"  audience query, {len(slices)} slices: {found:,} readers in {took:.3f} s, "
          f"{len(statements)} statements ({len(statements) / len(slices):.0f} a slice); {cpu_since(cpu)}")


def plan_lane(alert_id: int, slices: list[int]) -> tuple[int, str]:
    """These slices planned one after the other, as a lane of the workers' tasks does: how many
    statements, and the CPU used."""
    from digest.delivery.plan import plan_slice
    from digest.store.db import dispose_engines, unit_of_work

    dispose_engines()  # a forked process opens its own connections
    cpu = cpu_now()
    with counted() as statements:
        for number in slices:
            with unit_of_work() as session:
                plan_slice(session, alert_id, number)
    return len(statements), cpu_since(cpu)


def planning(alert_id: int, slices: list[int], lanes: int) -> None:
    """Every slice planned: in this process with one lane, else by forked processes (the
    workers plan PLANNING_LANES slices at a time)."""
    import multiprocessing

    from sqlalchemy import func, select

    from digest.store.db import dispose_engines, unit_of_work
    from digest.store.models import SendBatch

    started = time.perf_counter()
    if lanes == 1:
        results = [plan_lane(alert_id, slices)]
    else:
        dispose_engines()
        with multiprocessing.get_context("fork").Pool(lanes) as pool:
            results = pool.starmap(plan_lane, [(alert_id, slices[lane::lanes]) for lane in range(lanes)])
    took = time.perf_counter() - started
    statements = sum(count for count, _ in results)
    used = "; ".join(cpu for _, cpu in results)
    with unit_of_work() as session:
        readers, batches = session.execute(select(func.coalesce(func.sum(SendBatch.size), 0), func.count())
                                           .where(SendBatch.edition_id == alert_id)).one()
    print(f"  planning by {lanes} lane(s), {len(slices)} slices: {readers:,} readers in {batches} batches, {took:.3f} s, "
          f"{statements} statements ({statements / len(slices):.0f} a slice); {used}")


def explain(alert_id: int, slice_number: int) -> None:
    """EXPLAIN ANALYZE of the audience statement of one slice."""
    from sqlalchemy import event, select

    from digest.clock import utcnow
    from digest.delivery.alert_audience import alert_readers
    from digest.store.db import get_engine, unit_of_work
    from digest.store.models import Edition, PlanSlice

    captured: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "FROM follows" in statement:
            captured.append((statement, parameters))

    with unit_of_work() as session:
        edition = session.get(Edition, alert_id)
        bounds = session.execute(select(PlanSlice.first_subscriber_id, PlanSlice.last_subscriber_id)
                                 .where(PlanSlice.edition_id == alert_id, PlanSlice.number == slice_number)).one()
        event.listen(get_engine(), "before_cursor_execute", keep)
        try:
            alert_readers(session, edition, tuple(bounds), utcnow())
        finally:
            event.remove(get_engine(), "before_cursor_execute", keep)
        [(sql, parameters)] = captured
        rows = session.connection().exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, parameters).all()
        print(f"  the audience of slice {slice_number}:")
        print("\n".join("    " + row[0] for row in rows))
        session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--alert-share", type=float, default=0.3)
    parser.add_argument("--article-tags", default="1,2", help="the article's tags by rank (1 most followed)")
    parser.add_argument("--lanes", type=int, default=1, help="plan in this many processes at once (workers: 2)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the audience of the middle slice")
    args = parser.parse_args()

    from tests.databases import scratch_postgres

    database_url, drop = scratch_postgres(ADMIN_URL, "digest_bench")
    os.environ.update({"DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000",
                       "DATABASE_URL": database_url, "FROM_EMAIL": "digest@example.org",
                       "PUBLIC_BASE_URL": "https://digest.example.org"})
    from digest.store.db import dispose_engines
    from digest.store.migrate import upgrade

    try:
        upgrade(database_url)
        tag_ids = seed(args.subscribers, args.tags, args.alert_share)
        tags = [tag_ids[int(rank) - 1] for rank in args.article_tags.split(",")]
        # The second's daily cap counts the first's batches; the third's holds every reader back
        # (their article owed to them); the next day's first carries it to them.
        for name in ("first", "second", "third", "next-day"):
            if name == "next-day":
                a_day_passes()
            alert_id, slices = opened_alert(tags, f"{name}-alert")
            audience_query(alert_id, slices)
            planning(alert_id, slices, args.lanes)
            if args.explain:
                explain(alert_id, slices[len(slices) // 2])
    finally:
        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
