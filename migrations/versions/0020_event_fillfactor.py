"""room on the events' pages for their verdicts to change in place: on PostgreSQL the events
table is filled to 80% (fillfactor), so re-writing an event's verdict after a rule change
(`digest events reclassify`) can put the new row version on the same page without touching any
index (a heap-only update: no index covers the verdict). Pages written from now on keep the room;
existing ones get it when the table is rewritten (docs/reports.md says how and what that locks).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

FILLFACTOR = 80  # room for a fifth of a page's rows to change at once (bench/classify_events.py)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite has no such setting
        op.execute(f"ALTER TABLE delivery_events SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE delivery_events RESET (fillfactor)")
