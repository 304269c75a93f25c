"""Use cases for checklist templates, and the choice of a template for a work order."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from server.checklists.models import ChecklistTemplate, pick_template
from server.errors import ValidationFailed
from server.http import apply_sort, text_search
from server.json_lists import json_list_has_any, json_list_is_empty

SORTS = {
    "name": ChecklistTemplate.name,
    "created_at": ChecklistTemplate.created_at,
    "updated_at": ChecklistTemplate.updated_at,
}


def _fits(column: Any, value: str | None, dialect: str) -> ColumnElement[bool]:
    """The list is empty ("any") or holds ``value``."""
    if value is None:
        return json_list_is_empty(column, dialect)
    return or_(json_list_is_empty(column, dialect), json_list_has_any(column, [value], dialect))


def template_query(*, filters: dict[str, Any], dialect: str) -> Select[tuple[ChecklistTemplate]]:
    """The sorted, filtered template list as a statement (tenant scoping is automatic)."""
    model = ChecklistTemplate
    stmt = select(model)
    stmt = text_search(stmt, filters.get("q"), model.name)
    if "active" in filters:
        stmt = stmt.where(model.active == filters["active"])
    if "order_type" in filters:
        stmt = stmt.where(_fits(model.order_types, filters["order_type"], dialect))
    if "equipment_category" in filters:
        stmt = stmt.where(_fits(model.equipment_categories, filters["equipment_category"], dialect))
    return apply_sort(stmt, filters.get("sort"), SORTS, [model.name], model.id)


def item_problems(items: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Every rule broken across items, keyed by item index then field (empty when none)."""
    problems: dict[str, dict[str, list[str]]] = {}

    def add(index: int, field: str, message: str) -> None:
        problems.setdefault(str(index), {}).setdefault(field, []).append(message)

    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        key, kind = item["key"], item["kind"]
        if key in first_index:
            add(index, "key", f"Duplicate key '{key}' (also item {first_index[key]}).")
        else:
            first_index[key] = index
        choices = item.get("choices")
        if kind == "choice":
            if not choices:
                add(index, "choices", "A choice item needs a non-empty list of choices.")
            elif len({c.strip() for c in choices}) != len(choices):
                add(index, "choices", "Choices must be unique.")
        elif choices:
            add(index, "choices", "Only choice items take choices.")
        if kind != "number":
            for field in ("unit", "min", "max"):
                if item.get(field) is not None:
                    add(index, field, "Only number items take unit, min and max.")
        elif (
            item.get("min") is not None
            and item.get("max") is not None
            and item["min"] > item["max"]
        ):
            add(index, "max", "max must be greater than or equal to min.")
    return problems


def _normalized(item: dict[str, Any]) -> dict[str, Any]:
    """Every field present (null where it does not apply), text trimmed."""
    kind = item["kind"]
    number = kind == "number"
    unit = item.get("unit")
    return {
        "key": item["key"],
        "label": item["label"].strip(),
        "kind": kind,
        "required": bool(item.get("required", False)),
        "choices": [c.strip() for c in item["choices"]] if kind == "choice" else None,
        "unit": unit.strip() if number and unit is not None else None,
        "min": item.get("min") if number else None,
        "max": item.get("max") if number else None,
    }


def checked_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items as stored, or 422 invalid_checklist_items listing every problem at once."""
    problems = item_problems(items)
    if problems:
        raise ValidationFailed(
            "The checklist items are inconsistent; see errors.",
            code="invalid_checklist_items",
            errors={"json": {"items": problems}},
        )
    return [_normalized(item) for item in items]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def create_template(*, db_session: Session, data: dict[str, Any]) -> ChecklistTemplate:
    """Create a checklist template (version 1)."""
    template = ChecklistTemplate(
        name=data["name"].strip(),
        description=data.get("description", ""),
        order_types=_unique(data.get("order_types") or []),
        equipment_categories=_unique(data.get("equipment_categories") or []),
        items=checked_items(data["items"]),
        version=1,
        active=data.get("active", True),
    )
    db_session.add(template)
    db_session.commit()
    return template


def update_template(
    *, db_session: Session, template: ChecklistTemplate, data: dict[str, Any]
) -> ChecklistTemplate:
    """Change a template; new items replace the list and bump the version when different."""
    if "items" in data:
        items = checked_items(data["items"])
        if items != template.items:
            template.items = items
            template.version += 1
    if "name" in data:
        template.name = data["name"].strip()
    if "description" in data:
        template.description = data["description"]
    for key in ("order_types", "equipment_categories"):
        if key in data:
            setattr(template, key, _unique(data[key]))
    if "active" in data:
        template.active = data["active"]
    db_session.commit()
    return template


def resolve_template(*, db_session: Session, template_id: uuid.UUID) -> ChecklistTemplate:
    """The tenant's active template with this id; unknown or inactive ids answer 422."""
    template = db_session.get(ChecklistTemplate, template_id)
    if template is None:
        raise ValidationFailed(
            "Unknown checklist template.",
            code="unknown_checklist_template",
            errors={"checklist_template_id": ["Unknown."]},
        )
    if not template.active:
        raise ValidationFailed(
            "The checklist template is inactive.",
            code="checklist_template_inactive",
            errors={"checklist_template_id": ["Inactive."]},
        )
    return template


def select_template(
    *, db_session: Session, order_type: str, equipment_category: str | None
) -> ChecklistTemplate | None:
    """The active template that fits an order best (both lists > one > "any"; then oldest)."""
    model = ChecklistTemplate
    dialect = db_session.get_bind().dialect.name
    # SQL narrows to the fitting templates; ranking the few that fit is simpler in Python.
    candidates = db_session.scalars(
        select(model).where(
            model.active.is_(True),
            _fits(model.order_types, order_type, dialect),
            _fits(model.equipment_categories, equipment_category, dialect),
        )
    )
    return pick_template(candidates, order_type=order_type, equipment_category=equipment_category)


def templates_for_sync() -> Select[tuple[ChecklistTemplate]]:
    """Active templates, oldest first: what a phone should hold (run in a tenant session)."""
    model = ChecklistTemplate
    return select(model).where(model.active.is_(True)).order_by(model.created_at, model.id)
