"""who made an open or a click: each open and click event records "human", "machine" or
"unknown" and the rule that decided; events kept before are "unknown" (counted as they were,
never as machines, so no reader turns inactive by the upgrade) until `digest events reclassify`

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_ENGAGEMENT = "('event:open', 'event:click')"


def upgrade() -> None:
    with op.batch_alter_table("delivery_events") as batch:
        batch.add_column(sa.Column("audience", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("audience_reason", sa.String(length=100), nullable=True))
    op.execute("UPDATE delivery_events SET audience = 'unknown', audience_reason = 'kept before classification' "
               "WHERE event IN ('open', 'click')")
    # The running counts and each reader's marks of the events kept before, as unknown ones.
    op.execute(f"INSERT INTO reader_marks (delivery_id, mark) SELECT delivery_id, 'unknown:' || mark "
               f"FROM reader_marks WHERE mark IN {_ENGAGEMENT}")
    op.execute(f"INSERT INTO edition_counts (edition_id, key, readers, total) "
               f"SELECT edition_id, 'unknown:' || key, readers, total FROM edition_counts WHERE key IN {_ENGAGEMENT}")


def downgrade() -> None:
    op.execute("DELETE FROM edition_counts WHERE key LIKE 'human:%' OR key LIKE 'machine:%' "
               "OR key LIKE 'unknown:%' OR key LIKE 'hour:human:%' OR key LIKE 'hour:machine:%'")
    op.execute("DELETE FROM reader_marks WHERE mark LIKE 'human:%' OR mark LIKE 'machine:%' OR mark LIKE 'unknown:%'")
    with op.batch_alter_table("delivery_events") as batch:
        batch.drop_column("audience_reason")
        batch.drop_column("audience")
