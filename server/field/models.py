"""Append-only records technicians create in the field (often offline), keyed by client UUIDs.

Replays insert nothing new; corrections are new rows, never edits.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, utcnow


class FieldRecord(TenantScoped):
    """Columns every field record shares."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    work_order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("work_orders.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    device_id: Mapped[str | None] = mapped_column(String(128))
    # Device clock (what the technician saw) and server clock (when it arrived).
    occurred_at: Mapped[dt.datetime]
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WorkOrderNote(FieldRecord, Base):
    """A note written on the order."""

    __tablename__ = "work_order_notes"

    body: Mapped[str] = mapped_column(Text)
    corrects_id: Mapped[uuid.UUID | None]


class StatusEvent(FieldRecord, Base):
    """A status change made on the device; the server applies it through the lifecycle."""

    __tablename__ = "status_events"
    __table_args__ = (Index("ix_status_events_order_time", "work_order_id", "occurred_at"),)

    to_status: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    resolution_summary: Mapped[str | None] = mapped_column(Text)
    hold_reason: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    # What the server did with it: applied, rejected (kept, with a code), duplicate.
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    outcome_code: Mapped[str | None] = mapped_column(String(64))


class CheckIn(FieldRecord, Base):
    """Arrival or departure proof: device GPS checked against the site's geofence."""

    __tablename__ = "check_ins"

    kind: Mapped[str] = mapped_column(String(8))  # "in" | "out"
    lat: Mapped[float]
    lon: Mapped[float]
    accuracy_m: Mapped[float | None]
    distance_m: Mapped[float | None]
    within_geofence: Mapped[bool | None]


class WorkOrderPhoto(FieldRecord, Base):
    """Metadata of a photo whose bytes were uploaded as a content-addressed blob."""

    __tablename__ = "work_order_photos"

    blob_sha256: Mapped[str] = mapped_column(String(64), index=True)
    caption: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
