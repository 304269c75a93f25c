"""stock ledger: locations, append-only movements, balances, serial units, discrepancies

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 19:25:15.793983
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # Reviewed by hand: new tables only; balances are derived from movements, so there is
    # nothing to backfill (no stock existed before the ledger).
    op.create_table('stock_locations',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('technician_id', sa.Uuid(), nullable=True),
    sa.Column('site_id', sa.Uuid(), nullable=True),
    sa.Column('warehouse_id', sa.Uuid(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_stock_locations_site_id_sites'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_stock_locations_technician_id_technicians'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_locations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['warehouse_id'], ['stock_locations.id'], name=op.f('fk_stock_locations_warehouse_id_stock_locations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_locations')),
    sa.UniqueConstraint('tenant_id', 'code', name=op.f('uq_stock_locations_tenant_id_code')),
    sa.UniqueConstraint('tenant_id', 'site_id', name=op.f('uq_stock_locations_tenant_id_site_id')),
    sa.UniqueConstraint('tenant_id', 'technician_id', name=op.f('uq_stock_locations_tenant_id_technician_id'))
    )
    with op.batch_alter_table('stock_locations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_locations_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('serial_units',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('part_id', sa.Uuid(), nullable=False),
    sa.Column('serial', sa.String(length=100), nullable=False),
    sa.Column('location_id', sa.Uuid(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['stock_locations.id'], name=op.f('fk_serial_units_location_id_stock_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_serial_units_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_serial_units_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'part_id', 'serial', name=op.f('pk_serial_units'))
    )
    with op.batch_alter_table('serial_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_serial_units_location_id'), ['location_id'], unique=False)

    op.create_table('stock_balances',
    sa.Column('location_id', sa.Uuid(), nullable=False),
    sa.Column('part_id', sa.Uuid(), nullable=False),
    sa.Column('on_hand', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('reserved', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['stock_locations.id'], name=op.f('fk_stock_balances_location_id_stock_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_balances_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_balances_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_balances')),
    sa.UniqueConstraint('location_id', 'part_id', name=op.f('uq_stock_balances_location_id_part_id'))
    )
    with op.batch_alter_table('stock_balances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_balances_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('stock_movements',
    sa.Column('part_id', sa.Uuid(), nullable=False),
    sa.Column('from_location_id', sa.Uuid(), nullable=False),
    sa.Column('to_location_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('serial_numbers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('work_order_id', sa.Uuid(), nullable=True),
    sa.Column('reverses_id', sa.Uuid(), nullable=True),
    sa.Column('part_usage_id', sa.Uuid(), nullable=True),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_stock_movements_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['from_location_id'], ['stock_locations.id'], name=op.f('fk_stock_movements_from_location_id_stock_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_movements_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reverses_id'], ['stock_movements.id'], name=op.f('fk_stock_movements_reverses_id_stock_movements'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_movements_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_location_id'], ['stock_locations.id'], name=op.f('fk_stock_movements_to_location_id_stock_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_stock_movements_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movements')),
    sa.UniqueConstraint('part_usage_id', name=op.f('uq_stock_movements_part_usage_id')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_stock_movements_reverses_id'))
    )
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.create_index('ix_stock_movements_from', ['from_location_id', 'part_id'], unique=False)
        batch_op.create_index('ix_stock_movements_part_time', ['tenant_id', 'part_id', 'recorded_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movements_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_stock_movements_to', ['to_location_id', 'part_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movements_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('stock_discrepancies',
    sa.Column('location_id', sa.Uuid(), nullable=False),
    sa.Column('part_id', sa.Uuid(), nullable=False),
    sa.Column('movement_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('resolved_by_id', sa.Uuid(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['stock_locations.id'], name=op.f('fk_stock_discrepancies_location_id_stock_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['movement_id'], ['stock_movements.id'], name=op.f('fk_stock_discrepancies_movement_id_stock_movements'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_discrepancies_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_stock_discrepancies_resolved_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_discrepancies_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_discrepancies'))
    )
    with op.batch_alter_table('stock_discrepancies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_discrepancies_location_id'), ['location_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_discrepancies_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('stock_discrepancies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_discrepancies_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_stock_discrepancies_location_id'))

    op.drop_table('stock_discrepancies')
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_movements_work_order_id'))
        batch_op.drop_index('ix_stock_movements_to')
        batch_op.drop_index(batch_op.f('ix_stock_movements_tenant_id'))
        batch_op.drop_index('ix_stock_movements_part_time')
        batch_op.drop_index('ix_stock_movements_from')

    op.drop_table('stock_movements')
    with op.batch_alter_table('stock_balances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_balances_tenant_id'))

    op.drop_table('stock_balances')
    with op.batch_alter_table('serial_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_serial_units_location_id'))

    op.drop_table('serial_units')
    with op.batch_alter_table('stock_locations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_locations_tenant_id'))

    op.drop_table('stock_locations')
