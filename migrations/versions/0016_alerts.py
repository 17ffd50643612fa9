"""alerts are editions: a kind (digest or alert), no period for an alert, its hold, and the
topics each of its articles is new on

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("kind", sa.Enum("digest", "alert", name="editionkind", native_enum=False,
                                                   length=20), nullable=False, server_default="digest"))
        batch.add_column(sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column("period", existing_type=sa.Date(), nullable=True)
        batch.create_index("ix_editions_kind_status", ["kind", "status"])
    with op.batch_alter_table("edition_items") as batch:
        batch.add_column(sa.Column("topics", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    op.execute("DELETE FROM editions WHERE kind = 'alert'")
    with op.batch_alter_table("edition_items") as batch:
        batch.drop_column("topics")
    with op.batch_alter_table("editions") as batch:
        batch.drop_index("ix_editions_kind_status")
        batch.alter_column("period", existing_type=sa.Date(), nullable=False)
        batch.drop_column("hold_until")
        batch.drop_column("kind")
