"""The database: reachable, and migrated to the newest revision the code ships."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from digest.config import Settings
from digest.doctor.model import Check, ok
from digest.store.migrate import alembic_config

CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 5000


def _engine(url: str):
    # An engine of its own, so a server that does not answer costs seconds, not the OS's minutes,
    # and one that connects but hangs is cut off at each statement.
    if make_url(url).get_backend_name() != "postgresql":
        return create_engine(url)
    return create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS,
                                            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"})


def checks(settings: Settings) -> list[Check]:
    where = make_url(settings.DATABASE_URL).render_as_string(hide_password=True)
    engine = _engine(settings.DATABASE_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        reason = str(exc).splitlines()[0][:300]
        return [Check("database_reachable", "error", f"cannot reach the database at {where}: {reason}",
                      "start the database server, or correct DATABASE_URL (host, port, role, password)")]
    finally:
        engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config(settings.DATABASE_URL)).get_heads())
    reached = ok("database_reachable", f"the database at {where} answers")
    if current == heads:
        return [reached, ok("database_migrated", f"the schema is at the newest revision ({', '.join(sorted(heads))})")]
    found = ", ".join(sorted(current)) or "no revision (an empty database)"
    return [reached, Check("database_migrated", "error",
                           f"the schema is at {found}; the code needs {', '.join(sorted(heads))}",
                           "run `digest db upgrade` (stop the workers first when the release notes say so)")]
