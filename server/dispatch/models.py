"""Optimisation runs and the order pool (抢单)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk

RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled", "applied")
POOL_STATUSES = ("open", "claimed", "expired", "withdrawn")


class OptimizationRun(UUIDPk, TenantScoped, Timestamps, Base):
    """One optimiser run for a territory and date range: its inputs, progress and plan."""

    __tablename__ = "optimization_runs"
    __table_args__ = (Index("ix_optimization_runs_status", "status", "created_at"),)

    territory_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("territories.id", ondelete="SET NULL")
    )
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    time_limit_s: Mapped[float] = mapped_column(Float)
    # Weights and options as sent; the origin and the order versions the plan was made from.
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None]
    kpis: Mapped[dict[str, Any] | None]
    baseline_kpis: Mapped[dict[str, Any] | None]
    best_objective: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    applied_at: Mapped[dt.datetime | None]
    applied_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class PoolEntry(UUIDPk, TenantScoped, Timestamps, Base):
    """An order offered to eligible technicians; the first valid claim takes it."""

    __tablename__ = "order_pool"
    __table_args__ = (
        # At most one open offer per order, enforced by the database on both engines.
        Index(
            "uq_order_pool_open_order",
            "work_order_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_order_pool_tenant_status", "tenant_id", "status", "expires_at"),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16), default="open")
    published_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[dt.datetime]
    radius_km: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    claimed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("technicians.id", ondelete="SET NULL")
    )
    claimed_at: Mapped[dt.datetime | None]
