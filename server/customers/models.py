"""Customers and the sites where their equipment is installed."""

from __future__ import annotations

import uuid
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base, TenantScoped, Timestamps, UUIDPk


class Customer(UUIDPk, TenantScoped, Timestamps, Base):
    """A company or person the tenant services; tier drives SLAs and priority."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16), default="standard")
    # [{name, phone, email, role, primary}] - small, always read with the customer.
    contacts: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text)

    sites: Mapped[list[Site]] = relationship(
        back_populates="customer", lazy="raise", order_by="Site.name"
    )


class Site(UUIDPk, TenantScoped, Timestamps, Base):
    """A physical place with an address, a map position and access instructions."""

    __tablename__ = "sites"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500))
    location: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=True
    )
    access_notes: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64))
    territory_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("territories.id", ondelete="SET NULL"), index=True
    )

    customer: Mapped[Customer] = relationship(back_populates="sites", lazy="joined")
