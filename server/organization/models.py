"""Tenant-wide reference data: skills, territories, custom field definitions."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk


class Skill(UUIDPk, TenantScoped, Timestamps, Base):
    """A competence technicians hold at a level (1-5) and work orders require."""

    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))


class Territory(UUIDPk, TenantScoped, Timestamps, Base):
    """A service area drawn as a polygon; sites fall in one, technicians cover several."""

    __tablename__ = "territories"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    boundary: Mapped[Any] = mapped_column(
        Geometry("POLYGON", srid=4326, spatial_index=True), nullable=True
    )


class CustomFieldDefinition(UUIDPk, TenantScoped, Timestamps, Base):
    """A tenant-defined extra field on an entity, validated on every write."""

    __tablename__ = "custom_field_definitions"
    __table_args__ = (UniqueConstraint("tenant_id", "entity", "key"),)

    entity: Mapped[str] = mapped_column(String(32), default="work_order")
    key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    field_type: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(default=False)
    options: Mapped[list[Any] | None]
    active: Mapped[bool] = mapped_column(default=True)
