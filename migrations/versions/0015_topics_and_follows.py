"""topics and follows: sections, tags and authors as the articles name them, the articles filed
under each, the readers who follow them at a pace; a reader's pause with an end, and "digest only"

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=20)


def upgrade() -> None:
    op.create_table(
        "topics",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", _enum("topickind", "section", "tag", "author"), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), sa.ForeignKey("topics.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "key", name="uq_topics_kind_key"),
    )
    op.create_table(
        "article_topics",
        sa.Column("article_id", sa.Integer(), sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("topic_id", sa.Integer(), sa.ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_article_topics_topic", "article_topics", ["topic_id"])
    op.create_table(
        "follows",
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("topic_id", sa.Integer(), sa.ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("pace", _enum("pace", "digest", "alert"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_follows_topic_pace", "follows", ["topic_id", "pace"])
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("digest_only", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("digest_only")
        batch.drop_column("paused_until")
    op.drop_index("ix_follows_topic_pace", "follows")
    op.drop_table("follows")
    op.drop_index("ix_article_topics_topic", "article_topics")
    op.drop_table("article_topics")
    op.drop_table("topics")
