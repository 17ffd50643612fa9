"""editor lock-out and API tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editors") as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("api_token_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint("uq_editors_api_token_hash", ["api_token_hash"])
    with op.batch_alter_table("editors") as batch_op:
        batch_op.alter_column("failed_logins", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("editors") as batch_op:
        batch_op.drop_constraint("uq_editors_api_token_hash", type_="unique")
        batch_op.drop_column("api_token_hash")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
