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


def copy_text(value: str | None) -> str:
    """`value` as a field of COPY's text format: NULL as \\N; a backslash, tab, newline or carriage
    return escaped with a backslash. Fields are joined with tabs, a row ends with a newline."""
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_lines(session: Session, table: Table, columns: Sequence[str], lines: str) -> None:
    """PostgreSQL: COPY rows already written in COPY's text format (copy_text) into `table`.
    For rows formatted where Python has time to spare (a thread that otherwise waits on the
    database), so that the COPY itself costs the connection only the server's work."""
    cursor = session.connection().connection.driver_connection.cursor()
    # Names come from our own models, never from input.
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(lines)
