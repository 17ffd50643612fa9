"""Writing many rows at once: COPY on PostgreSQL (psycopg 3's `cursor.copy`, several times
faster than any INSERT), one executemany on SQLite. Either way inside the session's transaction,
so the rows commit or vanish with everything else the caller did."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import JSON, Table
from sqlalchemy.orm import Session


def copies(session: Session) -> bool:
    """Whether bulk writes go through COPY (PostgreSQL) rather than executemany."""
    return session.get_bind().dialect.name == "postgresql"


def copy_new_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence],
                  returning: Sequence[str]) -> list[tuple]:
    """PostgreSQL: insert `rows`, skipping those that violate a unique constraint (a row added
    meanwhile by someone else), and return `returning` of the rows inserted. The rows are
    COPYed into a temporary table first, then moved by one INSERT ... SELECT ... ON CONFLICT."""
    staging = f"staging_{table.name}"
    names = ", ".join(columns)
    connection = session.connection()
    connection.exec_driver_sql(f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS "
                               f"SELECT {names} FROM {table.name} WITH NO DATA")
    write_rows(session, _Staging(staging, table), columns, rows)
    inserted = connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} "
        f"ON CONFLICT DO NOTHING RETURNING {', '.join(returning)}").all()
    connection.exec_driver_sql(f"DROP TABLE {staging}")
    return [tuple(row) for row in inserted]


class _Staging:
    """A staging table as write_rows sees it: its own name, the real table's column types."""

    def __init__(self, name: str, table: Table):
        self.name = name
        self.c = table.c


def write_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert `rows` (tuples of Python values in the order of `columns`) into `table`; returns
    how many. Column defaults are not applied: every row gives every column named."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # COPY bypasses SQLAlchemy's types: JSON columns are given their text.
        as_json = [position for position, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
        cursor = connection.connection.driver_connection.cursor()
        count = 0
        # Names come from our own models, never from input.
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                if as_json:
                    row = list(row)
                    for position in as_json:
                        row[position] = json.dumps(row[position])
                copy.write_row(row)
                count += 1
        return count
    rows = list(rows)
    if rows:
        connection.execute(table.insert(), [dict(zip(columns, row)) for row in rows])
    return len(rows)
