"""edition skips and delivery variants

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edition_skips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("period"),
    )
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("variant", sa.String(length=300), nullable=True))
    with op.batch_alter_table("edition_renders") as batch_op:
        batch_op.alter_column("variant", type_=sa.String(length=300), existing_type=sa.String(length=200),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("edition_renders") as batch_op:
        batch_op.alter_column("variant", type_=sa.String(length=200), existing_type=sa.String(length=300),
                              existing_nullable=False)
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("variant")
    op.drop_table("edition_skips")
