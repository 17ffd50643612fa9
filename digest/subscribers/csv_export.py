"""Export subscribers to CSV, streamed from the database in batches. The columns are those that
csv_import reads, then the state columns it ignores, then one column per attribute key."""

from __future__ import annotations

import csv
import datetime as dt
from typing import TextIO

from sqlalchemy import Boolean, select, type_coerce
from sqlalchemy.orm import Session

from digest.store.models import Subscriber, SubscriberStatus, Suppression
from digest.subscribers.csv_import import FORMULA_START, IMPORT_COLUMNS, STATE_COLUMNS
from digest.subscribers.lifecycle import not_paused

BATCH_SIZE = 2000


def guard(value: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading quote (csv_import removes it):
    names and attributes come from a public form."""
    return "'" + value if value[:1] in FORMULA_START and value else value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return guard(";".join(value))
    return guard(str(value))


def export_subscribers(session: Session, out: TextIO, status: SubscriberStatus | None = None) -> int:
    """Write the subscribers (all, or those with `status`) to `out`; returns how many."""
    where = [Subscriber.status == status] if status is not None else []
    keys: set[str] = set()
    for attributes in session.scalars(select(Subscriber.attributes).where(*where)
                                      .execution_options(yield_per=BATCH_SIZE)):
        keys.update(attributes or {})
    extra = sorted(keys)
    writer = csv.writer(out, lineterminator="\r\n")
    # Attribute keys are column names from an imported file: guarded like every other cell.
    writer.writerow([*IMPORT_COLUMNS, *STATE_COLUMNS, *(guard(key) for key in extra)])
    # Columns, not ORM objects: nothing is kept per row, so memory stays flat for any size.
    sub = Subscriber
    rows = session.execute(
        select(sub.email, sub.name, sub.sections, sub.confirmed_at, sub.source, sub.status, sub.format,
               type_coerce(~not_paused(), Boolean), Suppression.reason, sub.unsubscribed_at, sub.created_at, sub.attributes)
        .outerjoin(Suppression, Suppression.email == sub.email)
        .where(*where).order_by(sub.id).execution_options(yield_per=BATCH_SIZE)
    )
    count = 0
    for *fields, attributes in rows:
        attributes = attributes or {}
        writer.writerow([_cell(getattr(v, "value", v)) for v in fields]
                        + [_cell(attributes.get(key)) for key in extra])
        count += 1
    return count
