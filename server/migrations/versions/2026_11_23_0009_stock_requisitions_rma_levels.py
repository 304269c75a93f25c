"""stock: requisitions, reservations, min/max levels, RMA cases; removed parts on usages

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 19:30:56.614123
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('stock_levels',
    sa.Column('location_id', sa.Uuid(), nullable=False),
    sa.Column('part_id', sa.Uuid(), nullable=False),
    sa.Column('min_quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('max_quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['stock_locations.id'], name=op.f('fk_stock_levels_location_id_stock_locations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_levels_part_id_parts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_levels_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_levels')),
    sa.UniqueConstraint('location_id', 'part_id', name=op.f('uq_stock_levels_location_id_part_id'))
    )
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_levels_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('stock_requisitions',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('technician_id', sa.Uuid(), nullable=False),
    sa.Column('work_order_id', sa.Uuid(), nullable=True),
    sa.Column('warehouse_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('auto_approved', sa.Boolean(), nullable=False),
    sa.Column('value', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_stock_requisitions_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_stock_requisitions_requested_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_stock_requisitions_technician_id_technicians'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_requisitions_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['warehouse_id'], ['stock_locations.id'], name=op.f('fk_stock_requisitions_warehouse_id_stock_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_stock_requisitions_work_order_id_work_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_requisitions')),
    sa.UniqueConstraint('tenant_id', 'number', name=op.f('uq_stock_requisitions_tenant_id_number'))
    )
    with op.batch_alter_table('stock_requisitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_requisitions_technician_id'), ['technician_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_requisitions_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_requisitions_work_order_id'), ['work_order_id'], unique=False)

    op.create_table('stock_requisition_lines',
    sa.Column('requisition_id', sa.Uuid(), nullable=False),
    sa.Column('part_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('approved_quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('shipped_quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('received_quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_requisition_lines_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requisition_id'], ['stock_requisitions.id'], name=op.f('fk_stock_requisition_lines_requisition_id_stock_requisitions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_requisition_lines_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_requisition_lines')),
    sa.UniqueConstraint('requisition_id', 'part_id', name=op.f('uq_stock_requisition_lines_requisition_id_part_id'))
    )
    with op.batch_alter_table('stock_requisition_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_requisition_lines_requisition_id'), ['requisition_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_requisition_lines_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('stock_reservations',
    sa.Column('work_order_id', sa.Uuid(), nullable=False),
    sa.Column('location_id', sa.Uuid(), nullable=False),
    sa.Column('part_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('requisition_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['stock_locations.id'], name=op.f('fk_stock_reservations_location_id_stock_locations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_reservations_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requisition_id'], ['stock_requisitions.id'], name=op.f('fk_stock_reservations_requisition_id_stock_requisitions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_reservations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_stock_reservations_work_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_reservations'))
    )
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.create_index('ix_stock_reservations_order', ['work_order_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_reservations_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('stock_rma_cases',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('part_id', sa.Uuid(), nullable=False),
    sa.Column('serial', sa.String(length=100), nullable=True),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('work_order_id', sa.Uuid(), nullable=True),
    sa.Column('equipment_id', sa.Uuid(), nullable=True),
    sa.Column('movement_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('vendor_reference', sa.String(length=100), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_stock_rma_cases_equipment_id_equipment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['movement_id'], ['stock_movements.id'], name=op.f('fk_stock_rma_cases_movement_id_stock_movements'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['part_id'], ['parts.id'], name=op.f('fk_stock_rma_cases_part_id_parts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_stock_rma_cases_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_stock_rma_cases_work_order_id_work_orders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_rma_cases')),
    sa.UniqueConstraint('tenant_id', 'number', name=op.f('uq_stock_rma_cases_tenant_id_number'))
    )
    with op.batch_alter_table('stock_rma_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_rma_cases_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_rma_cases_work_order_id'), ['work_order_id'], unique=False)

    # Existing usage rows removed nothing: defaults fill them (reviewed by hand).
    op.add_column('part_usages', sa.Column('removed_serial_numbers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'[]'")))
    op.add_column('part_usages', sa.Column('removed_quantity', sa.Numeric(precision=12, scale=3), nullable=False, server_default=sa.text('0')))



def downgrade() -> None:
    """Revert this revision."""
    op.execute('ALTER TABLE part_usages DROP COLUMN removed_quantity')
    op.execute('ALTER TABLE part_usages DROP COLUMN removed_serial_numbers')

    with op.batch_alter_table('stock_rma_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_rma_cases_work_order_id'))
        batch_op.drop_index(batch_op.f('ix_stock_rma_cases_tenant_id'))

    op.drop_table('stock_rma_cases')
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_reservations_tenant_id'))
        batch_op.drop_index('ix_stock_reservations_order')

    op.drop_table('stock_reservations')
    with op.batch_alter_table('stock_requisition_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_requisition_lines_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_stock_requisition_lines_requisition_id'))

    op.drop_table('stock_requisition_lines')
    with op.batch_alter_table('stock_requisitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_requisitions_work_order_id'))
        batch_op.drop_index(batch_op.f('ix_stock_requisitions_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_stock_requisitions_technician_id'))

    op.drop_table('stock_requisitions')
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_levels_tenant_id'))

    op.drop_table('stock_levels')
