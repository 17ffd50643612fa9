"""The migration builds exactly the schema the models describe, on both databases."""

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from digest.store.db import get_engine
from digest.store.models import Base


def test_the_migrated_schema_matches_the_models(settings):
    engine = create_engine(settings.DATABASE_URL)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(settings):
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        pytest.skip("WAL and PRAGMAs are SQLite's")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_postgresql_leaves_room_on_the_events_pages_for_verdicts_to_change(settings):
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        pytest.skip("a table's fillfactor is PostgreSQL's")
    with engine.connect() as connection:
        options = connection.execute(text(
            "SELECT reloptions FROM pg_class WHERE relname = 'delivery_events'")).scalar()
    assert options == ["fillfactor=80"]  # migrations/versions/0020_event_fillfactor.py


def test_postgresql_hands_back_times_in_utc_itself(settings):
    """The connection is set to UTC whatever the server's default, so times come back with
    datetime.UTC and no value needs converting (and SQL on local times cannot drift)."""
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps naive UTC times")
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # a fresh transaction: the setting survives it
        connection.commit()
        zone = connection.execute(text("SHOW TIME ZONE")).scalar()
        moment = connection.execute(text("SELECT TIMESTAMPTZ '2026-12-06 12:00:00+05'")).scalar()
    assert zone == "UTC"
    assert moment.tzinfo is dt.UTC and moment.hour == 7
