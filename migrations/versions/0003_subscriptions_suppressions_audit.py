"""subscriptions: preferences, consent, soft bounces; suppressions; audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('suppressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('reason', sa.Enum('hard_bounce', 'soft_bounces', 'spam_report', 'block', 'unsubscribe', 'operator', 'forgotten', name='suppressionreason', native_enum=False, length=20), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email_hash')
    )
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.create_index('ix_suppressions_email', ['email'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('email_hash', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_email_hash'), ['email_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_subscriber_id'), ['subscriber_id'], unique=False)

    # Server defaults fill the rows that exist already; the models set every value themselves.
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('format', sa.Enum('html', 'text', name='subscriberformat', native_enum=False, length=20), nullable=False, server_default='html'))
        batch_op.add_column(sa.Column('paused', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('attributes', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('signup_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('signup_ip', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('confirm_ip', sa.String(length=45), nullable=True))
        batch_op.add_column(sa.Column('soft_bounces', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_column('soft_bounces')
        batch_op.drop_column('confirm_ip')
        batch_op.drop_column('signup_ip')
        batch_op.drop_column('signup_at')
        batch_op.drop_column('attributes')
        batch_op.drop_column('paused')
        batch_op.drop_column('format')

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_subscriber_id'))
        batch_op.drop_index(batch_op.f('ix_audit_log_email_hash'))

    op.drop_table('audit_log')
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_index('ix_suppressions_email')

    op.drop_table('suppressions')
