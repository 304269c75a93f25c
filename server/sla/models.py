"""Tables of the sla domain: calendars, policies, per-order clocks and escalations."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk, utcnow

METRICS = ("first_response", "arrival", "resolution")
BREACH_ACTIONS = ("raise_priority", "notify_supervisor", "reassign", "open_escalation")
DEFAULT_PAUSE_REASONS = ["customer", "parts"]
OUTCOMES = ("met", "missed", "cancelled")
CLOCK_STATES = ("ok", "at_risk", "breached", "paused", "met", "missed", "cancelled")


class BusinessCalendar(UUIDPk, TenantScoped, Timestamps, Base):
    """Working hours of a tenant: weekly intervals, holidays, or 24x7.

    ``timezone`` NULL means "the time zone of the order's site".
    """

    __tablename__ = "sla_calendars"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], ...}; absent days are closed.
    weekly_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [{"date": "2026-12-25", "name": "Christmas"}], sorted by date.
    holidays: Mapped[list[Any]] = mapped_column(default=list)
    is_24x7: Mapped[bool] = mapped_column(default=False)

    @property
    def weekly_minutes(self) -> int:
        """Working minutes of a week without holidays or DST changes."""
        if self.is_24x7:
            return 7 * 24 * 60

        def minutes(text: str) -> int:
            hours, mins = text.split(":")
            return int(hours) * 60 + int(mins)

        return sum(
            minutes(i["end"]) - minutes(i["start"])
            for intervals in (self.weekly_hours or {}).values()
            for i in intervals
        )


class SlaPolicy(UUIDPk, TenantScoped, Timestamps, Base):
    """Targets for one priority and customer tier (NULL tier: any tier).

    Policies are deactivated, never deleted: clocks keep pointing at the policy they
    started under. Among active policies one per priority x tier (``match_key``).
    """

    __tablename__ = "sla_policies"
    __table_args__ = (
        Index(
            "uq_sla_policies_active_match",
            "tenant_id",
            "match_key",
            unique=True,
            postgresql_where=text("active"),
            sqlite_where=text("active"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[str] = mapped_column(String(8))
    customer_tier: Mapped[str | None] = mapped_column(String(16))
    # "<priority>:<tier or *>", kept by the service; unique among active policies.
    match_key: Mapped[str] = mapped_column(String(32))
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    arrival_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    # NULL: 24x7 (every second counts).
    # The default ON DELETE (NO ACTION) refuses deleting a calendar a policy uses.
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_calendars.id"), index=True
    )
    warn_at_percent: Mapped[int] = mapped_column(SmallInteger, default=75)
    pause_hold_reasons: Mapped[list[Any]] = mapped_column(
        default=lambda: list(DEFAULT_PAUSE_REASONS)
    )
    breach_actions: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)

    def target_minutes(self, metric: str) -> int | None:
        """The target of one metric, None when the policy does not cover it."""
        value: int | None = getattr(self, f"{metric}_minutes")
        return value


class SlaClock(UUIDPk, TenantScoped, Base):
    """One metric's clock of one order.

    Running: ``running_since`` set, ``consumed_seconds`` is the working time used before
    it. Paused: ``running_since`` NULL, not stopped. Stopped: ``stopped_at`` and
    ``outcome`` set, ``consumed_seconds`` final. ``next_check_at`` is when the scheduler
    has something to do (a warning or a breach falls due); NULL when nothing will.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("work_order_id", "metric"),
        Index("ix_sla_clocks_next_check", "next_check_at"),
    )

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    metric: Mapped[str] = mapped_column(String(16))
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sla_policies.id"), index=True)
    # The calendar it counts in (NULL: 24x7) and the zone resolved when it started.
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_calendars.id", ondelete="SET NULL"), index=True
    )
    timezone: Mapped[str] = mapped_column(String(64))
    target_seconds: Mapped[int] = mapped_column(Integer)
    warn_at_percent: Mapped[int] = mapped_column(SmallInteger)
    consumed_seconds: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime]
    running_since: Mapped[dt.datetime | None]
    paused_at: Mapped[dt.datetime | None]
    due_at: Mapped[dt.datetime | None]
    warn_due_at: Mapped[dt.datetime | None]
    next_check_at: Mapped[dt.datetime | None]
    warned_at: Mapped[dt.datetime | None]
    breached_at: Mapped[dt.datetime | None]
    stopped_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))


class SlaEscalation(UUIDPk, TenantScoped, Base):
    """A breach someone has to look at, with what the scheduler already did about it."""

    __tablename__ = "sla_escalations"
    __table_args__ = (Index("ix_sla_escalations_tenant_open", "tenant_id", "acknowledged_at"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    clock_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_clocks.id", ondelete="SET NULL")
    )
    metric: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    # [{"action": "raise_priority", "done": true, "from": "normal", "to": "high"}, ...]
    actions: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_at: Mapped[dt.datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
