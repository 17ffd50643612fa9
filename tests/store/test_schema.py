"""The migration builds exactly the schema the models describe, on both databases."""

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
