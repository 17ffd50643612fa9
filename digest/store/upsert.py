"""INSERT ... ON CONFLICT DO NOTHING on both backends: how a repeated task leaves one row."""

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_duplicates(session: Session, table):
    """An INSERT into `table` (a model or a Table) that skips rows violating a unique constraint."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    return insert(table).on_conflict_do_nothing()
