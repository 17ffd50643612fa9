"""Statements written once for both backends: INSERT ... ON CONFLICT DO NOTHING (how a repeated
task leaves one row) and membership in a large set of ids."""

from sqlalchemy import ARRAY, any_, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_duplicates(session: Session, table):
    """An INSERT into `table` (a model or a Table) that skips rows violating a unique constraint."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    return insert(table).on_conflict_do_nothing()


def among(session: Session, column, values: list):
    """`column IN values`, as one array parameter on PostgreSQL.

    A thousand-value IN list is a thousand placeholders to compile and send on every batch; an
    array is one, and the statement text stays the same from batch to batch."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(values)
