"""How many digest variants readers' follows make, and what they cost against today's edition.

    python bench/follow_variants.py [--subscribers 100000] [--tags 50] [--zipf 1.0] [--text-share 0.15]

An edition of 12 articles, each filed under 1-3 of `--tags` tags; every reader follows 1-6 tags,
drawn from a Zipf distribution (the first tags are the popular countries and themes), and
`--text-share` of them read text only. Plans every slice on PostgreSQL (a scratch database at
BENCH_POSTGRES_URL, as bench/plan.py) with the follows and without them (today's edition), then
prints the distinct variants, their renders (bench/render.py style), the send batches (one
provider request each) and the planning times.
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


def plan_all(edition_id: int) -> tuple[float, dict[str, int]]:
    """Start the edition and plan every slice in one process; the seconds it took and the readers
    per variant. Leaves the edition approved again, with only its approved render, for a rerun."""
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
        for table in (SendBatch, PlanSlice):
            session.execute(delete(table).where(table.edition_id == edition_id))
        session.execute(delete(EditionRender).where(EditionRender.edition_id == edition_id,
                                                    EditionRender.variant != DEFAULT_VARIANT.key))
        session.execute(update(Edition).where(Edition.id == edition_id).values(status=EditionStatus.APPROVED))
    return seconds, {"batches": batches, **{key: int(count) for key, count in readers.items()}}


def render_all(edition_id: int, keys: list[str]) -> float:
    from digest.editions.lookup import get_edition
    from digest.editions.render import Variant, render_edition
    from digest.store.db import unit_of_work

    with unit_of_work() as session:
        edition = get_edition(session, edition_id)
        started = time.perf_counter()
        for key in keys:
            render_edition(edition, Variant.from_key(key))
        return time.perf_counter() - started


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
        followed_seconds, followed = plan_all(edition_id)
        with unit_of_work() as session:
            session.execute(delete(Follow))
        today_seconds, today = plan_all(edition_id)
        keys = {name: [key for key in plan if key != "batches"] for name, plan in (("follows", followed), ("today", today))}
        for_you = {key.split(">sent")[0].rsplit(":", 1)[0] for key in keys["follows"]}
        print(f"{args.subscribers:,} readers, {follows:,} follows of {args.tags} tags (Zipf s={args.zipf}, 1-6 each), "
              f"{args.text_share:.0%} text only; an edition of 12 articles")
        for name, seconds, plan in (("today", today_seconds, today), ("follows", followed_seconds, followed)):
            renders = render_all(edition_id, keys[name])
            sizes = sorted((count for key, count in plan.items() if key != "batches"), reverse=True)
            print(f"{name:8}: {len(keys[name]):4} variants ({len(for_you) if name == 'follows' else 1} "
                  f"'For you' sets), renders {renders:.2f} s ({renders / len(keys[name]) * 1000:.1f} ms each); "
                  f"{plan['batches']:,} send batches (mean {args.subscribers / plan['batches']:.0f} readers); "
                  f"planning every slice (renders included) {seconds:.2f} s; largest variants {sizes[:3]}")
    finally:
        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
