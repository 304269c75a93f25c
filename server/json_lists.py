"""Portable SQL over JSON list columns (SQLite ``json_each`` / PostgreSQL ``jsonb`` functions).

Reference data keeps short lists of codes in JSON columns (order types, skill codes, models);
these helpers let a query ask "does the list hold one of these values" or "is it empty" the
same way on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, false, func, literal, select


def _elements(column: Any, dialect: str) -> Any:
    fn = (
        func.jsonb_array_elements_text(column)
        if dialect == "postgresql"
        else func.json_each(column)
    )
    return fn.table_valued("value")


def json_list_has_any(
    column: Any, values: Sequence[str], dialect: str, *, casefold: bool = False
) -> ColumnElement[bool]:
    """Rows whose JSON list ``column`` holds at least one of ``values`` (exact match)."""
    if not values:
        return false()
    elements = _elements(column, dialect)
    value = elements.c.value
    wanted = list(values)
    if casefold:
        value = func.lower(value)
        wanted = [v.lower() for v in wanted]
    return exists(select(literal(1)).select_from(elements).where(value.in_(wanted)))


def json_list_is_empty(column: Any, dialect: str) -> ColumnElement[bool]:
    """Rows whose JSON list ``column`` has no elements (by convention: "applies to any")."""
    length = (
        func.jsonb_array_length(column)
        if dialect == "postgresql"
        else func.json_array_length(column)
    )
    return length == 0
