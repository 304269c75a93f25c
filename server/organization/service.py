"""Use cases for skills, territories and custom fields, plus the validators other domains call."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from geo import Point
from geo.sql import contains_point, polygon_element
from server.errors import Conflict, ValidationFailed
from server.http import apply_sort, text_search
from server.organization.models import CustomFieldDefinition, Skill, Territory
from server.organization.schemas import options_problem
from server.schemas import utc_in_range

SKILL_SORTS = {"code": Skill.code, "name": Skill.name, "created_at": Skill.created_at}
TERRITORY_SORTS = {
    "code": Territory.code,
    "name": Territory.name,
    "created_at": Territory.created_at,
}
CUSTOM_FIELD_SORTS = {
    "key": CustomFieldDefinition.key,
    "label": CustomFieldDefinition.label,
    "created_at": CustomFieldDefinition.created_at,
}


# --- skills -----------------------------------------------------------------------------


def skill_query(*, filters: dict[str, Any]) -> Select[tuple[Skill]]:
    """The sorted, filtered skill list as a statement (tenant scoping is automatic)."""
    stmt = select(Skill)
    stmt = text_search(stmt, filters.get("q"), Skill.code, Skill.name)
    return apply_sort(stmt, filters.get("sort"), SKILL_SORTS, [Skill.code], Skill.id)


def create_skill(*, db_session: Session, data: dict[str, Any]) -> Skill:
    """Create a skill with a tenant-unique code."""
    if db_session.scalar(select(Skill.id).where(Skill.code == data["code"])) is not None:
        raise Conflict(f"A skill with code '{data['code']}' exists.", code="duplicate_skill")
    skill = Skill(code=data["code"], name=data["name"].strip())
    db_session.add(skill)
    db_session.commit()
    return skill


def update_skill(*, db_session: Session, skill: Skill, data: dict[str, Any]) -> Skill:
    """Rename a skill."""
    if "name" in data:
        skill.name = data["name"].strip()
    db_session.commit()
    return skill


def resolve_skill_codes(*, db_session: Session, codes: list[str]) -> dict[str, Skill]:
    """Map skill codes to the tenant's skills; any unknown code is a 422 unknown_skill."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return {}
    found = {s.code: s for s in db_session.scalars(select(Skill).where(Skill.code.in_(wanted)))}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise ValidationFailed(
            f"Unknown skill code(s): {', '.join(unknown)}.",
            code="unknown_skill",
            errors={"skills": {code: ["Unknown skill code."] for code in unknown}},
        )
    return found


# --- territories ------------------------------------------------------------------------


def territory_query(*, filters: dict[str, Any], dialect: str) -> Select[tuple[Territory]]:
    """The sorted, filtered territory list; lat/lon keeps those whose boundary holds it."""
    stmt = select(Territory)
    stmt = text_search(stmt, filters.get("q"), Territory.code, Territory.name)
    if "lat" in filters and "lon" in filters:
        point = Point(lat=filters["lat"], lon=filters["lon"])
        stmt = stmt.where(contains_point(Territory.boundary, point, dialect))
    return apply_sort(stmt, filters.get("sort"), TERRITORY_SORTS, [Territory.code], Territory.id)


def _check_territory_code(db_session: Session, code: str, *, exclude: Territory | None) -> None:
    stmt = select(Territory.id).where(Territory.code == code)
    if exclude is not None:
        stmt = stmt.where(Territory.id != exclude.id)
    if db_session.scalar(stmt) is not None:
        raise Conflict(f"A territory with code '{code}' exists.", code="duplicate_territory")


def _boundary(ring: list[Point] | None) -> Any:
    return None if ring is None else polygon_element(ring)


def create_territory(*, db_session: Session, data: dict[str, Any]) -> Territory:
    """Create a territory, optionally with a boundary polygon."""
    _check_territory_code(db_session, data["code"], exclude=None)
    territory = Territory(
        code=data["code"], name=data["name"].strip(), boundary=_boundary(data.get("boundary"))
    )
    db_session.add(territory)
    db_session.commit()
    return territory


def update_territory(
    *, db_session: Session, territory: Territory, data: dict[str, Any]
) -> Territory:
    """Change a territory's code, name or boundary (null removes the boundary)."""
    if "code" in data and data["code"] != territory.code:
        _check_territory_code(db_session, data["code"], exclude=territory)
        territory.code = data["code"]
    if "name" in data:
        territory.name = data["name"].strip()
    if "boundary" in data:
        territory.boundary = _boundary(data["boundary"])
    db_session.commit()
    return territory


# --- custom field definitions -----------------------------------------------------------


def custom_field_query(*, filters: dict[str, Any]) -> Select[tuple[CustomFieldDefinition]]:
    """The sorted, filtered list of custom field definitions."""
    model = CustomFieldDefinition
    stmt = select(model)
    stmt = text_search(stmt, filters.get("q"), model.key, model.label)
    for key in ("entity", "field_type", "active"):
        if key in filters:
            stmt = stmt.where(getattr(model, key) == filters[key])
    return apply_sort(
        stmt, filters.get("sort"), CUSTOM_FIELD_SORTS, [model.entity, model.key], model.id
    )


def create_custom_field(*, db_session: Session, data: dict[str, Any]) -> CustomFieldDefinition:
    """Define a custom field; the key is unique per entity within the tenant."""
    model = CustomFieldDefinition
    taken = db_session.scalar(
        select(model.id).where(model.entity == data["entity"], model.key == data["key"])
    )
    if taken is not None:
        raise Conflict(
            f"A {data['entity']} field with key '{data['key']}' exists.",
            code="duplicate_custom_field",
        )
    definition = model(
        entity=data["entity"],
        key=data["key"],
        label=data["label"].strip(),
        field_type=data["field_type"],
        required=data["required"],
        options=data.get("options"),
        active=data["active"],
    )
    db_session.add(definition)
    db_session.commit()
    return definition


def update_custom_field(
    *, db_session: Session, definition: CustomFieldDefinition, data: dict[str, Any]
) -> CustomFieldDefinition:
    """Change label, required flag, enum options or activity of a definition."""
    if "options" in data:
        problem = options_problem(definition.field_type, data["options"])
        if problem:
            raise ValidationFailed(
                "The request did not validate; see errors.",
                code="validation_error",
                errors={"json": {"options": [problem]}},
            )
        definition.options = data["options"]
    if "label" in data:
        definition.label = data["label"].strip()
    for key in ("required", "active"):
        if key in data:
            setattr(definition, key, data[key])
    db_session.commit()
    return definition


class _Invalid(ValueError):
    """One custom value that does not fit its definition."""


_MAX_TEXT = 10_000
_INT64 = 2**63 - 1


def _text(value: Any, definition: CustomFieldDefinition) -> Any:
    if not isinstance(value, str):
        raise _Invalid("Not a valid string.")
    if len(value) > _MAX_TEXT:
        raise _Invalid(f"Longer than {_MAX_TEXT} characters.")
    return value


def _integer(value: Any, definition: CustomFieldDefinition) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid("Not a valid integer.")
    if abs(value) > _INT64:
        raise _Invalid("Integer out of range.")
    return value


def _decimal(value: Any, definition: CustomFieldDefinition) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise _Invalid("Not a valid number.")
    try:
        number = float(value)
    except OverflowError as exc:
        raise _Invalid("Out of range.") from exc
    if not math.isfinite(number):
        raise _Invalid("Must be a finite number.")
    return number if isinstance(value, Decimal) else value


def _boolean(value: Any, definition: CustomFieldDefinition) -> Any:
    if not isinstance(value, bool):
        raise _Invalid("Not a valid boolean.")
    return value


def _date(value: Any, definition: CustomFieldDefinition) -> Any:
    if not isinstance(value, str):
        raise _Invalid("Not a valid date (YYYY-MM-DD).")
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise _Invalid("Not a valid date (YYYY-MM-DD).") from exc


def _datetime(value: Any, definition: CustomFieldDefinition) -> Any:
    message = "Not a valid ISO-8601 date-time."
    if not isinstance(value, str):
        raise _Invalid(message)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise _Invalid(message) from exc
    if parsed.tzinfo is None:
        raise _Invalid("Include a time zone offset (e.g. 'Z' or '+08:00').")
    utc = utc_in_range(parsed)
    if utc is None:
        raise _Invalid("Must be between 1900 and 2200.")
    return utc.isoformat()


def _enum(value: Any, definition: CustomFieldDefinition) -> Any:
    options = definition.options or []
    if not isinstance(value, str) or value not in options:
        raise _Invalid(f"Must be one of: {', '.join(options)}.")
    return value


_CHECKS: dict[str, Callable[[Any, CustomFieldDefinition], Any]] = {
    "text": _text,
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _boolean,
    "date": _date,
    "datetime": _datetime,
    "enum": _enum,
}


def validate_custom_fields(
    *, db_session: Session, entity: str, values: dict[str, Any], partial: bool
) -> dict[str, Any]:
    """Check custom values against the tenant's active definitions; return them normalised.

    ``partial`` (updates) lets required fields be absent; ``None`` means "no value" and
    is refused for required fields. Every problem is reported at once.
    """
    if not isinstance(values, dict):
        raise ValidationFailed(
            "Custom fields must be an object.",
            code="invalid_custom_fields",
            errors={"custom_fields": {"_schema": ["Must be an object."]}},
        )
    definitions = {
        d.key: d
        for d in db_session.scalars(
            select(CustomFieldDefinition).where(CustomFieldDefinition.entity == entity)
        )
    }
    errors: dict[str, list[str]] = {}
    normalized: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[key] = ["Unknown field."]
        elif not definition.active:
            errors[key] = ["This field is no longer in use."]
        elif value is None:
            if definition.required:
                errors[key] = ["This field is required."]
            else:
                normalized[key] = None
        else:
            try:
                normalized[key] = _CHECKS[definition.field_type](value, definition)
            except _Invalid as exc:
                errors[key] = [str(exc)]
    if not partial:
        for key, definition in definitions.items():
            if definition.active and definition.required and key not in values:
                errors[key] = ["Missing required field."]
    if errors:
        raise ValidationFailed(
            "Custom fields are invalid; see errors.",
            code="invalid_custom_fields",
            errors={"custom_fields": errors},
        )
    return normalized
