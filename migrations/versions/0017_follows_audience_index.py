"""the follows of an alert's topics by reader: the index (topic, pace) gains the reader, so that
planning a slice of an alert reads that slice's followers only

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_follows_topic_pace_subscriber", "follows", ["topic_id", "pace", "subscriber_id"])
    # Its first two columns answer everything the old index did.
    op.drop_index("ix_follows_topic_pace", "follows")


def downgrade() -> None:
    op.create_index("ix_follows_topic_pace", "follows", ["topic_id", "pace"])
    op.drop_index("ix_follows_topic_pace_subscriber", "follows")
