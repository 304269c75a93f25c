"""Technicians with their skills, territories and weekly shifts."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.organization.schemas import (
    SkillSchema,
    StrictBool,
    TerritorySchema,
    name_field,
)
from server.schemas import GeometryPoint, ListArgsSchema, StrictInt, Timestamp

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


class ShiftSchema(Schema):
    """A weekly working window in the tenant's local time; 0 is Monday."""

    weekday = StrictInt(required=True, validate=validate.Range(0, 6))
    start = HourMinute(required=True, attribute="start_time")
    end = HourMinute(required=True, attribute="end_time")

    @validates_schema
    def _end_after_start(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["end_time"] <= data["start_time"]:
            raise ValidationError("end must be after start.", field_name="end")


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
    active = fields.Boolean(dump_only=True)
    skills = fields.List(fields.Nested(TechnicianSkillSchema), dump_only=True)
    territory_ids = fields.Pluck(
        TerritorySchema, "id", many=True, attribute="territories", dump_only=True
    )
    shifts = fields.List(fields.Nested(ShiftSchema), dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


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
