"""collaboration: defects (L3 failure patterns)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status IN ('open', 'investigating')")


def upgrade() -> None:
    """Apply this revision."""
    # New tables only: work_orders is referenced, never altered.
    op.create_table(
        "defects",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("equipment_model", sa.String(length=100), nullable=False),
        sa.Column("symptom", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_defects_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_defects_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_defects")),
    )
    op.create_index(op.f("ix_defects_tenant_id"), "defects", ["tenant_id"])
    op.create_index("ix_defects_tenant_status", "defects", ["tenant_id", "status"])
    op.create_index(
        "ux_defects_active_pattern",
        "defects",
        ["tenant_id", "equipment_model", "symptom"],
        unique=True,
        postgresql_where=ACTIVE,
        sqlite_where=ACTIVE,
    )
    op.create_table(
        "defect_work_orders",
        sa.Column("defect_id", sa.Uuid(), nullable=False),
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["defect_id"],
            ["defects.id"],
            name=op.f("fk_defect_work_orders_defect_id_defects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["linked_by_id"],
            ["users.id"],
            name=op.f("fk_defect_work_orders_linked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_defect_work_orders_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_defect_work_orders_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("defect_id", "work_order_id", name=op.f("pk_defect_work_orders")),
    )
    op.create_index(
        op.f("ix_defect_work_orders_tenant_id"), "defect_work_orders", ["tenant_id"]
    )
    op.create_index(
        op.f("ix_defect_work_orders_work_order_id"), "defect_work_orders", ["work_order_id"]
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_defect_work_orders_work_order_id"), table_name="defect_work_orders")
    op.drop_index(op.f("ix_defect_work_orders_tenant_id"), table_name="defect_work_orders")
    op.drop_table("defect_work_orders")
    op.drop_index("ux_defects_active_pattern", table_name="defects")
    op.drop_index("ix_defects_tenant_status", table_name="defects")
    op.drop_index(op.f("ix_defects_tenant_id"), table_name="defects")
    op.drop_table("defects")
