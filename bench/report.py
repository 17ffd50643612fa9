"""How long an edition's report takes for an edition of many readers and events, on PostgreSQL.

    python bench/report.py [--subscribers 100000] [--events 300000] [--repeat 10]

Builds an edition of 12 articles sent to every reader, stores the events a large send gets
(delivered, deferred, bounces, opens, clicks on the edition's links, spam reports,
unsubscribes) as the webhook stores and counts them, 1,000 a request, then times edition_report() (the page, the CSV and
the CLI all call it), the trends over the latest editions and the sunset view. Prints medians
and the slowest run in milliseconds. Needs PostgreSQL at BENCH_POSTGRES_URL (a scratch database
is created and dropped). Goal: the report under 200 ms at 100,000 readers and 300,000 events.
"""

from __future__ import annotations

import argparse
import os
import random
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


def _events(deliveries: list[tuple[int, int]], links: list[str], total: int, edition_id: int, start) -> list[dict]:
    """`total` events in the proportions of a real send: every reader delivered (a few deferred
    first, 2% bounced instead), about half opening (some twice), a fifth clicking."""
    import datetime as dt

    rng = random.Random(15)
    rows: list[dict] = []

    def add(delivery_id: int, subscriber_id: int, event: str, minutes: float, **extra) -> None:
        number = len(rows)
        rows.append(dict(delivery_id=delivery_id, provider_event_id=f"bench-{number}", event=event,
                         email=f"r{subscriber_id:07d}@readers.example.org", payload={"event": event},
                         occurred_at=start + dt.timedelta(minutes=minutes), received_at=start,
                         edition_id=edition_id, subscriber_id=subscriber_id, **extra))

    while len(rows) < total:
        for delivery_id, subscriber_id in deliveries:
            if len(rows) >= total:
                break
            luck = rng.random()
            if luck < 0.02:
                add(delivery_id, subscriber_id, "bounce", 1, kind="bounce" if luck < 0.01 else "blocked",
                    reason="Invalid Address" if luck < 0.01 else "Reputation")
                continue
            if luck < 0.05:
                add(delivery_id, subscriber_id, "deferred", 0.5, reason="400 try again later")
            add(delivery_id, subscriber_id, "delivered", 1)
            if rng.random() < 0.55:
                add(delivery_id, subscriber_id, "open", rng.expovariate(1 / 600))
                if rng.random() < 0.4:
                    add(delivery_id, subscriber_id, "click", rng.expovariate(1 / 700), url=rng.choice(links))
            if rng.random() < 0.002:
                add(delivery_id, subscriber_id, rng.choice(("spamreport", "unsubscribe")), 60)
    return rows


def sent_edition(database_url: str, subscribers: int):
    """An edition of the bundled-size feed sent to `subscribers` readers, each delivered:
    (edition id, its start, (delivery id, subscriber id) of each reader, its links)."""
    from sqlalchemy import select, update

    from bench.seed import add_feed_of_articles
    from digest.clock import utcnow
    from digest.delivery.plan import release_edition, start_edition
    from digest.editions.approve import approve_edition
    from digest.editions.compose import compose_next_edition
    from digest.sample.readers import add_readers
    from digest.store.db import unit_of_work
    from digest.store.migrate import upgrade
    from digest.store.models import Delivery, DeliveryStatus, Edition, EditionLink, EditionStatus
    from digest.topics.filing import file_every_article
    from tests.delivery.batches import settle

    upgrade(database_url)
    now = utcnow()
    with unit_of_work() as session:
        add_feed_of_articles(session, now, lambda i: {
            "authors": f"Author {i % 5}", "section": ("Analytical Articles", "Field Reports", "News Digest")[i % 3]})
        session.flush()
        file_every_article(session)  # under their sections and authors, as a poll does
        add_readers(session, subscribers, now=now)
    with unit_of_work() as session:
        edition = compose_next_edition(session, utcnow())
        approve_edition(session, edition.id, "publisher@example.org")
        release_edition(session, edition.id)
        edition_id = edition.id
    with unit_of_work() as session:
        start_edition(session, edition_id)
    settle(edition_id, subscribers, DeliveryStatus.DELIVERED, sent_at=now)
    with unit_of_work() as session:
        session.execute(update(Edition).where(Edition.id == edition_id).values(status=EditionStatus.SENT))
        started = session.get(Edition, edition_id).started_at
        deliveries = session.execute(select(Delivery.id, Delivery.subscriber_id)
                                     .where(Delivery.edition_id == edition_id).order_by(Delivery.id)).all()
        links = list(session.scalars(select(EditionLink.url).where(EditionLink.edition_id == edition_id)))
    return edition_id, started, deliveries, links


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its URL is printed)")
    args = parser.parse_args()
    database_url, drop = scratch_database()
    os.environ.update({"DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000",
                       "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "DELIVERY_BACKEND": "outbox"})
    try:
        from sqlalchemy import insert, text

        from digest.config import get_settings
        from digest.reports.counting import count_events
        from digest.reports.facts import edition_report
        from digest.reports.sunset import sunset_readers
        from digest.reports.trends import edition_trends
        from digest.store.db import unit_of_work
        from digest.store.models import DeliveryEvent

        edition_id, started, deliveries, links = sent_edition(database_url, args.subscribers)
        rows = _events(deliveries, links, args.events, edition_id, started)
        loaded = time.perf_counter()
        columns = ("delivery_id", "provider_event_id", "event", "email", "payload", "occurred_at", "received_at",
                   "edition_id", "subscriber_id", "url", "kind", "reason")
        # Stored and counted as the webhook does it, a request of 1,000 events at a time.
        for begin in range(0, len(rows), 1000):
            with unit_of_work() as session:
                batch = rows[begin:begin + 1000]
                session.execute(insert(DeliveryEvent), [{column: row.get(column) for column in columns}
                                                        for row in batch])
                count_events(session, batch)
        # As autovacuum would after a load this size: statistics, and the visibility map that lets
        # the report read the events' index alone.
        from sqlalchemy import create_engine

        maintenance = create_engine(database_url, isolation_level="AUTOCOMMIT")
        with maintenance.connect() as connection:
            connection.execute(text("VACUUM ANALYZE"))
        maintenance.dispose()
        print(f"{len(deliveries):,} readers, {len(rows):,} events stored in {time.perf_counter() - loaded:.1f} s")

        def report() -> None:
            with unit_of_work() as session:
                edition_report(session, edition_id)

        def trends() -> None:
            with unit_of_work() as session:
                edition_trends(session, get_settings().REPORT_TREND_EDITIONS)

        def sunset() -> None:
            with unit_of_work() as session:
                sunset_readers(session, 1)

        for name, function in (("edition report", report), ("trends", trends), ("sunset view (1 edition)", sunset)):
            median, slowest = _timed(function, args.repeat)
            print(f"{name}: median {median:.0f} ms, slowest {slowest:.0f} ms")
    finally:
        from digest.store.db import dispose_engines

        dispose_engines()
        if args.keep:
            print(f"kept: {database_url}")
        else:
            drop()


if __name__ == "__main__":
    main()
