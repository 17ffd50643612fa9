"""send batch members: a planned batch names its readers, and when it is handed over whole its
row alone records their acceptance; a reader gets a delivery row when something happens to
them (an event, a failure), or from reconciliation a while after the send

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for batches cut before this revision and for batches of existing pending rows
    # (retries, re-sends): those readers are the rows that name the batch, as before.
    with op.batch_alter_table("send_batches") as batch_op:
        batch_op.add_column(sa.Column("members", sa.ARRAY(sa.Integer()).with_variant(sa.JSON(), "sqlite"),
                                      nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A planned batch's readers have no rows yet: going back would lose them, so a downgrade
    # waits for every such batch to be sent or cancelled.
    bind = op.get_bind()
    waiting = bind.execute(sa.text(
        "SELECT count(*) FROM send_batches WHERE members IS NOT NULL"
        " AND (state IN ('pending', 'sending') OR (state = 'sent' AND recorded_at IS NULL))")).scalar()
    if waiting:
        raise RuntimeError(f"{waiting} planned send batches are still waiting or unrecorded; "
                           "send or cancel them, and let reconciliation record them, first")
    with op.batch_alter_table("send_batches") as batch_op:
        batch_op.drop_column("recorded_at")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("members")
