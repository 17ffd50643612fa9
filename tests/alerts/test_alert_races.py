"""Two workers at once, on PostgreSQL: two polls each storing an article followed at pace alert
make one held alert between them, not two (a reader would get two alerts where one bundle was
meant); two alerts planned at once keep a reader to ALERT_MAX_PER_DAY.

Each race is forced, not hoped for: the first worker's transaction does its work and stays open
until the second has done its own or waits for a lock the first holds; then the first commits.
Without a lock the second reads before the first's work is visible, which is the race. (SQLite
lets one writer at a time: there the poll's and the slice's first writes already take turns.)"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, insert, select, text

from digest.alerts.compose import collect_new_articles
from digest.alerts.release import release_held_alerts
from digest.clock import utcnow
from digest.delivery.plan import open_edition, plan_slice
from digest.store.db import get_engine, unit_of_work
from digest.editions.render import Variant
from digest.store.models import AlertCarry, ArticleTopic, Edition, EditionItem, EditionKind, Follow, Pace, SendBatch, Topic, TopicKind
from tests.conftest import wait_for
from tests.factories import stored_articles, subscribers


@pytest.fixture
def georgia(settings) -> int:
    """A tag followed at pace alert by one reader; its id."""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time")
    [reader] = subscribers("alert@example.org")
    with unit_of_work() as session:
        topic = Topic(kind=TopicKind.TAG, key="georgia", name="Georgia")
        session.add(topic)
        session.flush()
        session.execute(insert(Follow).values(subscriber_id=reader, topic_id=topic.id, pace=Pace.ALERT))
        return topic.id


def _filed(topic_id: int, prefix: str) -> int:
    [article_id] = stored_articles(utcnow(), prefix=prefix)
    with unit_of_work() as session:
        session.add(ArticleTopic(article_id=article_id, topic_id=topic_id))
    return article_id


def _waiting_for_a_lock() -> bool:
    with get_engine().connect() as connection:
        return bool(connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))


def _race(first, second) -> bool:
    """first(session) in a transaction kept open until second(session), in another thread, is
    done or waits for a lock; then the first commits, then the second. Whether it waited."""
    first_done, first_may_commit, second_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run(work, done: threading.Event, may_commit: threading.Event) -> None:
        try:
            with unit_of_work() as session:
                work(session)
                done.set()
                may_commit.wait()
        except BaseException as error:  # noqa: BLE001 - reported by the test's thread
            errors.append(error)
            done.set()

    at_once = threading.Event()
    at_once.set()  # the second commits as soon as it is done
    threads = [threading.Thread(target=run, args=(first, first_done, first_may_commit)),
               threading.Thread(target=run, args=(second, second_done, at_once))]
    threads[0].start()
    wait_for(first_done.is_set, what="the first worker's work")
    threads[1].start()
    waited = wait_for(lambda: "done" if second_done.is_set() else _waiting_for_a_lock() and "waited",
                      what="the second worker to work or wait")
    first_may_commit.set()
    for thread in threads:
        thread.join()
    assert errors == []
    return waited == "waited"


def test_two_polls_at_once_make_one_held_alert(georgia):
    tbilisi, batumi = _filed(georgia, "Tbilisi"), _filed(georgia, "Batumi")
    _race(lambda session: collect_new_articles(session, [tbilisi], utcnow()),
          lambda session: collect_new_articles(session, [batumi], utcnow()))
    with unit_of_work() as session:
        alerts = session.scalars(select(Edition.id).where(Edition.kind == EditionKind.ALERT)).all()
        assert len(alerts) == 1, "one alert bundles both articles"
        assert sorted(session.scalars(select(EditionItem.article_id))) == [tbilisi, batumi]


def _opened_alert(topic_id: int, prefix: str, slices: int = 1) -> int:
    """A new article on the topic in an alert, its hold over, released and opened."""
    article_id = _filed(topic_id, prefix)
    with unit_of_work() as session:
        alert = collect_new_articles(session, [article_id], utcnow())
        alert.hold_until = utcnow()
    with unit_of_work() as session:
        assert release_held_alerts(session, utcnow()) == [alert.id]
    with unit_of_work() as session:
        assert open_edition(session, alert.id) == list(range(slices))
    return alert.id


def test_two_alerts_planned_at_once_keep_a_reader_to_the_daily_cap(georgia, settings):
    assert settings.ALERT_MAX_PER_DAY == 2
    earlier = _opened_alert(georgia, "Gori")
    with unit_of_work() as session:
        assert plan_slice(session, earlier, 0)
    first, second = _opened_alert(georgia, "Poti"), _opened_alert(georgia, "Kutaisi")
    assert _race(lambda session: plan_slice(session, first, 0), lambda session: plan_slice(session, second, 0))
    with unit_of_work() as session:
        assert session.scalar(select(func.sum(SendBatch.size))) == 2, "the reader gets two alerts today"
        [missed] = {first, second} - set(session.scalars(select(SendBatch.edition_id)))
        owed = session.scalars(select(AlertCarry.article_id)).all()
        assert owed == session.scalars(select(EditionItem.article_id).where(EditionItem.edition_id == missed)).all()


def test_two_alerts_the_next_day_planned_at_once_give_a_carried_article_once(georgia, settings):
    """Held back from a third alert, the reader is owed its article; the next day two alerts both
    carry it and are planned at once: it reaches the reader in one of them, and is owed no more."""
    import datetime as dt

    for prefix in ("Gori", "Poti", "Kutaisi"):
        alert = _opened_alert(georgia, prefix)
        with unit_of_work() as session:
            plan_slice(session, alert, 0)
    with unit_of_work() as session:
        [held_back] = session.scalars(select(AlertCarry.article_id)).all()
        for alert in session.scalars(select(Edition)):  # a day passes
            alert.started_at -= dt.timedelta(days=1)
        for carry in session.scalars(select(AlertCarry)):
            carry.created_at -= dt.timedelta(days=1)
    first, second = _opened_alert(georgia, "Batumi"), _opened_alert(georgia, "Rustavi")
    assert _race(lambda session: plan_slice(session, first, 0), lambda session: plan_slice(session, second, 0))
    with unit_of_work() as session:
        given = []
        for batch in session.scalars(select(SendBatch).where(SendBatch.edition_id.in_([first, second]))):
            items = session.scalars(select(EditionItem.article_id).where(EditionItem.edition_id == batch.edition_id))
            given += Variant.from_key(batch.variant).articles or list(items)
        assert given.count(held_back) == 1
        assert session.scalars(select(AlertCarry)).all() == []


def test_the_slices_of_one_alert_are_planned_at_once(georgia, monkeypatch):
    """Taking turns per block of readers does not make an alert's own slices wait for each other
    (the workers plan two at a time)."""
    from tests.conftest import reset_caches

    others = subscribers("second@example.org", "third@example.org")
    with unit_of_work() as session:
        session.execute(insert(Follow), [dict(subscriber_id=other, topic_id=georgia, pace=Pace.ALERT)
                                         for other in others])
    monkeypatch.setenv("SEND_PLAN_SLICE_SIZE", "2")  # three readers in consecutive ids: two slices
    reset_caches()
    alert = _opened_alert(georgia, "Mtskheta", slices=2)
    assert not _race(lambda session: plan_slice(session, alert, 0), lambda session: plan_slice(session, alert, 1))
    with unit_of_work() as session:
        assert session.scalar(select(func.sum(SendBatch.size))) == 3
