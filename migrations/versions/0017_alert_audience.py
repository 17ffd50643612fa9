"""an alert's audience a slice at a time: the follows index (topic, pace) gains the reader, so a
slice reads its own followers only; a batch keeps its lowest and highest member, so a slice's
daily cap reads only the batches that may hold its readers

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_follows_topic_pace_subscriber", "follows", ["topic_id", "pace", "subscriber_id"])
    # Its first two columns answer everything the old index did.
    op.drop_index("ix_follows_topic_pace", "follows")
    # Batches planned before stay NULL: the cap unnests them as before.
    with op.batch_alter_table("send_batches") as batch:
        batch.add_column(sa.Column("first_member_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("last_member_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("send_batches") as batch:
        batch.drop_column("last_member_id")
        batch.drop_column("first_member_id")
    op.create_index("ix_follows_topic_pace", "follows", ["topic_id", "pace"])
    op.drop_index("ix_follows_topic_pace_subscriber", "follows")
