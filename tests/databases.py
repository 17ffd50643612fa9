"""Throw-away PostgreSQL databases, for the test sessions and the benchmarks: created on the
server `admin_url` names, dropped (connections and all) when the caller is done; and the
statements a block of code runs, as the tests of what things cost count them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url


def scratch_postgres(admin_url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A new database named `<prefix>_<random>`: its URL, and the function that drops it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


class Statements(list):
    """(statement, parameters) of each statement run, parameters None for one run over many
    sets of them; `compiled`: the statements SQLAlchemy compiled to run them (not found in the
    engine's cache)."""

    def __init__(self) -> None:
        super().__init__()
        self.compiled: list[str] = []


@contextmanager
def statements() -> Iterator[Statements]:
    """The SQL statements run inside the block on the process's engine; COPY, which bypasses
    SQLAlchemy, is not seen."""
    from digest.store.db import get_engine

    seen = Statements()

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, None if executemany else parameters))
        if context.cache_hit == context.dialect.CACHE_MISS:
            seen.compiled.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
