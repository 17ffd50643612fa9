"""Turns that concurrent workers take, each held until the taker's transaction ends.

On PostgreSQL, advisory transaction locks: (what, key) pairs, `what` one of the numbers below.
SQLite lets one writer at a time: a transaction holds the write lock from its first write to its
end, so workers that take a turn after having written (a poll has stored its articles, a slice has
been claimed) take turns there already, and nothing is done."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

# What a turn is for: the first key of the advisory lock (numbers of this project's own).
OPEN_ALERT = 7_301  # joining or opening the held alert (key 0)
ALERT_CAP = 7_302  # counting a block of readers' alerts today and planning theirs (key: the block)


def take_turns(session: Session, what: int, first: int, last: int | None = None) -> None:
    """Wait for the turns (what, first) to (what, last), and hold them until this transaction
    ends; taken in ascending order, so two takers of overlapping ranges never wait for each other
    in a circle."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = func.generate_series(first, first if last is None else last).table_valued("key").render_derived()
    session.connection().execute(select(func.count(func.pg_advisory_xact_lock(what, key.c.key))).select_from(key))
