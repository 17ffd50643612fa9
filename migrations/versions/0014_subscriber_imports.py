"""subscriber imports: an uploaded CSV file is kept for a worker to import, with its progress

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriber_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("what", sa.String(300), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("state", sa.Enum("queued", "running", "done", "failed", name="importstate",
                                    native_enum=False, length=20), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("through_line", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("subscriber_imports")
