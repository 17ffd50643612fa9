"""What readers' follows cost a digest against today's edition: variants, planning, and sending.

    python bench/follow_variants.py [--subscribers 100000] [--tags 50] [--zipf 1.0] [--text-share 0.15]

An edition of 12 articles, each filed under 1-3 of `--tags` tags; every reader follows 1-6 tags,
drawn from a Zipf distribution (the first tags are the popular countries and themes), and
`--text-share` of them read text only. Plans every slice on PostgreSQL (a scratch database at
BENCH_POSTGRES_URL, as bench/plan.py) with the follows and without them (today's edition), then
prints the distinct variants, the send batches (one provider request each), the planning times,
and what making every batch's SendGrid request costs: each reader's "For you" list (read per
batch, rendered once per distinct list in a batch) and the request bytes.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def zipf_pick(rng: random.Random, weights: list[float], count: int) -> list[int]:
    """`count` distinct ranks, each drawn with probability proportional to its weight."""
    picked: set[int] = set()
    while len(picked) < count:
        picked.update(rng.choices(range(len(weights)), weights, k=count - len(picked)))
    return sorted(picked)


def add_tags_and_follows(edition_id: int, tags: int, exponent: float, text_share: float) -> int:
    """File the edition's articles under tags and give every reader their follows; returns the
    number of follows."""
    from sqlalchemy import insert, select, text, update

    from digest.store.db import unit_of_work
    from digest.store.models import (ArticleTopic, EditionItem, Follow, Pace, Subscriber, SubscriberFormat, Topic,
                                     TopicKind)

    rng = random.Random(25)
    weights = [1 / rank ** exponent for rank in range(1, tags + 1)]
    with unit_of_work() as session:
        topic_ids = list(session.scalars(insert(Topic).returning(Topic.id, sort_by_parameter_order=True), [
            dict(kind=TopicKind.TAG, key=f"tag {n}", name=f"Tag {n}") for n in range(tags)]))
        articles = session.scalars(select(EditionItem.article_id).where(EditionItem.edition_id == edition_id))
        session.execute(insert(ArticleTopic), [dict(article_id=article_id, topic_id=topic_ids[rank])
                                               for article_id in articles
                                               for rank in zipf_pick(rng, weights, rng.randint(1, 3))])
        readers = list(session.scalars(select(Subscriber.id)))
        follows = [dict(subscriber_id=reader, topic_id=topic_ids[rank], pace=Pace.DIGEST)
                   for reader in readers for rank in zipf_pick(rng, weights, rng.randint(1, 6))]
        for start in range(0, len(follows), 50_000):
            session.execute(insert(Follow), follows[start:start + 50_000])
        text_readers = [reader for reader in readers if rng.random() < text_share]
        session.execute(update(Subscriber).where(Subscriber.id.in_(text_readers)).values(format=SubscriberFormat.TEXT))
    with unit_of_work() as session:
        session.execute(text("ANALYZE"))
    return len(follows)


def plan_all(edition_id: int) -> tuple[float, dict[str, int], tuple[float, int, int]]:
    """Start the edition and plan every slice in one process; the seconds it took, the readers
    per variant and what making the requests cost (sending_cost). Leaves the edition approved
    again, with only its approved render, for a rerun."""
    from sqlalchemy import delete, func, select, update

    from digest.delivery.plan import open_edition, plan_slice, release_edition
    from digest.editions.render import DEFAULT_VARIANT
    from digest.store.db import unit_of_work
    from digest.store.models import Edition, EditionRender, EditionStatus, PlanSlice, SendBatch

    started = time.perf_counter()
    with unit_of_work() as session:
        release_edition(session, edition_id)
        slices = open_edition(session, edition_id)
    for number in slices:
        with unit_of_work() as session:
            plan_slice(session, edition_id, number)
    seconds = time.perf_counter() - started
    with unit_of_work() as session:
        readers = dict(session.execute(select(SendBatch.variant, func.sum(SendBatch.size))
                                       .where(SendBatch.edition_id == edition_id).group_by(SendBatch.variant)).all())
        batches = session.scalar(select(func.count()).where(SendBatch.edition_id == edition_id))
        sending = sending_cost(session, edition_id)
        for table in (SendBatch, PlanSlice):
            session.execute(delete(table).where(table.edition_id == edition_id))
        session.execute(delete(EditionRender).where(EditionRender.edition_id == edition_id,
                                                    EditionRender.variant != DEFAULT_VARIANT.key))
        session.execute(update(Edition).where(Edition.id == edition_id).values(status=EditionStatus.APPROVED))
    return seconds, {"batches": batches, **{key: int(count) for key, count in readers.items()}}, sending


def sending_cost(session, edition_id: int) -> tuple[float, int, int]:
    """Every planned batch's outgoing message and SendGrid request body made as a worker makes
    them: the CPU seconds, the request bytes, and the readers given a "For you" list."""
    from sqlalchemy import select

    from digest.delivery.outgoing import outgoing_batch
    from digest.delivery.sendgrid import request_body
    from digest.editions.lookup import get_edition
    from digest.editions.render import RenderedEdition
    from digest.ledger.writer import Waiting
    from digest.store.models import EditionRender, SendBatch, Subscriber

    edition = get_edition(session, edition_id, items=False)
    renders = {row.variant: RenderedEdition(row.subject, row.html, row.text) for row in session.scalars(
        select(EditionRender).where(EditionRender.edition_id == edition_id))}
    seconds, size, listed = 0.0, 0, 0
    for batch_id, variant, members in session.execute(select(SendBatch.id, SendBatch.variant, SendBatch.members)
                                                      .where(SendBatch.edition_id == edition_id)).all():
        readers = [Waiting(None, *row) for row in session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.name).where(Subscriber.id.in_(members))
            .order_by(Subscriber.id)).all()]
        started = time.process_time()
        outgoing = outgoing_batch(session, edition, renders[variant], variant, batch_id, readers)
        body = request_body(outgoing)
        seconds += time.process_time() - started
        size += len(body)
        listed += sum(1 for reader in outgoing.recipients if reader.for_you_text)
    return seconds, size, listed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--zipf", type=float, default=1.0)
    parser.add_argument("--text-share", type=float, default=0.15)
    args = parser.parse_args()

    from tests.databases import scratch_postgres

    database_url, drop = scratch_postgres(ADMIN_URL, "digest_bench")
    os.environ.update({"DIGEST_ENV_FILE": "", "SECRET_KEY": "benchmark-secret-key-000",
                       "DATABASE_URL": database_url, "FROM_EMAIL": "digest@example.org"})
    from bench.seed import approved_edition_for
    from digest.store.db import dispose_engines, unit_of_work
    from digest.store.migrate import upgrade
    from digest.store.models import Follow
    from sqlalchemy import delete

    try:
        upgrade(database_url)
        edition_id = approved_edition_for(args.subscribers)
        follows = add_tags_and_follows(edition_id, args.tags, args.zipf, args.text_share)
        followed_seconds, followed, followed_sending = plan_all(edition_id)
        with unit_of_work() as session:
            session.execute(delete(Follow))
        today_seconds, today, today_sending = plan_all(edition_id)
        print(f"{args.subscribers:,} readers, {follows:,} follows of {args.tags} tags (Zipf s={args.zipf}, 1-6 each), "
              f"{args.text_share:.0%} text only; an edition of 12 articles")
        for name, seconds, plan, (cpu, size, listed) in (("today", today_seconds, today, today_sending),
                                                          ("follows", followed_seconds, followed, followed_sending)):
            variants = [key for key in plan if key != "batches"]
            print(f"{name:8}: {len(variants)} variants, {plan['batches']:,} send batches "
                  f"(mean {args.subscribers / plan['batches']:.0f} readers); planning every slice {seconds:.2f} s; "
                  f"making every request {cpu:.2f} s CPU ({cpu / args.subscribers * 1e6:.1f} us a reader), "
                  f"{size / 1e6:.1f} MB ({size / args.subscribers:.0f} bytes a reader); "
                  f"{listed:,} readers with a 'For you' list")
    finally:
        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
