"""feed health (warning, last new article) and the Analyst's article structure

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import re

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Same rule as digest.feeds.identity at the time of writing (a migration must not import code
# that may change): a Joomla K2 item is keyed by its site and numeric id.
_K2_ITEM = re.compile(r"^https?://(?:www\.)?([^/:]+?)\.?(?::\d+)?/(?:[^?#]*/)?item/(\d+)(?:-[^/?#]*)?(?:\.html)?(?:[?#].*)?$", re.I)


def upgrade() -> None:
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_warning', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('last_new_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issue_date', sa.Date(), nullable=True))
        # The defaults fill existing rows (and let SQLite add the column without a table rebuild).
        batch_op.add_column(sa.Column('tags', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('structure', sa.JSON(), nullable=False, server_default='{}'))

    _rekey_k2_articles()


def _rekey_k2_articles() -> None:
    """Articles stored under their URL get the K2 key a new poll computes, so it finds them."""
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, feed_id, entry_key FROM articles")).all()
    taken = {(feed_id, key) for _, feed_id, key in rows}
    for article_id, feed_id, key in rows:
        match = _K2_ITEM.match(key)
        if not match:
            continue
        new_key = f"k2:{match.group(1).lower()}:{int(match.group(2))}"
        if (feed_id, new_key) in taken:
            continue
        taken.add((feed_id, new_key))
        connection.execute(sa.text("UPDATE articles SET entry_key = :key WHERE id = :id"),
                           {"key": new_key, "id": article_id})


def downgrade() -> None:
    with op.batch_alter_table('articles', schema=None) as batch_op:
        batch_op.drop_column('structure')
        batch_op.drop_column('tags')
        batch_op.drop_column('issue_date')

    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.drop_column('last_new_at')
        batch_op.drop_column('last_warning')
