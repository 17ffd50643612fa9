"""Engine and sessions. A unit of work is one transaction; work that must only happen once the
rows it refers to are visible to others (enqueueing a task) is registered with `on_commit`."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from digest.config import get_settings

_AFTER_COMMIT = "digest.after_commit"


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web app read while a worker writes; busy_timeout makes writers wait, not fail.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()
    dbapi_connection.create_aggregate("bit_or", 1, _BitOr)


def _configure_postgresql(dbapi_connection, _record) -> None:
    # Every time is stored and compared in UTC. Named "UTC" exactly (the server's default may be
    # "Etc/UTC"), psycopg hands back datetimes with datetime.UTC itself, which the UTC column
    # type then passes through instead of converting each value (store/models.py).
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


class _BitOr:
    """PostgreSQL's bit_or aggregate, which SQLite lacks (an alert's audience uses it)."""

    def __init__(self) -> None:
        self.value = None

    def step(self, value: int | None) -> None:
        if value is not None:
            self.value = (self.value or 0) | value

    def finalize(self) -> int | None:
        return self.value


def build_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    # Up to 10 connections kept open: a web process under a post-send burst has that many requests
    # in the database at once, and a connection opened and closed per request (overflow past the
    # pool) costs PostgreSQL a backend process each time. A worker process uses one or two.
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    event.listen(engine, "connect", _configure_postgresql)
    return engine


_engines: dict[str, Engine] = {}


def get_engine(url: str | None = None) -> Engine:
    """The process's engine for `url` (default DATABASE_URL), created once."""
    url = url or get_settings().DATABASE_URL
    if url not in _engines:
        _engines[url] = build_engine(url)
    return _engines[url]


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests and benchmarks that move to
    another database)."""
    while _engines:
        _engines.popitem()[1].dispose()
    _session_factory.cache_clear()


def forget_inherited_connections() -> None:
    """In a forked child: start each engine's pool afresh without closing the parent's sockets
    (sharing them would corrupt both), keeping the engine, its dialect and compiled statements."""
    for engine in _engines.values():
        engine.dispose(close=False)


@functools.lru_cache(maxsize=8)
def _session_factory(engine: Engine) -> sessionmaker[Session]:
    # One per engine: a sessionmaker makes a Session subclass, whose event dispatch SQLAlchemy
    # sets up anew (about 0.13 ms, more than the session itself): a web request or a task that
    # made one per unit of work paid that every time.
    return sessionmaker(engine, expire_on_commit=False)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def on_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run `callback` once this session's transaction commits; never if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@contextlib.contextmanager
def unit_of_work(engine: Engine | None = None, *, hold_connection: bool = False) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back (nothing written) on error.

    `hold_connection`: the session keeps one connection from start to end, through the commits
    its work makes on the way (a send batch commits its claim, then its outcome), where a session
    gives its connection back at each commit and takes one again, with the pool's ping, at its
    next statement: three pings a send batch. A task holds one; a web request, which may send
    no statement at all, does not (its session connects at its first)."""
    engine = engine or get_engine()
    with engine.connect() if hold_connection else contextlib.nullcontext(engine) as bind:
        session = _session_factory(engine)(bind=bind)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
