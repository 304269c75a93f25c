"""checklists and kb: checklist templates, kb articles, work_orders.checklist_template_id

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('checklist_templates',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('order_types', JSON, nullable=False),
    sa.Column('equipment_categories', JSON, nullable=False),
    sa.Column('items', JSON, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_checklist_templates_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_templates'))
    )
    with op.batch_alter_table('checklist_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checklist_templates_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('kb_articles',
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('skill_codes', JSON, nullable=False),
    sa.Column('equipment_models', JSON, nullable=False),
    sa.Column('tags', JSON, nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_kb_articles_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kb_articles'))
    )
    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_articles_tenant_id'), ['tenant_id'], unique=False)

    # Not batch mode (as in 0005): SQLite batch mode recreates work_orders, which breaks
    # the foreign keys that point at it. Alembic's add_column would emit a separate ALTER
    # ... ADD CONSTRAINT, which SQLite lacks; SQLite does accept a named REFERENCES clause
    # inline on ADD COLUMN (the new column defaults to NULL), so write that DDL by hand.
    # No ON DELETE clause: SQLite reflection cannot read options of an inline REFERENCES,
    # and the default (NO ACTION) refuses deleting a template in use just as well.
    fk_name = op.f('fk_work_orders_checklist_template_id_checklist_templates')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'ALTER TABLE work_orders ADD COLUMN checklist_template_id CHAR(32) '
            f'CONSTRAINT {fk_name} REFERENCES checklist_templates (id)'
        )
    else:
        op.add_column('work_orders', sa.Column('checklist_template_id', sa.Uuid(), nullable=True))
        op.create_foreign_key(fk_name, 'work_orders', 'checklist_templates', ['checklist_template_id'], ['id'])
    op.create_index(op.f('ix_work_orders_checklist_template_id'), 'work_orders', ['checklist_template_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    # SQLite's DROP COLUMN refuses indexed columns: the index goes first. The inline
    # REFERENCES clause is part of the column definition and goes with it on SQLite.
    op.drop_index(op.f('ix_work_orders_checklist_template_id'), table_name='work_orders')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('fk_work_orders_checklist_template_id_checklist_templates'), 'work_orders', type_='foreignkey')
    op.drop_column('work_orders', 'checklist_template_id')

    with op.batch_alter_table('kb_articles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_articles_tenant_id'))

    op.drop_table('kb_articles')
    with op.batch_alter_table('checklist_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checklist_templates_tenant_id'))

    op.drop_table('checklist_templates')
