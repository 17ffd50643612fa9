"""send batches and plan slices: a batch is claimed as one row; an edition is planned in slices

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "send_batches",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("edition_id", sa.Integer(), sa.ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("variant", sa.String(300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.Enum("pending", "sending", "sent", "unknown", "failed", "cancelled", name="batchstate",
                                    native_enum=False, length=20), nullable=False),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_send_batches_edition_state", "send_batches", ["edition_id", "state"])
    op.create_table(
        "plan_slices",
        sa.Column("edition_id", sa.Integer(), sa.ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("first_subscriber_id", sa.Integer(), nullable=False),
        sa.Column("last_subscriber_id", sa.Integer(), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
    )
    # Rows planned before this revision belong to no batch; a resume or the reconciliation cuts
    # batches for them (plan.batches_to_send).
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("batch_id", _BIG_ID, nullable=True))
    op.create_index("ix_deliveries_batch", "deliveries", ["batch_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_batch", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("batch_id")
    op.drop_table("plan_slices")
    op.drop_index("ix_send_batches_edition_state", table_name="send_batches")
    op.drop_table("send_batches")
