"""Spare-parts catalogue and parts used on work orders (the ledger comes later)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk, utcnow


class Part(UUIDPk, TenantScoped, Timestamps, Base):
    """A stock-keeping unit."""

    __tablename__ = "parts"
    __table_args__ = (UniqueConstraint("tenant_id", "sku"),)

    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16), default="pcs")
    serialized: Mapped[bool] = mapped_column(default=False)
    unit_cost: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    compatible_models: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)


class PartUsage(UUIDPk, TenantScoped, Base):
    """Parts consumed on a work order; append-only, client UUIDs make replays no-ops."""

    __tablename__ = "part_usages"

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    part_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parts.id", ondelete="RESTRICT"), index=True
    )
    equipment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("equipment.id", ondelete="SET NULL"), index=True
    )
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("technicians.id", ondelete="SET NULL")
    )
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    serial_numbers: Mapped[list[Any]] = mapped_column(default=list)
    # What came out of the equipment: serials of the replaced parts, or a count for plain
    # parts. They go to the defective location with an RMA case each.
    removed_serial_numbers: Mapped[list[Any]] = mapped_column(default=list)
    removed_quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3), default=Decimal("0"))
    used_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
