"""alert carries: the articles of an alert that the daily cap held a reader back from, owed to
them in their first alert on a later local day; an alert's item may be such a carried article

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_carries",
        sa.Column("subscriber_id", sa.Integer(), primary_key=True),
        sa.Column("article_id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("edition_items") as batch:
        batch.add_column(sa.Column("carried", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("edition_items") as batch:
        batch.drop_column("carried")
    op.drop_table("alert_carries")
