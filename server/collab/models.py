"""Tables of the collab domain: defect records (L3 failure patterns) and their orders."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk, utcnow

DEFECT_STATUSES = ("open", "investigating", "fixed", "closed")
# A defect still collecting orders: an L3 escalation links to it instead of opening another.
ACTIVE_DEFECT_STATUSES = ("open", "investigating")
_ACTIVE_SQL = text("status IN ('open', 'investigating')")


class Defect(UUIDPk, TenantScoped, Timestamps, Base):
    """A suspected product failure: many orders on one equipment model with one symptom."""

    __tablename__ = "defects"
    __table_args__ = (
        # At most one active defect per (model, symptom): concurrent escalations of the
        # same pattern must end up in one record, so the database settles the race.
        Index(
            "ux_defects_active_pattern",
            "tenant_id",
            "equipment_model",
            "symptom",
            unique=True,
            postgresql_where=_ACTIVE_SQL,
            sqlite_where=_ACTIVE_SQL,
        ),
        Index("ix_defects_tenant_status", "tenant_id", "status"),
    )

    title: Mapped[str] = mapped_column(String(200))
    equipment_model: Mapped[str] = mapped_column(String(100))
    # The symptom/category key (work_orders.category unless the escalation named one).
    symptom: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class DefectWorkOrder(TenantScoped, Base):
    """One order linked to a defect (an order may sit in several, one per symptom)."""

    __tablename__ = "defect_work_orders"

    defect_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("defects.id", ondelete="CASCADE"), primary_key=True
    )
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    linked_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
