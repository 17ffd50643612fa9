"""webhook replays: a kept webhook request records the SHA-256 of what was signed (its timestamp
and body), unique, so that the same request sent again is recognised as it arrives

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for batches kept before this revision: they are older than WEBHOOK_MAX_AGE_SECONDS
    # by the time anyone could replay them, and a request that old is refused by its timestamp.
    with op.batch_alter_table("webhook_batches") as batch_op:
        batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_webhook_batches_request", ["request_hash"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("webhook_batches") as batch_op:
        batch_op.drop_index("ix_webhook_batches_request")
        batch_op.drop_column("request_hash")
