"""Values from outside (a feed, its server's headers) fitted to the columns that keep them, by the
lengths the models declare. PostgreSQL refuses a string longer than its VARCHAR(n), or holding a
NUL character, and the statement fails whole (every item of a feed with it): nothing like that
may reach a column. SQLite would keep either silently."""

from __future__ import annotations

from sqlalchemy import Column, String, inspect
from sqlalchemy.orm import InstrumentedAttribute


def column_length(attribute: InstrumentedAttribute) -> int | None:
    """The declared length of a mapped column (`Feed.etag` -> 500); None when unbounded."""
    return _length(attribute.property.columns[0])


def _length(column: Column) -> int | None:
    return column.type.length if isinstance(column.type, String) else None


def fits(attribute: InstrumentedAttribute, value: str | None) -> bool:
    length = column_length(attribute)
    return value is None or length is None or len(value) <= length


def whole_or_none(attribute: InstrumentedAttribute, value: str | None) -> str | None:
    """`value` when it fits the column, else None: for a value that means nothing cut short
    (an ETag, a date)."""
    return value if fits(attribute, value) else None


def storable(model: type, values: dict) -> dict:
    """`values` (column name -> value) ready for `model`'s columns: NUL characters dropped from
    every string, and each string cut to its column's length, so text (titles, names, messages)
    loses its end rather than the row. Every column of `model` is covered, a new one too."""
    columns = inspect(model).columns
    ready = {}
    for name, value in values.items():
        if isinstance(value, str):
            value = value.replace("\x00", "")[:_length(columns[name])]
        ready[name] = value
    return ready


def assign(row: object, **values) -> None:
    """Set attributes of a mapped `row`, each value made storable first (see `storable`)."""
    for name, value in storable(type(row), values).items():
        setattr(row, name, value)
