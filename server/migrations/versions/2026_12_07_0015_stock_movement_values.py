"""stock movements record the part's unit cost and price when they moved; reason/time index

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # Nullable: rows posted before this revision keep NULL and reports fall back to the
    # catalogue's values for them (there is no history to recover them from).
    op.add_column(
        "stock_movements", sa.Column("unit_cost", sa.Numeric(precision=12, scale=2), nullable=True)
    )
    op.add_column(
        "stock_movements",
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=True),
    )
    op.create_index(
        "ix_stock_movements_reason_time",
        "stock_movements",
        ["tenant_id", "reason", "occurred_at"],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_stock_movements_reason_time", table_name="stock_movements")
    op.drop_column("stock_movements", "unit_price")
    op.drop_column("stock_movements", "unit_cost")
