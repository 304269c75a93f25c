"""sla: calendars, holidays, policies, clocks, escalations

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('sla_calendars',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('weekly_hours', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('holidays', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('is_24x7', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_sla_calendars_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_calendars')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_sla_calendars_tenant_id_name'))
    )
    with op.batch_alter_table('sla_calendars', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_calendars_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('sla_policies',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('customer_tier', sa.String(length=16), nullable=True),
    sa.Column('match_key', sa.String(length=32), nullable=False),
    sa.Column('first_response_minutes', sa.Integer(), nullable=True),
    sa.Column('arrival_minutes', sa.Integer(), nullable=True),
    sa.Column('resolution_minutes', sa.Integer(), nullable=True),
    sa.Column('calendar_id', sa.Uuid(), nullable=True),
    sa.Column('warn_at_percent', sa.SmallInteger(), nullable=False),
    sa.Column('pause_hold_reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('breach_actions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['sla_calendars.id'], name=op.f('fk_sla_policies_calendar_id_sla_calendars')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_sla_policies_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies'))
    )
    with op.batch_alter_table('sla_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_policies_calendar_id'), ['calendar_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_policies_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('uq_sla_policies_active_match', ['tenant_id', 'match_key'], unique=True, postgresql_where=sa.text('active'), sqlite_where=sa.text('active'))

    op.create_table('sla_clocks',
    sa.Column('work_order_id', sa.Uuid(), nullable=False),
    sa.Column('metric', sa.String(length=16), nullable=False),
    sa.Column('policy_id', sa.Uuid(), nullable=False),
    sa.Column('calendar_id', sa.Uuid(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('target_seconds', sa.Integer(), nullable=False),
    sa.Column('warn_at_percent', sa.SmallInteger(), nullable=False),
    sa.Column('consumed_seconds', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('running_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('warn_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('warned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('breached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['sla_calendars.id'], name=op.f('fk_sla_clocks_calendar_id_sla_calendars'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policies.id'], name=op.f('fk_sla_clocks_policy_id_sla_policies')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_sla_clocks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_sla_clocks_work_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clocks')),
    sa.UniqueConstraint('work_order_id', 'metric', name=op.f('uq_sla_clocks_work_order_id_metric'))
    )
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_clocks_calendar_id'), ['calendar_id'], unique=False)
        batch_op.create_index('ix_sla_clocks_next_check', ['next_check_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_clocks_policy_id'), ['policy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_clocks_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('sla_escalations',
    sa.Column('work_order_id', sa.Uuid(), nullable=False),
    sa.Column('clock_id', sa.Uuid(), nullable=True),
    sa.Column('metric', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_by_id', sa.Uuid(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_sla_escalations_acknowledged_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['clock_id'], ['sla_clocks.id'], name=op.f('fk_sla_escalations_clock_id_sla_clocks'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_sla_escalations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_sla_escalations_work_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_escalations'))
    )
    with op.batch_alter_table('sla_escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_escalations_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_sla_escalations_tenant_open', ['tenant_id', 'acknowledged_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_escalations_work_order_id'), ['work_order_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('sla_escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_escalations_work_order_id'))
        batch_op.drop_index('ix_sla_escalations_tenant_open')
        batch_op.drop_index(batch_op.f('ix_sla_escalations_tenant_id'))
    op.drop_table('sla_escalations')
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_clocks_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_sla_clocks_policy_id'))
        batch_op.drop_index('ix_sla_clocks_next_check')
        batch_op.drop_index(batch_op.f('ix_sla_clocks_calendar_id'))
    op.drop_table('sla_clocks')
    with op.batch_alter_table('sla_policies', schema=None) as batch_op:
        batch_op.drop_index(
            'uq_sla_policies_active_match',
            postgresql_where=sa.text('active'),
            sqlite_where=sa.text('active'),
        )
        batch_op.drop_index(batch_op.f('ix_sla_policies_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_sla_policies_calendar_id'))
    op.drop_table('sla_policies')
    with op.batch_alter_table('sla_calendars', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_calendars_tenant_id'))
    op.drop_table('sla_calendars')
