"""PostgreSQL's plans of statements a test caught: how the tests that hold hot statements to
their indexes ask the planner."""

from __future__ import annotations

from digest.store.db import get_engine


def plans_without_seq_scans(statements: list[tuple[str, object]]) -> list[tuple[str, dict]]:
    """Each statement with EXPLAIN's plan (its JSON root node), sequential scans priced out
    (enable_seqscan off): a plan that still reads a whole table had no index to use."""
    connection = get_engine().raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SET enable_seqscan = off")
        plans = []
        for sql, params in statements:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plans.append((sql, cursor.fetchone()[0][0]["Plan"]))
        return plans
    finally:
        connection.rollback()
        connection.close()


def index_columns() -> dict[str, list[str]]:
    """Each index of the database and its columns."""
    connection = get_engine().raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT i.relname, array_agg(a.attname::text) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                       " JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey) GROUP BY i.relname")
        return dict(cursor.fetchall())
    finally:
        connection.rollback()
        connection.close()
