"""Technicians, their skills, territories and weekly shifts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import Column, ForeignKey, SmallInteger, String, Table, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Base, TenantScoped, Timestamps, UUIDPk
from server.organization.models import Skill, Territory

technician_territories = Table(
    "technician_territories",
    Base.metadata,
    Column("technician_id", ForeignKey("technicians.id", ondelete="CASCADE"), primary_key=True),
    Column("territory_id", ForeignKey("territories.id", ondelete="CASCADE"), primary_key=True),
)


class Technician(UUIDPk, TenantScoped, Timestamps, Base):
    """A field engineer: where they start, what they can do, when they work."""

    __tablename__ = "technicians"

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    home_base: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=True), nullable=True
    )
    max_jobs_per_day: Mapped[int] = mapped_column(SmallInteger, default=6)
    max_work_minutes_per_day: Mapped[int | None] = mapped_column(SmallInteger)
    active: Mapped[bool] = mapped_column(default=True)
    # Last reported GPS fix (app pings, check-ins, status events): the map and live routing.
    last_position: Mapped[Any] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False), nullable=True
    )
    last_position_at: Mapped[dt.datetime | None]
    last_position_accuracy_m: Mapped[float | None]

    skills: Mapped[list[TechnicianSkill]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="TechnicianSkill.skill_id"
    )
    territories: Mapped[list[Territory]] = relationship(
        secondary=technician_territories, lazy="selectin"
    )
    shifts: Mapped[list[Shift]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="(Shift.weekday, Shift.start_time)"
    )


class TechnicianSkill(TenantScoped, Base):
    """A skill held at a level from 1 (trainee) to 5 (expert)."""

    __tablename__ = "technician_skills"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[int] = mapped_column(SmallInteger)
    skill: Mapped[Skill] = relationship(lazy="joined")


class Shift(TenantScoped, Base):
    """A weekly working window, local time in the tenant's time zone (0 = Monday)."""

    __tablename__ = "technician_shifts"
    __table_args__ = (UniqueConstraint("technician_id", "weekday", "start_time"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)
    # A break of this many minutes starting no earlier than break_start (local time).
    break_start: Mapped[dt.time | None] = mapped_column(Time)
    break_minutes: Mapped[int] = mapped_column(SmallInteger, default=0)
