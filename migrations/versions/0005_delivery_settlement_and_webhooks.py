"""delivery settlement and webhook batches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch_op:
        batch_op.add_column(sa.Column("provider_batch_id", sa.String(length=100), nullable=True))
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("event_at", sa.DateTime(timezone=True), nullable=True))
        # Claimed rows are found by primary key with their token; the index only slowed claims.
        batch_op.drop_index("ix_deliveries_claim_token")
    op.create_table(
        "webhook_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_batches_unprocessed", "webhook_batches", ["processed_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_batches_unprocessed", table_name="webhook_batches")
    op.drop_table("webhook_batches")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.create_index("ix_deliveries_claim_token", ["claim_token"])
        batch_op.drop_column("event_at")
    with op.batch_alter_table("editions") as batch_op:
        batch_op.drop_column("provider_batch_id")
