"""edition reports: normalized event columns, the per-edition link map and running counts

Events kept before this revision get their edition and reader here; their counts are rebuilt
per edition with `digest editions recount ID`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_events") as batch_op:
        batch_op.add_column(sa.Column("edition_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("subscriber_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("url", sa.String(2000), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(40), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(500), nullable=True))
    op.create_index("ix_delivery_events_edition", "delivery_events", ["edition_id", "event", "delivery_id"])
    op.create_index("ix_delivery_events_subscriber", "delivery_events", ["subscriber_id", "event", "occurred_at"])
    # Events kept before this revision: their edition and reader come from their delivery.
    op.execute("UPDATE delivery_events SET "
               "edition_id = (SELECT edition_id FROM deliveries WHERE deliveries.id = delivery_events.delivery_id), "
               "subscriber_id = (SELECT subscriber_id FROM deliveries WHERE deliveries.id = delivery_events.delivery_id) "
               "WHERE delivery_id IS NOT NULL")
    op.create_table(
        "edition_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("edition_id", sa.Integer(), sa.ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("article_id", sa.Integer(), sa.ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
        sa.Column("section", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("edition_id", "url", name="uq_edition_links_url"),
    )
    op.create_table(
        "edition_counts",
        sa.Column("edition_id", sa.Integer(), sa.ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(600), primary_key=True),
        sa.Column("readers", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
    )
    op.create_table(
        "reader_marks",
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("mark", sa.String(100), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("reader_marks")
    op.drop_table("edition_counts")
    op.drop_table("edition_links")
    op.drop_index("ix_delivery_events_subscriber", "delivery_events")
    op.drop_index("ix_delivery_events_edition", "delivery_events")
    with op.batch_alter_table("delivery_events") as batch_op:
        for column in ("reason", "kind", "url", "subscriber_id", "edition_id"):
            batch_op.drop_column(column)
