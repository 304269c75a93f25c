"""Use cases for the parts catalogue."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal, select
from sqlalchemy.orm import Session

from server.errors import Conflict
from server.http import apply_sort, text_search
from server.parts.models import Part

CENT = Decimal("0.01")
SORTS = {
    "sku": Part.sku,
    "name": Part.name,
    "unit_price": Part.unit_price,
    "created_at": Part.created_at,
}


def _has_model(model: str, dialect: str) -> ColumnElement[bool]:
    """Parts whose compatible_models list holds ``model`` (case-insensitive, exact)."""
    elements = (
        func.jsonb_array_elements_text(Part.compatible_models)
        if dialect == "postgresql"
        else func.json_each(Part.compatible_models)
    ).table_valued("value")
    return exists(
        select(literal(1))
        .select_from(elements)
        .where(func.lower(elements.c.value) == model.lower())
    )


def part_query(*, filters: dict[str, Any], dialect: str) -> Select[tuple[Part]]:
    """The sorted, filtered catalogue as a statement (tenant scoping is automatic)."""
    stmt = select(Part)
    stmt = text_search(stmt, filters.get("q"), Part.sku, Part.name)
    for key in ("serialized", "active"):
        if key in filters:
            stmt = stmt.where(getattr(Part, key) == filters[key])
    if "model" in filters:
        stmt = stmt.where(_has_model(filters["model"], dialect))
    return apply_sort(stmt, filters.get("sort"), SORTS, [Part.sku], Part.id)


def _check_sku(db_session: Session, sku: str, *, exclude: Part | None) -> None:
    stmt = select(Part.id).where(Part.sku == sku)
    if exclude is not None:
        stmt = stmt.where(Part.id != exclude.id)
    if db_session.scalar(stmt) is not None:
        raise Conflict(f"A part with SKU '{sku}' exists.", code="duplicate_sku")


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(data)
    for key in ("name", "unit"):
        if key in cleaned:
            cleaned[key] = cleaned[key].strip()
    for key in ("unit_cost", "unit_price"):
        if key in cleaned:
            # The schema refused sub-cent amounts; this only fixes the scale ("3" -> "3.00").
            cleaned[key] = cleaned[key].quantize(CENT)
    if "compatible_models" in cleaned:
        models = [m.strip() for m in cleaned["compatible_models"]]
        cleaned["compatible_models"] = list(dict.fromkeys(models))
    return cleaned


def create_part(*, db_session: Session, data: dict[str, Any]) -> Part:
    """Add a part to the catalogue; the SKU is unique within the tenant."""
    _check_sku(db_session, data["sku"], exclude=None)
    part = Part(**_clean(data))
    db_session.add(part)
    db_session.commit()
    return part


def update_part(*, db_session: Session, part: Part, data: dict[str, Any]) -> Part:
    """Change a catalogue part."""
    if "sku" in data and data["sku"] != part.sku:
        _check_sku(db_session, data["sku"], exclude=part)
    for key, value in _clean(data).items():
        setattr(part, key, value)
    db_session.commit()
    return part
