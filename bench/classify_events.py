"""What telling people from machines costs, on PostgreSQL.

    python bench/classify_events.py [--subscribers 100000] [--events 300000] [--check]

Builds an edition sent to every reader (as bench/report.py does), then posts its events as
SendGrid would, 1,000 a request, through the webhook's own functions (kept, then applied by
process_webhook_batch): every reader delivered, about half opening (two in five of the opens
Apple Mail's prefetch, `sg_machine_open`), a fifth clicking, and one reader in twenty behind a
link scanner that follows every link a second after delivery. Prints the time to apply all the
requests and, of it, the time spent classifying (the rules and the one statement reading the
deliveries' earlier events), then times `reclassify_edition` on the whole edition, each kind of
change twice (there and back): under the same rules; with SCANNER_CLICK_SECONDS 5, which changes
the reason of every scanner click but no maker; and with every browser a scanner, which turns
every person's open and click into a machine's and moves their counts (`--check` then recounts
the edition from every event and says whether the counts are the same). Each figure with the
load average. Goals (issue 26): classifying adds under 10% to the apply time; re-classifying an
edition of 100,000 readers takes under 10 s. `--fillfactor 100,80` then rewrites the events'
table with each fillfactor in turn and re-classifies again; each re-classification prints how
many of its row updates were HOT (a new row version on the same page, no index entry written).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from report import _events, sent_edition  # noqa: E402
from send import REDIS_URL, scratch_database  # noqa: E402

PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15"
SCANNER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


class Stopwatch:
    """Wraps functions so that the time spent in them adds up."""

    def __init__(self):
        self.seconds = 0.0

    def wrap(self, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
        return timed


def _sendgrid_events(rows: list[dict], links: list[str], edition_id: int) -> list[dict]:
    """The stored-row shapes of bench/report.py as SendGrid posts them, with the machines added."""
    rng = random.Random(26)
    events, scanned = [], set()
    for number, row in enumerate(rows):
        event = {"email": row["email"], "timestamp": int(row["occurred_at"].timestamp()), "event": row["event"],
                 "sg_event_id": f"bench-{number}", "sg_message_id": f"m{row['delivery_id']}.filter",
                 "edition_id": str(edition_id), "subscriber_id": str(row["subscriber_id"])}
        if row["event"] == "open":
            event.update(useragent=PERSON, sg_machine_open=rng.random() < 0.4, ip="17.58.1.1")
        elif row["event"] == "click":
            event.update(useragent=PERSON, url=row["url"], ip="40.94.1.1")
        elif row["event"] in ("bounce", "deferred") and row.get("reason"):
            event["reason"] = row["reason"]
        events.append(event)
        if row["event"] == "delivered" and rng.random() < 0.05 and row["delivery_id"] not in scanned:
            scanned.add(row["delivery_id"])
            events += [{**event, "event": "click", "sg_event_id": f"bench-{number}-scan-{i}", "url": url,
                        "useragent": SCANNER, "timestamp": event["timestamp"] + 1} for i, url in enumerate(links)]
    return events


def _load() -> str:
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--fillfactor", type=lambda text: [int(n) for n in text.split(",")], default=[],
                        metavar="N[,N...]", help="then, for each N (10 to 100), rewrite the events' table "
                        "with that fillfactor and re-classify again")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile the first re-classification and print its N costliest functions")
    parser.add_argument("--check", action="store_true",
                        help="then recount the edition from every event and compare (the old way: minutes)")
    args = parser.parse_args()
    if any(not 10 <= n <= 100 for n in args.fillfactor):
        parser.error(f"--fillfactor {args.fillfactor}: each must be 10 to 100")
    database_url, drop = scratch_database()
    os.environ.update({"DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000",
                       "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "DELIVERY_BACKEND": "outbox"})
    try:
        from sqlalchemy import func, select, text

        from digest.config import get_settings
        from digest.delivery import events as webhook
        from digest.reports import counting, reclassify
        from digest.reports.counting import VerdictMoves
        from digest.store.db import get_engine, unit_of_work
        from digest.store.models import DeliveryEvent
        from tests.reports.events import counts_and_marks

        edition_id, started, deliveries, links = sent_edition(database_url, args.subscribers)
        posted = _sendgrid_events(_events(deliveries, links, args.events, edition_id, started), links, edition_id)
        classifying = Stopwatch()
        webhook.classify = classifying.wrap(webhook.classify)
        webhook.timings_of = classifying.wrap(webhook.timings_of)
        applying = 0.0
        for begin in range(0, len(posted), 1000):
            body = json.dumps(posted[begin:begin + 1000]).encode()
            with unit_of_work() as session:
                batch_id = webhook.store_webhook_batch(session, body, str(time.time_ns())).batch_id
            started_at = time.perf_counter()
            with unit_of_work() as session:
                webhook.process_webhook_batch(session, batch_id)
            applying += time.perf_counter() - started_at
        with get_engine().connect() as connection:  # as autovacuum would after a load this size
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        with unit_of_work() as session:
            verdicts = dict(session.execute(select(DeliveryEvent.audience, func.count())
                                            .where(DeliveryEvent.audience.is_not(None))
                                            .group_by(DeliveryEvent.audience)).all())
        share = classifying.seconds / (applying - classifying.seconds)
        print(f"{len(deliveries):,} readers, {len(posted):,} events in {len(posted) // 1000 + 1} requests: "
              f"applied in {applying:.1f} s, of which classifying {classifying.seconds:.2f} s "
              f"(adds {share:.1%} to the rest); verdicts {verdicts}; load average {_load()}", flush=True)

        moving = Stopwatch()
        VerdictMoves.move = moving.wrap(VerdictMoves.move)
        VerdictMoves.finish = moving.wrap(VerdictMoves.finish)

        def updates() -> tuple[int, int]:
            """The events' row updates so far, and how many of them were HOT (heap-only: no
            index entry written, the new row version on the same page)."""
            with get_engine().connect() as connection:
                connection.execute(text("SELECT pg_stat_force_next_flush()"))
                return connection.execute(text(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'delivery_events'")).one()

        # Each kind of change twice: there and back. The same rules; a rule that changes every
        # scanner click's reason but no maker; one that makes every person's open and click a
        # machine's (this bench's browsers all name Safari), moving their counts.
        rounds = [None, *args.fillfactor]
        for fillfactor in rounds:
            if fillfactor:
                with get_engine().connect() as connection:  # the events' pages written anew with room
                    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                    connection.execute(text(f"ALTER TABLE delivery_events SET (fillfactor = {int(fillfactor)})"))
                    connection.execute(text("VACUUM FULL ANALYZE delivery_events"))
                print(f"the events' table rewritten with fillfactor {fillfactor}", flush=True)
            for label, change in (("same rules", {}), ("same rules", {}),
                                  ("reasons change", {"SCANNER_CLICK_SECONDS": "5"}), ("reasons change", {}),
                                  ("makers flip", {"SCANNER_USER_AGENTS": '["Safari"]'}), ("makers flip", {})):
                for name in ("SCANNER_CLICK_SECONDS", "SCANNER_USER_AGENTS"):
                    os.environ.pop(name, None)
                os.environ.update(change)
                get_settings.cache_clear()
                moving.seconds = 0.0
                before = updates()
                profiler = cProfile.Profile() if args.profile else None
                started_at = time.perf_counter()
                with unit_of_work() as session:
                    if profiler:
                        profiler.enable()
                    done = reclassify.reclassify_edition(session, edition_id)
                    if profiler:
                        profiler.disable()
                        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
                        args.profile = 0
                total = time.perf_counter() - started_at
                after = updates()
                print(f"reclassify_edition, {label} {change or '(the defaults)'}: {done.classified:,} opens and "
                      f"clicks, {done.changed:,} changed, {done.moved:,} to another maker, in {total:.1f} s (moving "
                      f"counts {moving.seconds:.1f} s of it; {after[0] - before[0]:,} rows updated, "
                      f"{after[1] - before[1]:,} of them HOT); load average {_load()}", flush=True)
        if args.check:
            moved = counts_and_marks(edition_id)
            started_at = time.perf_counter()
            with unit_of_work() as session:
                counting.recount_edition(session, edition_id)
            total = time.perf_counter() - started_at
            same = "the same as" if moved == counts_and_marks(edition_id) else "NOT the same as"
            print(f"the moved counts are {same} a recount from every event ({total:.1f} s); load average {_load()}")
    finally:
        from digest.store.db import dispose_engines

        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
