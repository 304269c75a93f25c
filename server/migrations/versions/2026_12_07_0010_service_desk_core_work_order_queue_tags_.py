"""service desk core: work order queue, tags, contact, subtasks, SLA summary; comments;
sync_devices.reports_clean

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 20:19:09.015010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "work_order_comments",
        sa.Column("work_order_id", sa.Uuid(), nullable=False),
        sa.Column("visibility", sa.String(length=8), nullable=False),
        sa.Column("author_kind", sa.String(length=8), nullable=False),
        sa.Column("author_user_id", sa.Uuid(), nullable=True),
        sa.Column("author_name", sa.String(length=120), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mentions", JSON, nullable=False),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_work_order_comments_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_work_order_comments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_comments_work_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_comments")),
    )
    op.create_index(
        "ix_work_order_comments_order_time", "work_order_comments", ["work_order_id", "created_at"]
    )
    op.create_index(
        op.f("ix_work_order_comments_tenant_id"), "work_order_comments", ["tenant_id"]
    )

    # Plain ADD COLUMNs (no table rebuild: SpatiaLite geometry columns do not survive a
    # batch copy); NOT NULL columns carry a server default for existing rows.
    op.add_column("work_orders", sa.Column("team_queue", sa.String(length=64), nullable=True))
    op.add_column(
        "work_orders", sa.Column("tags", JSON, nullable=False, server_default=sa.text("'[]'"))
    )
    op.add_column(
        "work_orders", sa.Column("contact", JSON, nullable=False, server_default=sa.text("'{}'"))
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot add a constraint later; the reference goes into the column itself
        # (no ON DELETE: SQLite's reflection cannot read it back from a column clause).
        op.execute(
            "ALTER TABLE work_orders ADD COLUMN parent_id CHAR(32) "
            "CONSTRAINT fk_work_orders_parent_id_work_orders REFERENCES work_orders (id)"
        )
    else:
        op.add_column("work_orders", sa.Column("parent_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(
            op.f("fk_work_orders_parent_id_work_orders"),
            "work_orders",
            "work_orders",
            ["parent_id"],
            ["id"],
        )
    op.add_column(
        "work_orders",
        sa.Column(
            "requires_subtasks", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    op.add_column("work_orders", sa.Column("sla_state", sa.String(length=16), nullable=True))
    op.add_column(
        "work_orders", sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(op.f("ix_work_orders_parent_id"), "work_orders", ["parent_id"])
    op.add_column(
        "sync_devices",
        sa.Column("reports_clean", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(op.f("ix_work_orders_team_queue"), "work_orders", ["team_queue"])
    op.create_index("ix_work_orders_tenant_sla_due", "work_orders", ["tenant_id", "sla_due_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("sync_devices", "reports_clean")
    op.drop_index("ix_work_orders_tenant_sla_due", table_name="work_orders")
    op.drop_index(op.f("ix_work_orders_team_queue"), table_name="work_orders")
    op.drop_index(op.f("ix_work_orders_parent_id"), table_name="work_orders")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(
            op.f("fk_work_orders_parent_id_work_orders"), "work_orders", type_="foreignkey"
        )
    for column in (
        "sla_due_at",
        "sla_state",
        "requires_subtasks",
        "parent_id",
        "contact",
        "tags",
        "team_queue",
    ):
        op.execute(f"ALTER TABLE work_orders DROP COLUMN {column}")
    op.drop_index(op.f("ix_work_order_comments_tenant_id"), table_name="work_order_comments")
    op.drop_index("ix_work_order_comments_order_time", table_name="work_order_comments")
    op.drop_table("work_order_comments")
