"""dispatch: runs, pool, positions, dispatch inputs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:05:00.982952
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('optimization_runs',
    sa.Column('territory_id', sa.Uuid(), nullable=True),
    sa.Column('date_from', sa.Date(), nullable=False),
    sa.Column('date_to', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('time_limit_s', sa.Float(), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('kpis', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('baseline_kpis', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('best_objective', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Uuid(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('applied_by_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['applied_by_id'], ['users.id'], name=op.f('fk_optimization_runs_applied_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_optimization_runs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_optimization_runs_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['territory_id'], ['territories.id'], name=op.f('fk_optimization_runs_territory_id_territories'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_optimization_runs'))
    )
    with op.batch_alter_table('optimization_runs', schema=None) as batch_op:
        batch_op.create_index('ix_optimization_runs_status', ['status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_optimization_runs_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('order_pool',
    sa.Column('work_order_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('published_by_id', sa.Uuid(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('radius_km', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('claimed_by_id', sa.Uuid(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claimed_by_id'], ['technicians.id'], name=op.f('fk_order_pool_claimed_by_id_technicians'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_order_pool_published_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_order_pool_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_order_pool_work_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_pool'))
    )
    with op.batch_alter_table('order_pool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_pool_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_order_pool_tenant_status', ['tenant_id', 'status', 'expires_at'], unique=False)
        batch_op.create_index('uq_order_pool_open_order', ['work_order_id'], unique=True, postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))

    # Plain add_column, not batch mode: SQLite batch mode recreates the table, which
    # breaks the foreign keys that point at technicians and work_orders.
    op.add_column('technician_shifts', sa.Column('break_start', sa.Time(), nullable=True))
    op.add_column('technician_shifts', sa.Column('break_minutes', sa.SmallInteger(), nullable=False, server_default='0'))
    op.add_column('technicians', sa.Column('max_work_minutes_per_day', sa.SmallInteger(), nullable=True))
    op.add_geospatial_column('technicians', sa.Column('last_position', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True))
    op.add_column('technicians', sa.Column('last_position_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('technicians', sa.Column('last_position_accuracy_m', sa.Float(), nullable=True))
    op.add_column('work_orders', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('work_orders', sa.Column('crew_size', sa.SmallInteger(), nullable=False, server_default='1'))
    op.add_column('work_orders', sa.Column('pin_technician', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('work_orders', sa.Column('lock_schedule', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Revert this revision."""
    for column in ('lock_schedule', 'pin_technician', 'crew_size', 'due_at'):
        op.drop_column('work_orders', column)
    op.drop_column('technicians', 'last_position_accuracy_m')
    op.drop_column('technicians', 'last_position_at')
    if op.get_bind().dialect.name == 'sqlite':
        # SpatiaLite guards geometry columns with triggers; discard them before the drop.
        op.execute("SELECT DiscardGeometryColumn('technicians', 'last_position')")
        op.drop_column('technicians', 'last_position')
    else:
        op.drop_geospatial_column('technicians', 'last_position')
    op.drop_column('technicians', 'max_work_minutes_per_day')
    op.drop_column('technician_shifts', 'break_minutes')
    op.drop_column('technician_shifts', 'break_start')

    with op.batch_alter_table('order_pool', schema=None) as batch_op:
        batch_op.drop_index('uq_order_pool_open_order', postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
        batch_op.drop_index('ix_order_pool_tenant_status')
        batch_op.drop_index(batch_op.f('ix_order_pool_tenant_id'))

    op.drop_table('order_pool')
    with op.batch_alter_table('optimization_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_optimization_runs_tenant_id'))
        batch_op.drop_index('ix_optimization_runs_status')

    op.drop_table('optimization_runs')
