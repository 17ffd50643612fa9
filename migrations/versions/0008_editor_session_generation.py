"""editor session generation and failure window

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editors") as batch_op:
        batch_op.add_column(sa.Column("failures_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("editors") as batch_op:
        batch_op.alter_column("session_generation", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("editors") as batch_op:
        batch_op.drop_column("session_generation")
        batch_op.drop_column("failures_since")
