"""`digest doctor`: whether this set-up is ready to go live (digest/doctor/)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from digest.cli.common import app, console

MARK = {"ok": "[green]ok[/green]     ", "warning": "[yellow]warning[/yellow]", "error": "[red]error[/red]  "}


@app.command("doctor")
def doctor(as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON")] = False) -> None:
    """Check settings, database, Redis, workers, beat and SendGrid for going live; exits 1 on an error."""
    from digest.doctor.run import record, run_checks

    found = run_checks()
    record(found)
    if as_json:
        sys.stdout.write(json.dumps({"checks": [check.as_dict() for check in found]}, indent=2) + "\n")
    else:
        for check in found:
            console.print(MARK[check.state], end=" ")
            console.print(f"{check.name}: {check.found}", markup=False, highlight=False, soft_wrap=True)
            if check.fix:
                console.print(f"           fix: {check.fix}", markup=False, highlight=False, soft_wrap=True)
        counts = {state: sum(check.state == state for check in found) for state in MARK}
        console.print(f"{counts['ok']} ok, {counts['warning']} warnings, {counts['error']} errors")
    if any(check.state == "error" for check in found):
        raise typer.Exit(1)
