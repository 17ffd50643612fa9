"""The members of a planned send batch, read where they are stored (an integer array on
PostgreSQL, a JSON list on SQLite), by the writer and the reader of the ledger alike."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.orm import Session

from digest.store.models import SendBatch


def member_ids(session: Session | str):
    """A batch's members as rows of a lateral join on send_batches (unnested on PostgreSQL,
    json_each on SQLite), and the column holding each one's subscriber id: a thousand ids
    never travel to Python and back as a parameter. For a session, or a dialect's name (a
    statement made once for every session)."""
    dialect = session if isinstance(session, str) else session.get_bind().dialect.name
    if dialect == "postgresql":
        member = func.unnest(SendBatch.members).table_valued("id").render_derived().lateral()
        return member, member.c.id
    member = func.json_each(SendBatch.members).table_valued("value")
    return member, member.c.value
