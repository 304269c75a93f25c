"""sync devices: per-install conflict base for WatermelonDB's pull-then-push

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "sync_devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("conflict_base", sa.BigInteger(), nullable=True),
        sa.Column("base_set", sa.Boolean(), nullable=False),
        sa.Column("last_cursor", sa.BigInteger(), nullable=True),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_push_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"],
                                name=op.f("fk_sync_devices_tenant_id_tenants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_sync_devices_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_devices")),
        sa.UniqueConstraint("tenant_id", "user_id", "device_id",
                            name=op.f("uq_sync_devices_tenant_id_user_id_device_id")),
    )
    op.create_index(op.f("ix_sync_devices_tenant_id"), "sync_devices", ["tenant_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_sync_devices_tenant_id"), table_name="sync_devices")
    op.drop_table("sync_devices")
