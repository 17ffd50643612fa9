"""The schema: `digest db`."""

from __future__ import annotations


from digest.cli.common import console, db_app


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    from digest.store.migrate import upgrade

    upgrade()
    console.print("database is up to date")
