"""Tenants: the service companies sharing one deployment."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Timestamps, UUIDPk


class Tenant(UUIDPk, Timestamps, Base):
    """One service company; every other row belongs to exactly one tenant."""

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Prefix for human-readable order numbers, e.g. "WO" -> WO-2026-000123.
    order_prefix: Mapped[str] = mapped_column(String(8), default="WO")
