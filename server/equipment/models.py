"""Installed equipment, its component tree and configuration history."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base, TenantScoped, Timestamps, UUIDPk, utcnow


class Equipment(UUIDPk, TenantScoped, Timestamps, Base):
    """One serviced unit (an elevator, a chiller) or a component of one."""

    __tablename__ = "equipment"
    __table_args__ = (UniqueConstraint("tenant_id", "manufacturer", "serial_number"),)

    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="RESTRICT"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("equipment.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    manufacturer: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(100), index=True)
    serial_number: Mapped[str] = mapped_column(String(100))
    install_date: Mapped[dt.date | None] = mapped_column(Date)
    warranty_end: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="in_service")
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_revision: Mapped[int] = mapped_column(Integer, default=1)

    children: Mapped[list[Equipment]] = relationship(lazy="raise", order_by="Equipment.name")


class EquipmentConfigRevision(UUIDPk, TenantScoped, Base):
    """An immutable snapshot of one configuration change: who, when, why, what."""

    __tablename__ = "equipment_config_revisions"
    __table_args__ = (UniqueConstraint("equipment_id", "revision"),)

    equipment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("equipment.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    configuration: Mapped[dict[str, Any]]
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)
    work_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL")
    )
