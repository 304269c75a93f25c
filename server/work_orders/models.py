"""Work orders, their helpers, the append-only event history and number counters."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.checklists.models import ChecklistTemplate
from server.db import Base, TenantScoped, Timestamps, UUIDPk, utcnow

ORDER_TYPES = ("repair", "installation", "maintenance", "inspection")
PRIORITIES = ("low", "normal", "high", "urgent")
SUPPORT_TIERS = ("L1", "L2", "L3")
CHANNELS = ("phone", "email", "web", "qr", "api", "preventive", "mobile")


class WorkOrder(UUIDPk, TenantScoped, Timestamps, Base):
    """A unit of service work, from request to closure."""

    __tablename__ = "work_orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_work_orders_tenant_status", "tenant_id", "status"),
        Index("ix_work_orders_tenant_sched", "tenant_id", "scheduled_start"),
        Index("ix_work_orders_tenant_sla_due", "tenant_id", "sla_due_at"),
    )

    number: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    order_type: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    category: Mapped[str | None] = mapped_column(String(64))
    support_tier: Mapped[str] = mapped_column(String(2), default="L2")
    status: Mapped[str] = mapped_column(String(16), default="new")
    channel: Mapped[str] = mapped_column(String(16), default="api")
    # [{"skill": code, "min_level": int}]
    required_skills: Mapped[list[Any]] = mapped_column(default=list)
    estimated_duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    # Dispatch inputs: the promised completion (SLA), crew size, and what the optimiser
    # must not change (the lead, or the scheduled start).
    due_at: Mapped[dt.datetime | None]
    crew_size: Mapped[int] = mapped_column(SmallInteger, default=1)
    pin_technician: Mapped[bool] = mapped_column(default=False)
    lock_schedule: Mapped[bool] = mapped_column(default=False)

    requested_start: Mapped[dt.datetime | None]
    requested_end: Mapped[dt.datetime | None]
    scheduled_start: Mapped[dt.datetime | None]
    scheduled_end: Mapped[dt.datetime | None]
    actual_start: Mapped[dt.datetime | None]
    actual_end: Mapped[dt.datetime | None]

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    site_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sites.id", ondelete="RESTRICT"), index=True
    )
    equipment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("equipment.id", ondelete="RESTRICT"), index=True
    )
    lead_technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("technicians.id", ondelete="RESTRICT"), index=True
    )
    # Copied from the site so map/bbox queries hit one spatial index without a join.
    location: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=True
    )

    resolution_summary: Mapped[str | None] = mapped_column(Text)
    hold_reason: Mapped[str | None] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Technician-owned: written from the field (offline), merged per column by sync.
    technician_notes: Mapped[str | None] = mapped_column(Text)
    checklist_answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The SOP checklist the answers belong to (picked automatically on create when absent).
    # Templates are deactivated, never deleted; the default ON DELETE (NO ACTION) refuses it.
    checklist_template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("checklist_templates.id"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Service desk: where routing sent it, free tags, and how to reach whoever reported it
    # ({"name", "phone", "email", "locale"}: public requests have no customer account).
    team_queue: Mapped[str | None] = mapped_column(String(64), index=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    contact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Subtasks are child orders; a parent with requires_subtasks cannot complete while a
    # child is still open.
    # The default ON DELETE (NO ACTION) refuses deleting a parent that has children.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    requires_subtasks: Mapped[bool] = mapped_column(default=False)
    # Denormalised from the order's SLA clocks so lists sort "closest to breach first" on
    # one indexed column: the earliest deadline of a running clock (NULL when none runs)
    # and the worst state (ok, at_risk, breached, paused, met).
    sla_state: Mapped[str | None] = mapped_column(String(16))
    sla_due_at: Mapped[dt.datetime | None]
    # Optimistic concurrency: every UPDATE checks and bumps it; exposed as the ETag.
    version: Mapped[int] = mapped_column(Integer, default=1)

    helpers: Mapped[list[WorkOrderHelper]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="WorkOrderHelper.technician_id"
    )

    # Loaded on demand (list endpoints preload it); the service sets it with the id.
    checklist_template: Mapped[ChecklistTemplate | None] = relationship(lazy="select")

    __mapper_args__ = {"version_id_col": version}

    @property
    def helper_ids(self) -> list[uuid.UUID]:
        """Ids of helping technicians."""
        return [h.technician_id for h in self.helpers]

    @property
    def checklist_missing(self) -> list[str]:
        """Required checklist item keys not answered yet (empty without a checklist)."""
        template = self.checklist_template
        return [] if template is None else template.missing(self.checklist_answers)


class WorkOrderHelper(TenantScoped, Base):
    """A technician assisting the lead on an order."""

    __tablename__ = "work_order_helpers"

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), primary_key=True
    )
    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class WorkOrderEvent(UUIDPk, TenantScoped, Base):
    """One immutable entry of an order's history: who did what, when, and where."""

    __tablename__ = "work_order_events"
    __table_args__ = (Index("ix_work_order_events_order_time", "work_order_id", "recorded_at"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    actor_role: Mapped[str | None] = mapped_column(String(20))
    # When it happened (device clock for field events) vs when the server stored it.
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    location: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326), nullable=True)
    location_accuracy_m: Mapped[float | None]


class WorkOrderCounter(TenantScoped, Base):
    """Last issued sequence number per tenant and year, for WO-YYYY-NNNNNN."""

    __tablename__ = "work_order_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_value: Mapped[int] = mapped_column(Integer, default=0)


COMMENT_VISIBILITY = ("internal", "customer")
COMMENT_AUTHORS = ("user", "customer", "system")


class WorkOrderComment(UUIDPk, TenantScoped, Base):
    """A note on an order: internal (staff only, may @mention users) or customer-visible.

    Append-only like the event history: a correction is a new comment.
    """

    __tablename__ = "work_order_comments"
    __table_args__ = (Index("ix_work_order_comments_order_time", "work_order_id", "created_at"),)

    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE")
    )
    visibility: Mapped[str] = mapped_column(String(8), default="internal")
    author_kind: Mapped[str] = mapped_column(String(8), default="user")
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Shown for customer-authored comments (the public tracking page has no user).
    author_name: Mapped[str | None] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    # User ids resolved from @mentions when the comment was written.
    mentions: Mapped[list[Any]] = mapped_column(default=list)
    # Blob sha256 keys of attached photos (public "add information" may carry some).
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
