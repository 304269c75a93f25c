"""intake: equipment QR tokens, tracking links, inbound messages

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('equipment_qr_codes',
    sa.Column('equipment_id', sa.Uuid(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_equipment_qr_codes_equipment_id_equipment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_equipment_qr_codes_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_qr_codes')),
    sa.UniqueConstraint('equipment_id', name=op.f('uq_equipment_qr_codes_equipment_id')),
    sa.UniqueConstraint('token', name=op.f('uq_equipment_qr_codes_token'))
    )
    op.create_index(op.f('ix_equipment_qr_codes_tenant_id'), 'equipment_qr_codes', ['tenant_id'], unique=False)
    op.create_table('intake_requests',
    sa.Column('work_order_id', sa.Uuid(), nullable=False),
    sa.Column('equipment_id', sa.Uuid(), nullable=True),
    sa.Column('tracking_token', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_intake_requests_equipment_id_equipment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_intake_requests_tenant_id_tenants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_intake_requests_work_order_id_work_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_requests')),
    sa.UniqueConstraint('tracking_token', name=op.f('uq_intake_requests_tracking_token')),
    sa.UniqueConstraint('work_order_id', name=op.f('uq_intake_requests_work_order_id'))
    )
    op.create_index('ix_intake_requests_dedup', 'intake_requests', ['equipment_id', 'fingerprint', 'created_at'], unique=False)
    op.create_index(op.f('ix_intake_requests_tenant_id'), 'intake_requests', ['tenant_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f('ix_intake_requests_tenant_id'), table_name='intake_requests')
    op.drop_index('ix_intake_requests_dedup', table_name='intake_requests')
    op.drop_table('intake_requests')
    op.drop_index(op.f('ix_equipment_qr_codes_tenant_id'), table_name='equipment_qr_codes')
    op.drop_table('equipment_qr_codes')
