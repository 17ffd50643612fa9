"""What the ledger costs does not grow with the list: planning a slice, sending a batch and
applying a webhook request each take the same number of statements for 3 readers as for 300,
and on PostgreSQL the hot statements find their rows through an index, never a scan of
`deliveries`."""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy import UniqueConstraint, select, text

from digest.clock import utcnow
from digest.delivery.backends import get_sender
from digest.delivery.events import process_webhook_batch, store_webhook_batch
from digest.delivery.plan import open_edition, plan_slice, release_edition
from digest.delivery.send import send_batch
from digest.ledger.states import reader_counts
from digest.sample.readers import add_readers
from digest.store.db import get_engine, unit_of_work
from digest.store.models import BatchState, Delivery, SendBatch
from tests.databases import statements
from tests.factories import approved_edition, polled_feed
from tests.plans import plans_without_seq_scans
from tests.sendgrid_standin import merged_personalizations


def _opened(readers: int, first: int = 0) -> tuple[int, list[int]]:
    with unit_of_work() as session:
        add_readers(session, readers, first=first)
    edition_id = approved_edition()
    with unit_of_work() as session:
        release_edition(session, edition_id)
    with unit_of_work() as session:
        return edition_id, open_edition(session, edition_id)


def _forget_the_send() -> None:
    """Back to the feed's articles alone, so that the same edition is composed again."""
    with unit_of_work() as session:
        for table in ("reader_marks", "edition_counts", "delivery_events", "webhook_batches", "deliveries",
                      "send_batches", "plan_slices", "edition_renders", "edition_links", "edition_items", "audit_log",
                      "editions", "subscribers"):
            session.execute(text(f"DELETE FROM {table}"))


def _plan_and_send(readers: int) -> tuple[int, int, int]:
    """Statements to plan the edition's one slice and to send its one batch."""
    edition_id, slices = _opened(readers)
    assert slices == [0]
    with statements() as planning, unit_of_work() as session:
        [batch] = plan_slice(session, edition_id, 0)
    with statements() as sending, unit_of_work() as session:
        assert send_batch(session, edition_id, batch, get_sender()) == readers
    return edition_id, len(planning), len(sending)


def test_planning_and_sending_take_as_many_statements_for_300_readers_as_for_3(settings, feed_server):
    polled_feed(feed_server)
    _, planned_few, sent_few = _plan_and_send(3)
    _forget_the_send()
    _, planned_many, sent_many = _plan_and_send(300)
    assert (planned_many, sent_many) == (planned_few, sent_few)
    assert sent_few <= 8, "claim, read, accept and record: one statement each, not one per reader"



def test_planning_a_slice_reads_no_article_text(settings, feed_server):
    """A slice needs the edition's articles' ids and sections; their texts (the whole article,
    its summary and their structure) are read only to render a variant met for the first time,
    never for the edition's own variant, already rendered when the send opened."""
    polled_feed(feed_server)
    edition_id, [number] = _opened(5)
    with statements() as planning, unit_of_work() as session:
        assert plan_slice(session, edition_id, number)
    reading_articles = [sql for sql, _ in planning if "FROM articles" in sql or "JOIN articles" in sql]
    assert reading_articles, "the articles' sections are read"
    assert not [sql for sql in reading_articles if re.search(r"content_html|summary_html|structure", sql)]


def test_a_batch_handed_to_sendgrid_is_recorded_by_one_statement(standin, feed_server):
    """The edition's row, the claim, the read, the render, the readers' "For you" follows, the
    batch row marked sent (which records its readers as accepted) and the finish check: seven
    statements, and no delivery row. Loading the edition's items with it, or writing a row per
    reader, fails this."""
    polled_feed(feed_server)
    edition_id, [number] = _opened(40)
    with unit_of_work() as session:
        [batch_id] = plan_slice(session, edition_id, number)
    with statements() as sending, unit_of_work() as session:
        assert send_batch(session, edition_id, batch_id, get_sender()) == 40
    assert len(sending) == 7, sending
    with unit_of_work() as session:
        sent = session.get(SendBatch, batch_id)
        assert (sent.state, sent.size, bool(sent.message_id)) == (BatchState.SENT, 40, True)
        assert session.scalars(select(Delivery)).all() == []
        assert reader_counts(session, edition_id) == {"accepted": 40}
    assert len(standin.delivered) == 40

def _events(edition_id: int, kind: str) -> bytes:
    with unit_of_work() as session:
        rows = session.execute(select(Delivery.subscriber_id, Delivery.email)
                               .where(Delivery.edition_id == edition_id)).all()
    now = int(utcnow().timestamp())
    return json.dumps([{"event": kind, "email": email, "timestamp": now, "sg_event_id": f"{kind}-{reader}",
                        "sg_message_id": f"m{reader}.filter", "edition_id": str(edition_id),
                        "subscriber_id": str(reader)} for reader, email in rows]).encode()


def _apply(body: bytes) -> int:
    with unit_of_work() as session:
        batch_id = store_webhook_batch(session, body, str(time.time_ns())).batch_id
    with statements() as applied, unit_of_work() as session:
        process_webhook_batch(session, batch_id)
    return len(applied)


def test_a_webhook_request_takes_as_many_statements_for_300_events_as_for_3(settings, feed_server):
    polled_feed(feed_server)
    few, _, _ = _plan_and_send(3)
    # Opens and clicks are classified as they are applied (person or machine): one statement
    # for the request's timings, never one per event.
    kinds = ("processed", "delivered", "open", "click")
    costs_few = [_apply(_events(few, kind)) for kind in kinds]
    _forget_the_send()
    many, _, _ = _plan_and_send(300)
    costs_many = [_apply(_events(many, kind)) for kind in kinds]
    assert costs_many == costs_few


def test_a_task_that_plans_a_slice_twice_plans_it_once(settings, feed_server):
    polled_feed(feed_server)
    edition_id, [number] = _opened(5)
    with unit_of_work() as session:
        assert len(plan_slice(session, edition_id, number)) == 1
    with unit_of_work() as session:
        assert plan_slice(session, edition_id, number) == []
        [members] = session.scalars(select(SendBatch.members)).all()
        assert len(members) == len(set(members)) == 5
        assert session.scalar(select(text("count(*)")).select_from(Delivery)) == 0, "a reader's row waits for news"


# --- PostgreSQL plans ------------------------------------------------------------------------

def _leading_columns() -> dict[str, str]:
    """Each index of `deliveries` and the column it is sorted by first."""
    table = Delivery.__table__
    leading = {f"{table.name}_pkey": "id"}
    for index in table.indexes:
        leading[index.name] = index.columns[0].name
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            leading[constraint.name] = list(constraint.columns)[0].name
    return leading


def _whole_table_reads(plan: dict, leading: dict[str, str]) -> list[str]:
    """Nodes that read all of `deliveries`: a sequential scan, or an index of it used without a
    condition on the index's first column (a full walk of the index)."""
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") == "deliveries":
        found.append("Seq Scan on deliveries")
    index = plan.get("Index Name")
    if index in leading:
        condition = plan.get("Index Cond", "")
        if not re.search(rf"(?<![\w.])(?:\w+\.)?{leading[index]}\s*(=|<=|>=|<|>)", condition):
            found.append(f"{plan['Node Type']} using {index} with condition {condition or 'none'}")
    for child in plan.get("Plans", []):
        found += _whole_table_reads(child, leading)
    return found


def test_the_hot_statements_never_scan_deliveries(settings, feed_server):
    """Every statement that sending a batch and counting an edition's progress run against
    `deliveries` finds its rows through an index on what it selects by: with sequential scans
    priced out (enable_seqscan off), a plan that still reads the whole table, directly or by
    walking an index from end to end, had no index to use."""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("the planner's choices are PostgreSQL's")
    from digest.ledger.states import reader_counts

    polled_feed(feed_server)
    edition_id, [number] = _opened(3000)
    with unit_of_work() as session:
        batches = plan_slice(session, edition_id, number)
    with unit_of_work() as session:
        # Another edition's rows, as the table holds in a service that has sent before: with
        # only this edition's rows (or none), reading all of them is as cheap as any plan, and the
        # planner took it or not depending on the tests run before.
        other = session.scalar(text(
            "INSERT INTO editions (kind, cutoff_at, send_at, status, subject, preheader, intro, created_at, updated_at) "
            "SELECT kind, cutoff_at, send_at, 'sent', subject, preheader, intro, created_at, updated_at "
            "FROM editions WHERE id = :edition RETURNING id"), {"edition": edition_id})
        session.execute(text(
            "INSERT INTO deliveries (edition_id, subscriber_id, email, status, attempts, created_at) "
            "SELECT :other, id, email, 'delivered', 1, now() FROM subscribers"), {"other": other})
        session.execute(text("ANALYZE"))
    with statements() as hot, unit_of_work() as session:
        send_batch(session, edition_id, batches[0], get_sender())
        reader_counts(session, edition_id)
    on_deliveries = [(sql, params) for sql, params in hot if "deliveries" in sql and params is not None]
    assert len(on_deliveries) >= 4  # the batch read, its accept, the finish check, the counts
    leading = _leading_columns()
    for sql, plan in plans_without_seq_scans(on_deliveries):
        assert _whole_table_reads(plan, leading) == [], f"{sql}\n{json.dumps(plan, indent=1)}"


def _loops_on_deliveries(plan: dict) -> int:
    """How many times the plan's nodes reading `deliveries` ran (EXPLAIN ANALYZE)."""
    loops = plan.get("Actual Loops", 0) if plan.get("Relation Name") == "deliveries" else 0
    return loops + sum(_loops_on_deliveries(child) for child in plan.get("Plans", []))


def test_while_a_batch_waits_the_finish_check_reads_no_delivery_row(settings, feed_server):
    """A send of a million readers runs the finish check a thousand times: while any of its
    batches is waiting or in flight, the check is settled by the batch rows and never reaches
    the delivery rows (whose index holds every reader and every row version)."""
    if get_engine().dialect.name != "postgresql":
        pytest.skip("the executor's choices are PostgreSQL's")
    polled_feed(feed_server)
    edition_id, [number] = _opened(2500)
    with unit_of_work() as session:
        first, *waiting = plan_slice(session, edition_id, number)
    with statements() as sending, unit_of_work() as session:
        send_batch(session, edition_id, first, get_sender())
    assert waiting
    [(sql, params)] = [(sql, params) for sql, params in sending if sql.startswith("UPDATE editions")]
    connection = get_engine().raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0][0]["Plan"]
        assert "deliveries" in json.dumps(plan) and _loops_on_deliveries(plan) == 0, json.dumps(plan, indent=1)
    finally:
        connection.rollback()
        connection.close()


def test_first_events_of_readers_their_batch_rows_record_take_as_many_statements_for_six_batches_as_for_one(
        standin, feed_server, monkeypatch):
    """The events a sent edition's readers' first reports make (each reader's row written from
    the batch row that recorded them): one statement for every batch the request names."""
    from tests.conftest import reset_caches

    monkeypatch.setenv("SEND_BATCH_SIZE", "50")
    reset_caches()
    polled_feed(feed_server)
    costs = []
    for readers in (3, 300):
        edition_id, [number] = _opened(readers)
        with unit_of_work() as session:
            batches = plan_slice(session, edition_id, number)
        for batch in batches:
            with unit_of_work() as session:
                send_batch(session, edition_id, batch, get_sender())
        with unit_of_work() as session:
            assert session.scalar(select(text("count(*)")).select_from(Delivery)) == 0
        body = json.dumps([{"event": "processed", "email": p["to"][0]["email"], "timestamp": int(utcnow().timestamp()),
                            "sg_event_id": f"processed-{readers}-{n}", "sg_message_id": f"m{n}.filter",
                            **p["custom_args"]}
                           for body in standin.requests for n, p in enumerate(merged_personalizations(body))]).encode()
        costs.append((len(batches), _apply(body)))
        with unit_of_work() as session:
            assert session.scalar(select(text("count(*)")).select_from(Delivery)) == readers
        standin.reset()
        _forget_the_send()
    assert [batches for batches, _ in costs] == [1, 6]
    assert costs[0][1] == costs[1][1]
