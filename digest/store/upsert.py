"""Statements written once for both backends: INSERT ... ON CONFLICT DO NOTHING (how a repeated
task leaves one row), membership in a large set of ids or strings, and many rows of values as
one table to join (an UPDATE of many rows, each to its own values, in one statement)."""

import json
from collections.abc import Callable

from sqlalchemy import ARRAY, JSON, BigInteger, BindParameter, Integer, String, any_, cast, column, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from digest.store.models import IdArray


def insert_ignoring_duplicates(session: Session, table):
    """An INSERT into `table` (a model or a Table) that skips rows violating a unique constraint."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    return insert(table).on_conflict_do_nothing()


def made_once(build: Callable[[Session], Executable]) -> Callable[[Session], Executable]:
    """`build(session)`, a statement that depends on nothing but the session's backend, made once
    per backend and then reused: on a hot path (every reader's one-click unsubscribe after a
    send) building a statement and generating its cache key cost more than running it, and a
    statement kept keeps its cache key."""
    made: dict[str, Executable] = {}

    def statement(session: Session) -> Executable:
        dialect = session.get_bind().dialect.name
        if dialect not in made:
            made[dialect] = build(session)
        return made[dialect]
    return statement


def among(session: Session, column, values: list):
    """`column IN values`, as one array parameter on PostgreSQL.

    A thousand-value IN list is a thousand placeholders to compile and send on every batch; an
    array is one, and the statement text stays the same from batch to batch."""
    if session.get_bind().dialect.name == "postgresql":
        ids = isinstance(column.type, Integer)
        array = IdArray(big=isinstance(column.type, BigInteger)) if ids else ARRAY(column.type)
        return column == any_(literal(list(values), array))
    return column.in_(values)


def among_strings(session: Session, column, values: list[str]):
    """`column IN values` for many strings (an import batch's addresses), on PostgreSQL as one JSON
    array that the server takes apart. psycopg builds a text[] parameter element by element in
    Python, 2 us per string; json.dumps writes the whole list at C speed."""
    if session.get_bind().dialect.name == "postgresql":
        listed = func.json_array_elements_text(cast(literal(json.dumps(values), String), JSON))
        # As an array, not IN (SELECT ...): one index scan for all of them, not one per value.
        return column == any_(func.array(select(listed.column_valued()).scalar_subquery()))
    return column.in_(values)


def rows_table(session: Session, rows: list[dict] | BindParameter, columns: dict):
    """`rows` (dicts of JSON values) as a table with `columns` (name -> type), to join in one
    statement: one JSON parameter the database takes apart (json_to_recordset on PostgreSQL,
    json_each on SQLite). SQLAlchemy's UPDATE by primary key with a list of rows runs once per
    row (executemany); `update(table).where(table.c.id == rows.c.id)` over this is one UPDATE.
    `rows` may be a bindparam instead, the rows' JSON given when the statement is run: a
    statement made once (made_once) for any rows."""
    document = rows if isinstance(rows, BindParameter) else literal(json.dumps(rows), String)
    if session.get_bind().dialect.name == "postgresql":
        return (func.json_to_recordset(cast(document, JSON))
                .table_valued(*(column(name, kind) for name, kind in columns.items()))
                .render_derived(with_types=True))
    each = func.json_each(document).table_valued("value")
    return select(*(cast(func.json_extract(each.c.value, f"$.{name}"), kind).label(name)
                    for name, kind in columns.items())).subquery()
