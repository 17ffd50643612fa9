"""Ids in addresses and forms. A number outside 1..MAX_ID names no row, so it is a 404 like any
id that does not exist, answered before a query: the database would refuse the number itself
(PostgreSQL: "integer out of range"; SQLite past 2^63), which was a 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from digest.errors import InputError, NotFound
from digest.store.models import MAX_ID

# Every route with an id in its path takes it as a RowId; the app's handler of path errors
# (app.py, `malformed`) answers 404 for a value out of range, as for /editions/abc.
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


def is_row_id(number: int) -> bool:
    return 1 <= number <= MAX_ID


def form_id(value: str, what: str) -> int:
    """An id from a form field: 400 when it is not a whole number, 404 when no row can have it."""
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"{what} {value!r} is not a number") from None
    if not is_row_id(number):
        raise NotFound(f"{what} {value} does not exist")
    return number
