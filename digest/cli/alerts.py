"""Alerts: `digest alerts list`, `digest alerts cancel`."""

from __future__ import annotations

from typing import Annotated

import typer

from digest.cli.common import EditionId, alerts_app, console, send_action, transaction
from digest.cli.listing import Column, print_list

ALERT_COLUMNS = [
    Column("id", "id"), Column("status", "status"), Column("held until", "hold_until", optional=True),
    Column("articles", "articles"), Column("readers", "readers", optional=True),
    Column("subject", "subject", wraps=True),
]


@alerts_app.command("list")
def alerts_list(as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON")] = False) -> None:
    """Recent alerts, newest first: held ones with the end of their hold."""
    from digest.alerts.listing import list_alerts

    with transaction() as session:
        rows = list_alerts(session)
    print_list(rows, ALERT_COLUMNS, as_json=as_json, empty="no alert yet")


@alerts_app.command("cancel")
def alerts_cancel(alert_id: EditionId) -> None:
    """Cancel an alert: held, it never goes out; sending, the readers not yet handed over get nothing."""
    from digest.editions.lookup import get_edition
    from digest.errors import NotFound
    from digest.store.models import EditionKind

    with transaction() as session:
        if get_edition(session, alert_id, items=False).kind != EditionKind.ALERT:
            raise NotFound(f"alert {alert_id} does not exist (edition {alert_id} is a digest)")
    cancelled = send_action(alert_id, "cancel").deliveries
    console.print(f"alert {alert_id} cancelled; {cancelled} deliveries will not be sent")
