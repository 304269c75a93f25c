"""Technicians with their skills, territories and weekly shifts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import g, has_app_context
from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from server.organization.schemas import (
    SkillSchema,
    StrictBool,
    TerritorySchema,
    name_field,
)
from server.schemas import (
    GeometryPoint,
    ListArgsSchema,
    PointSchema,
    StrictFloat,
    StrictInt,
    Timestamp,
)
from workflow.lifecycle import PLANNERS

_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class HourMinute(fields.String):
    """A local wall-clock time written "HH:MM" (24-hour)."""

    def __init__(self, **kwargs: Any) -> None:
        docs = {"pattern": _HH_MM.pattern, "example": "08:30"}
        kwargs["metadata"] = {**docs, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.strftime("%H:%M")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        match = _HH_MM.match(text)
        if match is None:
            raise ValidationError('Use 24-hour "HH:MM".')
        return dt.time(int(match[1]), int(match[2]))


MAX_BREAK_MINUTES = 240


def _minutes(value: dt.time) -> int:
    return value.hour * 60 + value.minute


class ShiftSchema(Schema):
    """A weekly working window in the tenant's local time; 0 is Monday.

    An optional break of ``break_minutes`` starts at ``break_start`` and lies inside it.
    """

    weekday = StrictInt(required=True, validate=validate.Range(0, 6))
    start = HourMinute(required=True, attribute="start_time")
    end = HourMinute(required=True, attribute="end_time")
    break_start = HourMinute(allow_none=True, load_default=None)
    break_minutes = StrictInt(load_default=0, validate=validate.Range(0, MAX_BREAK_MINUTES))

    @validates_schema
    def _end_after_start(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["end_time"] <= data["start_time"]:
            raise ValidationError("end must be after start.", field_name="end")

    @validates_schema
    def _break_inside_shift(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, minutes = data.get("break_start"), data.get("break_minutes", 0)
        if start is None:
            if minutes:
                raise ValidationError("A break needs break_start.", field_name="break_start")
            return
        if not minutes:
            raise ValidationError(
                "A break needs break_minutes above 0.", field_name="break_minutes"
            )
        begins, ends = _minutes(data["start_time"]), _minutes(data["end_time"])
        if _minutes(start) < begins or _minutes(start) + minutes > ends:
            raise ValidationError("The break must lie inside the shift.", field_name="break_start")


class SkillLevelSchema(Schema):
    """A skill code and the level it is held at, 1 (trainee) to 5 (expert)."""

    skill = fields.String(required=True, validate=validate.Length(min=1, max=64))
    level = StrictInt(required=True, validate=validate.Range(1, 5))


class TechnicianSkillSchema(Schema):
    """A held skill as the API shows it."""

    skill = fields.Pluck(SkillSchema, "code", dump_only=True)
    level = fields.Integer(dump_only=True)


def _unique_skills(items: list[dict[str, Any]]) -> None:
    codes = [item["skill"] for item in items]
    duplicated = sorted({code for code in codes if codes.count(code) > 1})
    if duplicated:
        raise ValidationError(f"Each skill once: {', '.join(duplicated)} repeated.")


def _unique_ids(items: list[Any]) -> None:
    if len(set(items)) != len(items):
        raise ValidationError("Each territory once.")


def _phone(**kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(min=1, max=40), **kwargs)


def _max_jobs(**kwargs: Any) -> fields.Integer:
    return StrictInt(validate=validate.Range(1, 50), **kwargs)


def _max_minutes(**kwargs: Any) -> fields.Integer:
    return StrictInt(
        allow_none=True,
        validate=validate.Range(1, 24 * 60),
        metadata={"description": "Working minutes a day at most; null means no limit."},
        **kwargs,
    )


def _skills(**kwargs: Any) -> fields.List[Any]:
    return fields.List(fields.Nested(SkillLevelSchema), validate=_unique_skills, **kwargs)


def _territory_ids(**kwargs: Any) -> fields.List[Any]:
    return fields.List(fields.UUID(), validate=_unique_ids, **kwargs)


def _shifts(**kwargs: Any) -> fields.List[Any]:
    return fields.List(fields.Nested(ShiftSchema), validate=validate.Length(max=100), **kwargs)


class TechnicianCreateSchema(Schema):
    """Fields of a new technician."""

    name = name_field(required=True)
    phone = _phone(load_default=None)
    user_id = fields.UUID(allow_none=True, load_default=None)
    home_base = GeometryPoint(allow_none=True, load_default=None)
    max_jobs_per_day = _max_jobs(load_default=6)
    max_work_minutes_per_day = _max_minutes(load_default=None)
    active = StrictBool(load_default=True)
    skills = _skills(load_default=list)
    territory_ids = _territory_ids(load_default=list)
    shifts = _shifts(load_default=list)


class TechnicianUpdateSchema(Schema):
    """Changeable technician fields; skills, territory_ids and shifts replace the old lists."""

    name = name_field()
    phone = _phone()
    user_id = fields.UUID(allow_none=True)
    home_base = GeometryPoint(allow_none=True)
    max_jobs_per_day = _max_jobs()
    max_work_minutes_per_day = _max_minutes()
    active = StrictBool()
    skills = _skills()
    territory_ids = _territory_ids()
    shifts = _shifts()


class TechnicianSchema(Schema):
    """A technician as the API shows it."""

    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    phone = fields.String(dump_only=True, allow_none=True)
    user_id = fields.UUID(dump_only=True, allow_none=True)
    home_base = GeometryPoint(dump_only=True, allow_none=True)
    max_jobs_per_day = fields.Integer(dump_only=True)
    max_work_minutes_per_day = fields.Integer(dump_only=True, allow_none=True)
    active = fields.Boolean(dump_only=True)
    skills = fields.List(fields.Nested(TechnicianSkillSchema), dump_only=True)
    territory_ids = fields.Pluck(
        TerritorySchema, "id", many=True, attribute="territories", dump_only=True
    )
    shifts = fields.List(fields.Nested(ShiftSchema), dump_only=True)
    last_position = GeometryPoint(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Last reported GPS fix; null unless a dispatcher or admin asks."},
    )
    last_position_at = Timestamp(dump_only=True, allow_none=True)
    last_position_accuracy_m = fields.Float(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)

    @post_dump
    def _positions_for_planners(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # Where someone is right now is for the people who dispatch them.
        principal = g.get("principal") if has_app_context() else None
        if principal is None or principal.role not in PLANNERS:
            for key in POSITION_FIELDS:
                data[key] = None
        return data


POSITION_FIELDS = ("last_position", "last_position_at", "last_position_accuracy_m")


class PositionReportSchema(Schema):
    """A GPS fix reported by the signed-in technician's phone."""

    lat = StrictFloat(required=True, validate=validate.Range(-90, 90))
    lon = StrictFloat(required=True, validate=validate.Range(-180, 180))
    accuracy_m = StrictFloat(
        allow_none=True, load_default=None, validate=validate.Range(0, 100_000)
    )
    recorded_at = Timestamp(
        load_default=None,
        metadata={"description": "When the fix was taken (default: now); within 24 h."},
    )


class PositionSchema(Schema):
    """The technician's stored position after a report."""

    technician_id = fields.UUID(dump_only=True)
    last_position = fields.Nested(PointSchema, dump_only=True, allow_none=True)
    last_position_at = Timestamp(dump_only=True, allow_none=True)
    last_position_accuracy_m = fields.Float(dump_only=True, allow_none=True)
    applied = fields.Boolean(
        dump_only=True,
        metadata={"description": "False when a newer fix was already stored (kept)."},
    )


class TechnicianQueryArgsSchema(ListArgsSchema):
    """Filters for the technician list (q matches the name)."""

    skill = fields.String(validate=validate.Length(min=1, max=64))
    min_level = fields.Integer(validate=validate.Range(1, 5))
    territory_id = fields.UUID()
    active = fields.Boolean()

    @validates_schema
    def _level_needs_skill(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "min_level" in data and "skill" not in data:
            raise ValidationError("min_level filters a skill: give skill too.", "min_level")
