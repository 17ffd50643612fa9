"""A `digest serve` process runs its routes in WEB_THREADS threads, set at the app's startup, and
a burst of far more requests at once than it has threads, and than the database pool has
connections, is answered in full: each request's session is given back on a limiter of its own,
so none waits for a thread that waits for its connection."""

from __future__ import annotations

import asyncio
import threading

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import select

from digest.config import get_settings
from digest.delivery.backends import get_sender
from digest.store.db import get_engine, unit_of_work
from digest.store.models import Subscriber, SubscriberStatus
from digest.subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token
from tests.factories import approved_edition, many_subscribers, polled_feed, send_now
from tests.live_app import served_in_thread

AT_ONCE = 64  # clients, each with requests in flight all the time


async def _thread_limit() -> int:
    return anyio.to_thread.current_default_thread_limiter().total_tokens


@pytest.mark.postgresql_only
def test_a_burst_past_the_threads_and_the_pool_is_answered_in_full(settings, feed_server, monkeypatch):
    monkeypatch.setenv("WEB_THREADS", "3")
    get_settings.cache_clear()
    polled_feed(feed_server)
    many_subscribers(AT_ONCE)
    edition_id = approved_edition()
    send_now(edition_id, get_sender())
    with unit_of_work() as session:
        readers = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
    pool = get_engine().pool
    assert AT_ONCE > pool.size() + pool._max_overflow > get_settings().WEB_THREADS

    answers: dict[str, list[tuple[int, str]]] = {"archive": [], "email": [], "preferences": [], "one-click": []}
    start = threading.Barrier(AT_ONCE)
    with served_in_thread(lifespan="on") as (base_url, loop):
        assert asyncio.run_coroutine_threadsafe(_thread_limit(), loop).result(5) == 3

        def reader(subscriber_id: int) -> None:
            via = f"?e={edition_id}"
            with httpx.Client(base_url=base_url, timeout=60) as browser:
                start.wait()
                for kind, method, path in (
                        ("archive", "GET", f"/archive/{edition_id}"),
                        ("email", "GET", f"/archive/{edition_id}/email"),
                        ("preferences", "GET", f"/p/{make_token(PREFERENCES, subscriber_id)}{via}"),
                        ("one-click", "POST", f"/u/{make_token(UNSUBSCRIBE, subscriber_id)}{via}")):
                    answer = browser.request(method, path, data={"List-Unsubscribe": "One-Click"}
                                             if method == "POST" else None)
                    answers[kind].append((answer.status_code, answer.text))

        burst = [threading.Thread(target=reader, args=(subscriber_id,)) for subscriber_id in readers]
        for thread in burst:
            thread.start()
        for thread in burst:
            thread.join(120)
    assert {kind: len(got) for kind, got in answers.items()} == dict.fromkeys(answers, AT_ONCE)
    assert all(status == 200 for got in answers.values() for status, _ in got), \
        [text[:300] for got in answers.values() for status, text in got if status != 200][:3]
    assert len({text for _, text in answers["archive"]}) == 1
    assert len({text for _, text in answers["email"]}) == 1
    assert all("Your preferences" in text for _, text in answers["preferences"])
    assert all("Unsubscribed" in text for _, text in answers["one-click"])
    with unit_of_work() as session:
        assert set(session.scalars(select(Subscriber.status))) == {SubscriberStatus.UNSUBSCRIBED}


def test_what_the_process_made_to_start_is_kept_out_of_the_collectors_reach(settings):
    """A full collection walks only what requests made (one that walked the modules, the app and
    its templates stopped every request of the process for 40 to 90 ms)."""
    import gc

    from digest.web.app import app, lifespan

    async def started() -> int:
        async with lifespan(app):
            return gc.get_freeze_count()

    gc.unfreeze()
    try:
        assert asyncio.run(started()) > 10_000
    finally:
        gc.unfreeze()
