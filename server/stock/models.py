"""The spare-parts ledger: stock locations, append-only movements, derived balances.

Every unit is explained by movements (double entry: from one location to another); the
balance table is a cache of their sums kept in the same transaction, and a check proves
``on_hand == sum(in) - sum(out)`` at any time. Mistakes are corrected by reversing
movements, never by editing them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk, utcnow

# Location kinds. Controlled ones hold real inventory and never go negative (a van only
# through consumption that already happened offline); the others are the outside world.
WAREHOUSE, VAN, SITE, TRANSIT, DEFECTIVE, SCRAP = (
    "warehouse",
    "van",
    "site",
    "transit",
    "defective",
    "scrap",
)
SUPPLIER, ADJUSTMENT, VENDOR = "supplier", "adjustment", "vendor"
KINDS = (WAREHOUSE, VAN, SITE, TRANSIT, DEFECTIVE, SCRAP, SUPPLIER, ADJUSTMENT, VENDOR)
CONTROLLED = frozenset({WAREHOUSE, VAN, TRANSIT, DEFECTIVE, SCRAP})
# One per tenant, created on first use.
SINGLETONS = (TRANSIT, DEFECTIVE, SCRAP, SUPPLIER, ADJUSTMENT, VENDOR)

REASONS = (
    "receipt",
    "transfer",
    "reservation",
    "consumption",
    "return",
    "rma",
    "adjustment",
    "reversal",
)
QUANTITY = Numeric(14, 3)


class StockLocation(UUIDPk, TenantScoped, Timestamps, Base):
    """Where parts are: a warehouse, a technician's van, a customer site, or outside."""

    __tablename__ = "stock_locations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        UniqueConstraint("tenant_id", "technician_id"),
        UniqueConstraint("tenant_id", "site_id"),
    )

    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("technicians.id", ondelete="RESTRICT")
    )
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    # A van's home warehouse: where its discrepancies are resolved and returns go.
    warehouse_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(default=True)


class StockMovement(UUIDPk, TenantScoped, Base):
    """One posting: ``quantity`` of a part from one location to another. Never edited."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_part_time", "tenant_id", "part_id", "recorded_at"),
        # Reports read one reason over a period (consumption in a quarter).
        Index("ix_stock_movements_reason_time", "tenant_id", "reason", "occurred_at"),
        Index("ix_stock_movements_from", "from_location_id", "part_id"),
        Index("ix_stock_movements_to", "to_location_id", "part_id"),
        UniqueConstraint("reverses_id"),
        UniqueConstraint("part_usage_id"),
    )

    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    from_location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="RESTRICT")
    )
    to_location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="RESTRICT")
    )
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    # The part's cost and price when it moved: settlement and reports must not change when
    # the catalogue does (NULL on rows from before they were recorded: catalogue values).
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    serial_numbers: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[str] = mapped_column(String(16))
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="RESTRICT"), index=True
    )
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stock_movements.id", ondelete="RESTRICT")
    )
    # The synced parts-usage row this consumption came from: a replay posts nothing twice.
    part_usage_id: Mapped[uuid.UUID | None]
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(8), default="api")  # api | sync | system
    note: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StockBalance(UUIDPk, TenantScoped, Base):
    """On hand and reserved of one part at one location: the sums of the ledger, cached."""

    __tablename__ = "stock_balances"
    __table_args__ = (UniqueConstraint("location_id", "part_id"),)

    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="RESTRICT")
    )
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    on_hand: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    reserved: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SerialUnit(TenantScoped, Base):
    """Where one serial number of a serialised part is now (its history is the ledger)."""

    __tablename__ = "serial_units"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    part_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parts.id", ondelete="RESTRICT"), primary_key=True
    )
    serial: Mapped[str] = mapped_column(String(100), primary_key=True)
    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="RESTRICT"), index=True
    )
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StockDiscrepancy(UUIDPk, TenantScoped, Base):
    """Something the field recorded that the books did not expect, for the warehouse to settle.

    The technician's record is the truth of what was used: the posting is accepted and this
    row asks a person to find out why (unrecorded transfer, miscount, wrong serial).
    """

    __tablename__ = "stock_discrepancies"

    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="RESTRICT"), index=True
    )
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    movement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_movements.id", ondelete="RESTRICT")
    )
    kind: Mapped[str] = mapped_column(String(24))  # negative_stock | serial_elsewhere
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    detail: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | resolved
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StockLevel(UUIDPk, TenantScoped, Base):
    """Min/max policy of one part at one location: below min, reorder up to max."""

    __tablename__ = "stock_levels"
    __table_args__ = (UniqueConstraint("location_id", "part_id"),)

    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="CASCADE")
    )
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parts.id", ondelete="CASCADE"))
    min_quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    max_quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))


class Requisition(UUIDPk, TenantScoped, Timestamps, Base):
    """A technician's request for parts (for a work order or to restock the van)."""

    __tablename__ = "stock_requisitions"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    number: Mapped[str] = mapped_column(String(32))
    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("technicians.id", ondelete="RESTRICT"), index=True
    )
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="RESTRICT"), index=True
    )
    # Where the parts are picked from.
    warehouse_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="RESTRICT")
    )
    # requested | approved | rejected | in_transit | partially_received | received |
    # cancelled (see server/stock/requisitions.py for the transitions)
    status: Mapped[str] = mapped_column(String(20), default="requested")
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    auto_approved: Mapped[bool] = mapped_column(default=False)
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    note: Mapped[str | None] = mapped_column(Text)


class RequisitionLine(UUIDPk, TenantScoped, Base):
    """One part on a requisition, with how much was approved, shipped and received."""

    __tablename__ = "stock_requisition_lines"
    __table_args__ = (UniqueConstraint("requisition_id", "part_id"),)

    requisition_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_requisitions.id", ondelete="CASCADE"), index=True
    )
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    approved_quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    shipped_quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))
    received_quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("0"))


class Reservation(UUIDPk, TenantScoped, Base):
    """Stock held for a scheduled job: it lowers available, not on hand."""

    __tablename__ = "stock_reservations"
    __table_args__ = (Index("ix_stock_reservations_order", "work_order_id", "status"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    location_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stock_locations.id", ondelete="RESTRICT")
    )
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active|released|used
    requisition_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stock_requisitions.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]


RMA_STATUSES = ("open", "shipped", "repaired", "replaced", "credited", "scrapped", "closed")


class RmaCase(UUIDPk, TenantScoped, Timestamps, Base):
    """A defective part taken out of service: back to the vendor, repaired or scrapped."""

    __tablename__ = "stock_rma_cases"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    number: Mapped[str] = mapped_column(String(32))
    part_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parts.id", ondelete="RESTRICT"))
    serial: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, default=Decimal("1"))
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL"), index=True
    )
    equipment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("equipment.id", ondelete="SET NULL")
    )
    # The movement that brought it into the defective location.
    movement_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stock_movements.id", ondelete="RESTRICT")
    )
    status: Mapped[str] = mapped_column(String(12), default="open")
    vendor_reference: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
