"""routing rules, inbound channels

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "routing_rules",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_routing_rules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rules")),
    )
    op.create_index("ix_routing_rules_tenant_position", "routing_rules", ["tenant_id", "position"])
    op.create_index(op.f("ix_routing_rules_tenant_id"), "routing_rules", ["tenant_id"])

    op.create_table(
        "inbound_messages",
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("in_reply_to", sa.String(length=255), nullable=True),
        sa.Column("references", JSON, nullable=False),
        sa.Column("from_address", sa.String(length=254), nullable=True),
        sa.Column("from_name", sa.String(length=120), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("customer_ref", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("work_order_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_inbound_messages_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
            name=op.f("fk_inbound_messages_resolved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inbound_messages_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        # Deferred: the message and the order it creates are written in one transaction.
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_inbound_messages_work_order_id_work_orders"),
            ondelete="SET NULL",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint(
            "tenant_id", "message_id", name=op.f("uq_inbound_messages_tenant_id_message_id")
        ),
    )
    op.create_index(
        "ix_inbound_messages_tenant_status",
        "inbound_messages",
        ["tenant_id", "status", "received_at"],
    )
    op.create_index(op.f("ix_inbound_messages_tenant_id"), "inbound_messages", ["tenant_id"])
    op.create_index(
        op.f("ix_inbound_messages_work_order_id"), "inbound_messages", ["work_order_id"]
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_inbound_messages_work_order_id"), table_name="inbound_messages")
    op.drop_index(op.f("ix_inbound_messages_tenant_id"), table_name="inbound_messages")
    op.drop_index("ix_inbound_messages_tenant_status", table_name="inbound_messages")
    op.drop_table("inbound_messages")
    op.drop_index(op.f("ix_routing_rules_tenant_id"), table_name="routing_rules")
    op.drop_index("ix_routing_rules_tenant_position", table_name="routing_rules")
    op.drop_table("routing_rules")
