"""What planning an alert costs does not grow with the list: a slice of an alert takes the same
number of statements for 10 readers as for 1,000 (the daily cap's count included), and on
PostgreSQL the audience statement reads only the slice's own follows, through indexes, never a
whole table nor every follower of the alert's topics. Holding readers back (their articles then
owed to them) and giving them those articles the next day add one statement each to a slice."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, insert, select, text

from digest.alerts.compose import collect_new_articles
from digest.alerts.release import release_held_alerts
from digest.clock import utcnow
from digest.delivery.plan import open_edition, plan_slice
from digest.sample.readers import add_readers
from digest.store.db import get_engine, unit_of_work
from digest.store.models import ArticleTopic, Follow, Pace, SendBatch, Subscriber, Topic, TopicKind
from tests.delivery.test_ledger_costs import statements
from tests.factories import stored_articles


def _followers(name: str, count: int, first: int, others: int | None = None) -> int:
    """`count` readers who follow a new tag `name` at pace alert (and `others`, when given, at
    pace digest); the tag's id."""
    with unit_of_work() as session:
        topic = Topic(kind=TopicKind.TAG, key=name.casefold(), name=name)
        session.add(topic)
        add_readers(session, count, domain=f"{name.casefold()}.example.org", first=first)
        session.flush()
        readers = session.scalars(select(Subscriber.id).where(Subscriber.email.like(f"%@{name.casefold()}.example.org")))
        rows = [dict(subscriber_id=reader, topic_id=topic.id, pace=Pace.ALERT) for reader in readers]
        if others is not None:
            rows += [dict(subscriber_id=row["subscriber_id"], topic_id=others, pace=Pace.DIGEST) for row in rows]
        session.execute(insert(Follow), rows)
        return topic.id


def _opened_alert(topic_id: int, prefix: str) -> tuple[int, list[int]]:
    """A new article on the topic gathered into an alert, its hold over, released and opened."""
    [article_id] = stored_articles(utcnow(), prefix=prefix)
    with unit_of_work() as session:
        session.add(ArticleTopic(article_id=article_id, topic_id=topic_id))
        session.flush()
        alert = collect_new_articles(session, [article_id], utcnow())
        alert.hold_until = utcnow()
    with unit_of_work() as session:
        assert release_held_alerts(session, utcnow()) == [alert.id]
    with unit_of_work() as session:
        return alert.id, open_edition(session, alert.id)


def _planning_statements(topic_id: int, prefix: str) -> int:
    """Statements to plan the slice of a second alert today (the first one counts in the cap)."""
    first, [number] = _opened_alert(topic_id, f"{prefix} first")
    with unit_of_work() as session:
        assert plan_slice(session, first, number)
    second, [number] = _opened_alert(topic_id, f"{prefix} second")
    with statements() as planning, unit_of_work() as session:
        assert plan_slice(session, second, number)
    return len(planning)


def test_planning_an_alert_takes_as_many_statements_for_1000_readers_as_for_10(settings):
    few = _planning_statements(_followers("Georgia", 10, first=0), "Tbilisi")
    many = _planning_statements(_followers("Armenia", 1000, first=10), "Yerevan")
    assert many == few
    assert few <= 10, "one statement each: the slice, the alert's topics, the readers with the cap, the batches"
    with unit_of_work() as session:
        assert sorted(session.scalars(select(SendBatch.size))) == [10, 10, 1000, 1000]


def _explained(sql: str, params, seq_scans: bool = True) -> dict:
    """The plan PostgreSQL ran the statement by (EXPLAIN ANALYZE), rolled back; with
    seq_scans=False, as it runs once the table is large (a sequential scan is cheaper in a test's
    small tables, which is not what is tested)."""
    connection = get_engine().raw_connection()
    try:
        cursor = connection.cursor()
        if not seq_scans:
            cursor.execute("SET enable_seqscan = off")
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        return cursor.fetchone()[0][0]["Plan"]
    finally:
        connection.rollback()
        connection.close()


def _rows_read_from(plan: dict, table: str) -> int:
    """How many rows the plan's nodes reading `table` returned, over all their loops."""
    read = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == table else 0
    return read + sum(_rows_read_from(child, table) for child in plan.get("Plans", []))


def _seq_scans(plan: dict) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    return found + [name for child in plan.get("Plans", []) for name in _seq_scans(child)]


def test_the_audience_of_a_slice_reads_only_that_slice_s_follows(settings, monkeypatch):
    """1,000 readers follow the alert's tag (and another at pace digest), in slices of 10: the
    audience statement of a slice reads its 10 readers' follows through an index, not the other
    990 followers' nor any table from end to end (sequential scans priced out)."""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("the planner's choices are PostgreSQL's")
    from tests.conftest import reset_caches

    with unit_of_work() as session:
        other = Topic(kind=TopicKind.TAG, key="caucasus", name="Caucasus")
        session.add(other)
        session.flush()
        other_id = other.id
    topic_id = _followers("Georgia", 1000, first=0, others=other_id)
    monkeypatch.setenv("SEND_PLAN_SLICE_SIZE", "10")
    reset_caches()
    alert_id, slices = _opened_alert(topic_id, "Tbilisi")
    assert len(slices) == 100
    with unit_of_work() as session:
        session.execute(text("ANALYZE"))
    with statements() as planning, unit_of_work() as session:
        assert plan_slice(session, alert_id, slices[50])
    [(sql, params)] = [(sql, params) for sql, params in planning if "FROM follows" in sql]
    plan = _explained(sql, params, seq_scans=False)
    shown = json.dumps(plan, indent=1)
    assert _seq_scans(plan) == [], shown
    assert _rows_read_from(plan, "follows") <= 10, shown


def _members_unnested(plan: dict) -> int:
    """How many batch members the plan unnested, over all loops."""
    read = 0
    if plan.get("Function Name") == "unnest":  # those it returned and those its filter dropped
        read = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return read + sum(_members_unnested(child) for child in plan.get("Plans", []))


def test_the_daily_cap_of_a_slice_reads_only_the_batches_of_that_slice_s_readers(settings, monkeypatch):
    """A second alert today: the cap counts the first one's batches, but a slice reads only the
    batches holding readers of its own id range (a million readers: 100 slices each unnesting
    the first alert's 257,000 members made the second alert's audience 11.6 s, the first's 4.5)."""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("the executor's choices are PostgreSQL's")
    from tests.conftest import reset_caches

    topic_id = _followers("Georgia", 1000, first=0)
    monkeypatch.setenv("SEND_PLAN_SLICE_SIZE", "10")
    reset_caches()
    first, slices = _opened_alert(topic_id, "Tbilisi")
    for number in slices:
        with unit_of_work() as session:
            plan_slice(session, first, number)
    second, slices = _opened_alert(topic_id, "Batumi")
    with unit_of_work() as session:
        session.execute(text("ANALYZE"))
    with statements() as planning, unit_of_work() as session:
        assert plan_slice(session, second, slices[50])
    [(sql, params)] = [(sql, params) for sql, params in planning if "unnest" in sql]
    plan = _explained(sql, params)
    assert _members_unnested(plan) <= 10, json.dumps(plan, indent=1)


def _a_day_passes() -> None:
    """What happened so far happened a day earlier: the alerts began, readers were held back."""
    from datetime import timedelta

    from digest.store.models import AlertCarry, Edition

    with unit_of_work() as session:
        for alert in session.scalars(select(Edition).where(Edition.started_at.is_not(None))):
            alert.started_at -= timedelta(days=1)
        for carry in session.scalars(select(AlertCarry)):
            carry.created_at -= timedelta(days=1)


def _carrying_statements(topic_id: int, prefix: str) -> tuple[int, int]:
    """Statements to plan the slice of a third alert today, which holds every reader back (their
    articles owed), and of the next day's first, which gives them those articles."""
    for number in range(2):
        alert, [first] = _opened_alert(topic_id, f"{prefix} {number}")
        with unit_of_work() as session:
            assert plan_slice(session, alert, first)
    third, [number] = _opened_alert(topic_id, f"{prefix} third")
    with statements() as capping, unit_of_work() as session:
        assert plan_slice(session, third, number) == []
    _a_day_passes()
    fourth, [number] = _opened_alert(topic_id, f"{prefix} fourth")
    with statements() as carrying, unit_of_work() as session:
        assert plan_slice(session, fourth, number)
    return len(capping), len(carrying)


def test_holding_readers_back_and_carrying_their_articles_take_as_many_statements_for_1000_as_for_10(settings):
    from digest.store.models import AlertCarry, EditionItem

    few = _carrying_statements(_followers("Georgia", 10, first=0), "Tbilisi")
    many = _carrying_statements(_followers("Armenia", 1000, first=10), "Yerevan")
    assert many == few
    capping, carrying = few
    assert capping <= 11, "a planned slice's, with the readers held back owed their articles in one statement"
    assert carrying <= 11, "a planned slice's, with the carried articles given owed no more in one statement"
    with unit_of_work() as session:
        assert session.scalars(select(AlertCarry)).all() == []
        assert len(session.scalars(select(EditionItem).where(EditionItem.carried.is_(True))).all()) == 2


def test_the_audience_of_a_slice_reads_only_that_slice_s_carried_articles(settings, monkeypatch):
    """1,000 readers are owed an article held back yesterday, which the next alert carries: in
    slices of 10, the audience statement of a slice reads its own 10 readers' follows and carries
    through indexes, not the other 990's nor any table from end to end."""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("the planner's choices are PostgreSQL's")
    from datetime import timedelta

    from digest.store.models import AlertCarry
    from tests.conftest import reset_caches

    topic_id = _followers("Georgia", 1000, first=0)
    [held_back] = stored_articles(utcnow(), prefix="Gori")
    with unit_of_work() as session:
        session.add(ArticleTopic(article_id=held_back, topic_id=topic_id))
        earlier = _earlier_alert(session)
        session.execute(insert(AlertCarry), [
            dict(subscriber_id=reader, article_id=held_back, alert_id=earlier, created_at=utcnow() - timedelta(days=1))
            for reader in session.scalars(select(Subscriber.id))])
    monkeypatch.setenv("SEND_PLAN_SLICE_SIZE", "10")
    reset_caches()
    alert_id, slices = _opened_alert(topic_id, "Tbilisi")
    with unit_of_work() as session:
        session.execute(text("ANALYZE"))
    with statements() as planning, unit_of_work() as session:
        [batch] = plan_slice(session, alert_id, slices[50])
    [(sql, params)] = [(sql, params) for sql, params in planning if "FROM follows" in sql]
    plan = _explained(sql, params, seq_scans=False)
    shown = json.dumps(plan, indent=1)
    assert _seq_scans(plan) == [], shown
    assert _rows_read_from(plan, "follows") <= 10 and _rows_read_from(plan, "alert_carries") <= 10, shown
    with unit_of_work() as session:
        assert session.get(SendBatch, batch).size == 10
        assert session.scalar(select(func.count()).select_from(AlertCarry)) == 990


def _earlier_alert(session) -> int:
    """An alert sent yesterday, that the carries name."""
    from datetime import timedelta

    from digest.store.models import Edition, EditionKind, EditionStatus

    yesterday = utcnow() - timedelta(days=1)
    alert = Edition(kind=EditionKind.ALERT, period=None, cutoff_at=yesterday, send_at=yesterday, started_at=yesterday,
                    status=EditionStatus.SENT, subject="New on Georgia", preheader="", intro="",
                    created_at=yesterday, updated_at=yesterday)
    session.add(alert)
    session.flush()
    return alert.id
