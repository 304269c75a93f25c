"""Use cases for technicians: list, read, create, change."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from geo import Point
from geo.sql import point_element, point_xy
from server.auth.models import User
from server.auth.principal import Principal
from server.db import utcnow
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.http import apply_sort, text_search
from server.organization.models import Skill, Territory
from server.organization.service import resolve_skill_codes
from server.schemas import point_of
from server.technicians.models import Shift, Technician, TechnicianSkill, technician_territories
from workflow.lifecycle import Role

SORTS = {"name": Technician.name, "created_at": Technician.created_at}
# Phone clocks drift; a fix further ahead than this is a bug, not drift.
CLOCK_SKEW = dt.timedelta(minutes=5)
# A day-old fix is history, not a position.
MAX_FIX_AGE = dt.timedelta(hours=24)


def technician_query(*, filters: dict[str, Any]) -> Select[tuple[Technician]]:
    """The sorted, filtered technician list as a statement (tenant scoping is automatic)."""
    stmt = select(Technician)
    stmt = text_search(stmt, filters.get("q"), Technician.name)
    if "active" in filters:
        stmt = stmt.where(Technician.active == filters["active"])
    if "skill" in filters:
        holders = (
            select(TechnicianSkill.technician_id)
            .join(Skill, Skill.id == TechnicianSkill.skill_id)
            .where(
                Skill.code == filters["skill"],
                TechnicianSkill.level >= filters.get("min_level", 1),
            )
        )
        stmt = stmt.where(Technician.id.in_(holders))
    if "territory_id" in filters:
        covering = select(technician_territories.c.technician_id).where(
            technician_territories.c.territory_id == filters["territory_id"]
        )
        stmt = stmt.where(Technician.id.in_(covering))
    return apply_sort(stmt, filters.get("sort"), SORTS, [Technician.name], Technician.id)


def get_technician(
    *, db_session: Session, principal: Principal, technician_id: uuid.UUID
) -> Technician:
    """One technician; a technician may read only their own record (others look absent)."""
    technician = None
    if not principal.is_technician or principal.technician_id == technician_id:
        technician = db_session.get(Technician, technician_id)
    if technician is None:
        raise NotFound(f"No technician with id {technician_id}.")
    return technician


def check_shifts(shifts: list[dict[str, Any]]) -> None:
    """Refuse shifts that overlap on the same weekday (touching end-to-start is fine)."""
    ordered = sorted(shifts, key=lambda s: (s["weekday"], s["start_time"]))
    clashes = [
        f"Weekday {b['weekday']}: {a['start_time']:%H:%M}-{a['end_time']:%H:%M} overlaps "
        f"{b['start_time']:%H:%M}-{b['end_time']:%H:%M}."
        for a, b in zip(ordered, ordered[1:], strict=False)
        if a["weekday"] == b["weekday"] and b["start_time"] < a["end_time"]
    ]
    if clashes:
        raise ValidationFailed(
            "Shifts overlap.", code="overlapping_shifts", errors={"shifts": clashes}
        )


def _territories(db_session: Session, ids: list[uuid.UUID]) -> list[Territory]:
    found = {t.id: t for t in db_session.scalars(select(Territory).where(Territory.id.in_(ids)))}
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        raise ValidationFailed(
            f"Unknown territory id(s): {', '.join(unknown)}.",
            code="unknown_territory",
            errors={"territory_ids": {i: ["Unknown territory."] for i in unknown}},
        )
    return [found[i] for i in ids]


def _check_user(db_session: Session, user_id: uuid.UUID, exclude_id: uuid.UUID | None) -> None:
    user = db_session.get(User, user_id)
    if user is None or user.role != Role.TECHNICIAN.value:
        raise ValidationFailed(
            "user_id must be a user with the technician role.",
            code="invalid_user",
            errors={"user_id": ["Not a technician user of this tenant."]},
        )
    linked = select(Technician.id).where(Technician.user_id == user_id)
    if exclude_id is not None:
        linked = linked.where(Technician.id != exclude_id)
    if db_session.scalar(linked) is not None:
        raise Conflict(
            "This user is already linked to another technician.", code="user_already_linked"
        )


def _set_skills(
    technician: Technician, items: list[dict[str, Any]], skills: dict[str, Skill]
) -> None:
    wanted = {skills[i["skill"]].id: i["level"] for i in items}
    # Update in place: re-adding a (technician, skill) row deleted in the same flush
    # would collide on the primary key.
    for held in list(technician.skills):
        if held.skill_id in wanted:
            held.level = wanted.pop(held.skill_id)
        else:
            technician.skills.remove(held)
    by_id = {s.id: s for s in skills.values()}
    for skill_id, level in wanted.items():
        technician.skills.append(
            TechnicianSkill(skill_id=skill_id, skill=by_id[skill_id], level=level)
        )


def _set_shifts(technician: Technician, items: list[dict[str, Any]]) -> None:
    wanted = {(i["weekday"], i["start_time"]): i for i in items}
    # Keyed like the (technician, weekday, start) unique constraint, for the same reason.
    for shift in list(technician.shifts):
        key = (shift.weekday, shift.start_time)
        if key in wanted:
            item = wanted.pop(key)
            shift.end_time = item["end_time"]
            shift.break_start = item.get("break_start")
            shift.break_minutes = item.get("break_minutes", 0)
        else:
            technician.shifts.remove(shift)
    for (weekday, start), item in wanted.items():
        technician.shifts.append(
            Shift(
                weekday=weekday,
                start_time=start,
                end_time=item["end_time"],
                break_start=item.get("break_start"),
                break_minutes=item.get("break_minutes", 0),
            )
        )


def _apply(db_session: Session, technician: Technician, data: dict[str, Any]) -> None:
    # Check and resolve everything first, so a refused request changes nothing.
    if "shifts" in data:
        check_shifts(data["shifts"])
    skills = None
    if "skills" in data:
        codes = [item["skill"] for item in data["skills"]]
        skills = resolve_skill_codes(db_session=db_session, codes=codes)
    territories = None
    if "territory_ids" in data:
        territories = _territories(db_session, data["territory_ids"])
    if data.get("user_id") is not None and data["user_id"] != technician.user_id:
        _check_user(db_session, data["user_id"], technician.id)

    for key in ("phone", "user_id", "max_jobs_per_day", "max_work_minutes_per_day", "active"):
        if key in data:
            setattr(technician, key, data[key])
    if "name" in data:
        technician.name = data["name"].strip()
    if "home_base" in data:
        point = point_of(data["home_base"])
        technician.home_base = None if point is None else point_element(point)
    if skills is not None:
        _set_skills(technician, data["skills"], skills)
    if territories is not None:
        technician.territories = territories
    if "shifts" in data:
        _set_shifts(technician, data["shifts"])


def create_technician(*, db_session: Session, data: dict[str, Any]) -> Technician:
    """Create a technician with skills, territories and shifts."""
    technician = Technician()
    _apply(db_session, technician, data)
    db_session.add(technician)
    db_session.commit()
    # Read back so lists come in their canonical order, as a later GET shows them.
    db_session.refresh(technician)
    return technician


def update_technician(
    *, db_session: Session, technician: Technician, data: dict[str, Any]
) -> Technician:
    """Change a technician; skills, territory_ids and shifts are replaced when given."""
    _apply(db_session, technician, data)
    if data:
        # Collection-only changes do not touch the row, so onupdate would not fire.
        technician.updated_at = utcnow()
    db_session.commit()
    db_session.refresh(technician)
    return technician


def report_position(
    *, db_session: Session, principal: Principal, data: dict[str, Any]
) -> dict[str, Any]:
    """Store the caller's GPS fix unless a newer one is already stored (one UPDATE decides)."""
    if principal.technician_id is None:
        raise Forbidden(
            "Only technicians linked to a technician record report positions.",
            code="not_a_technician",
        )
    now = utcnow()
    recorded_at: dt.datetime = data.get("recorded_at") or now
    if recorded_at > now + CLOCK_SKEW:
        raise ValidationFailed(
            "recorded_at is in the future.",
            code="recorded_at_in_future",
            errors={"recorded_at": ["Later than the server clock allows."]},
        )
    if recorded_at < now - MAX_FIX_AGE:
        raise ValidationFailed(
            "recorded_at is more than 24 hours old.",
            code="recorded_at_too_old",
            errors={"recorded_at": ["Older than 24 hours."]},
        )
    point = Point(lat=data["lat"], lon=data["lon"])
    # Conditional, so concurrent or out-of-order pings keep the newest fix without a lock.
    newer = (
        update(Technician)
        .where(
            Technician.id == principal.technician_id,
            Technician.tenant_id == principal.tenant_id,
            or_(Technician.last_position_at.is_(None), Technician.last_position_at < recorded_at),
        )
        .values(
            last_position=point_element(point),
            last_position_at=recorded_at,
            last_position_accuracy_m=data.get("accuracy_m"),
        )
        .returning(Technician.id)
        .execution_options(synchronize_session=False)
    )
    applied = db_session.execute(newer).first() is not None
    row = db_session.execute(
        select(
            Technician.last_position_at,
            Technician.last_position_accuracy_m,
            *point_xy(Technician.last_position),
        ).where(Technician.id == principal.technician_id)
    ).one()
    db_session.commit()
    at, accuracy, lon, lat = row
    return {
        "technician_id": principal.technician_id,
        "last_position": None if lat is None else {"lat": lat, "lon": lon},
        "last_position_at": at,
        "last_position_accuracy_m": accuracy,
        "applied": applied,
    }
