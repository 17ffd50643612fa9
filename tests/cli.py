"""The `digest` command in tests. `digest(...)` runs it in this process, as `python -m digest` runs
it (digest.cli.main: exit code, standard output, standard error, stdin), through Click's test
runner: milliseconds instead of a new Python process per command. `digest_process(...)` runs a
real process, for the few smoke tests that must see one (imports, entry point, environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from typer.testing import CliRunner

from digest.cli import main
from digest.cli.common import console, err


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def digest(*args: str, stdin: str | None = None) -> Ran:
    argv = sys.argv
    # A new process sizes its consoles from COLUMNS (80 without a terminal); these live on.
    for output in (console, err):
        output.width = int(os.environ.get("COLUMNS", "80"))
    with CliRunner().isolation(input=stdin) as (stdout, stderr, _):
        sys.argv = ["digest", *args]
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        finally:
            sys.argv = argv
            sys.stdout.flush()  # what a command wrote past Rich is still in the wrapper's buffer
            sys.stderr.flush()
        return Ran(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def digest_process(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digest", *args], capture_output=True, text=True,
                          input=stdin, timeout=60)
