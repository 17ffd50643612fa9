"""No NUL character gets into the app: PostgreSQL can neither store one in a text column nor
compare a column with one (the query fails, a 500), and no person types one. A query parameter
(checked for every route: a dependency of the app) or an editor's form field (EditorForm.get)
holding one is bad input, named: 400, nothing done."""

from __future__ import annotations

from fastapi import Request

from digest.errors import InputError


def refuse_nul(value: str, what: str) -> str:
    if "\x00" in value:
        raise InputError(f"{what} holds a NUL character, which no text here may hold")
    return value


async def no_nul_in_query(request: Request) -> None:
    # async: a few string checks, on the event loop rather than a thread hop for every request.
    for name, value in request.query_params.multi_items():
        refuse_nul(name + value, f"query parameter {name.replace(chr(0), '')!r}")
