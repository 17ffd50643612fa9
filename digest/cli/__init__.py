"""The `digest` command: what editors and operators do from a shell.

Bad input exits with code 2 and one line naming it; nothing is written in that case, because
each command is one transaction that rolls back on error.
"""

import sys

# Each module registers its commands on the apps in `common` when imported.
from digest.cli import (accounts, alerts, db, doctor, editions, events, feeds, follows, ops,  # noqa: F401
                        service, subscribers, topics)
from digest.cli.common import app, err
from digest.config import ConfigError
from digest.errors import UserError


def main() -> None:
    try:
        app()
    except (UserError, ConfigError) as exc:
        # One line however long (a URL and the reason it is refused), whatever the terminal width.
        err.print(f"Error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
