"""sync: deferred drops after reassignment, deletes routed by order, settle cursor

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # The order a logged row belongs to, so a deleted child can still be routed to devices.
    op.add_column("sync_changes", sa.Column("work_order_id", sa.Uuid(), nullable=True))
    # Set on the per-device "drop it now" entries written once a device has settled.
    op.add_column(
        "sync_scope_exits", sa.Column("device_id", sa.String(length=128), nullable=True)
    )
    op.add_column("sync_devices", sa.Column("settled_through", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_column("sync_devices", "settled_through")
    op.drop_column("sync_scope_exits", "device_id")
    op.drop_column("sync_changes", "work_order_id")
