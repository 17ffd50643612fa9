"""Lists the `digest` command prints: a table that stays readable in an 80-column terminal, or
the same rows as JSON (`--json`) for scripts.

A narrow terminal drops the columns marked optional, last first, until the table fits; long
values (URLs, subjects, errors) wrap whole within their column instead of being cut to `http:…`.
Cell text is never read as Rich markup: a subject or a feed's error may contain `[brackets]`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from digest.cli.common import console, local_time

GAP = 3  # what a column costs beside its text: padding and the space between columns


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    show: Callable[[Any], str] | None = None  # the value as printed (JSON keeps the raw value)
    optional: bool = False  # dropped, last first, when the terminal is too narrow
    wraps: bool = False  # long values wrap (subjects, URLs, errors); others never break

    def text(self, row: dict) -> str:
        value = row.get(self.key)
        if self.show is not None:
            return self.show(value)
        if value is None:
            return "-"
        if isinstance(value, dt.datetime):
            return local_time(value)
        return str(value)


def json_value(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def print_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=json_value, ensure_ascii=False) + "\n")


def fitting_columns(columns: list[Column], rows: list[dict], width: int) -> list[Column]:
    """The columns to show in `width`: optional ones go, last first, while the rest is too wide
    to show every value on one line. Only then does a long value wrap, in the room left."""

    def needed(column: Column) -> int:
        return max([len(column.header), *(len(column.text(row)) for row in rows)]) + GAP

    shown = list(columns)
    optional = [column for column in columns if column.optional]
    while sum(map(needed, shown)) > width and optional:
        shown.remove(optional.pop())
    return shown


def print_list(rows: list[dict], columns: list[Column], *, as_json: bool, empty: str, title: str | None = None) -> None:
    """Print `rows` as JSON (every key) or as a table of `columns` fitted to the terminal."""
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(empty, highlight=False, markup=False)
        return
    console.print(list_table(rows, columns, title=title))


def list_table(rows: list[dict], columns: list[Column], title: str | None = None) -> Table:
    shown = fitting_columns(columns, rows, console.width)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title=title, title_justify="left", title_style="bold")
    for column in shown:
        longest = max([len(column.header), *(len(column.text(row)) for row in rows)])
        table.add_column(column.header, no_wrap=not column.wraps, overflow="fold",
                         min_width=None if column.wraps else longest)
    for row in rows:
        table.add_row(*(Text(column.text(row)) for column in shown))
    return table
