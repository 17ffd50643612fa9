"""undated articles of a feed's first poll are back catalogue

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch_op:
        batch_op.add_column(sa.Column("back_catalogue", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("articles") as batch_op:
        batch_op.alter_column("back_catalogue", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch_op:
        batch_op.drop_column("back_catalogue")
