"""Checklist templates: the standard operating procedure a technician follows on an order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, TenantScoped, Timestamps, UUIDPk

ITEM_KINDS = ("check", "number", "text", "choice", "photo")


class ChecklistTemplate(UUIDPk, TenantScoped, Timestamps, Base):
    """A versioned list of items to answer on orders of some types and equipment categories."""

    __tablename__ = "checklist_templates"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Empty lists mean "any order type" / "any equipment category".
    order_types: Mapped[list[Any]] = mapped_column(default=list)
    equipment_categories: Mapped[list[Any]] = mapped_column(default=list)
    # [{"key", "label", "kind", "required", "choices", "unit", "min", "max"}], validated by
    # the service; answers in work_orders.checklist_answers are keyed by "key".
    items: Mapped[list[Any]] = mapped_column(default=list)
    # Bumped whenever the items change, so a phone can tell its cached copy is stale.
    version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(default=True)

    def specificity(self, order_type: str, equipment_category: str | None) -> int | None:
        """How specifically this template fits (2 both lists, 1 one, 0 "any"); None: no fit."""
        score = 0
        if self.order_types:
            if order_type not in self.order_types:
                return None
            score += 1
        if self.equipment_categories:
            if equipment_category is None or equipment_category not in self.equipment_categories:
                return None
            score += 1
        return score

    def missing(self, answers: Any) -> list[str]:
        """Keys of required items without an answer, in template order."""
        given = answers if isinstance(answers, dict) else {}
        return [
            item["key"]
            for item in self.items
            if item.get("required") and not is_answered(given.get(item["key"]))
        ]


def is_answered(value: Any) -> bool:
    """Whether an answer counts: null, blank text and empty lists/objects do not.

    ``False`` does count: "checked, not OK" is an answer, the resolution says what follows.
    """
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return True


def pick_template(
    templates: Iterable[ChecklistTemplate], *, order_type: str, equipment_category: str | None
) -> ChecklistTemplate | None:
    """The most specific fitting template; ties go to the oldest (then the smallest id)."""
    best: tuple[int, Any, str] | None = None
    chosen: ChecklistTemplate | None = None
    for template in templates:
        score = template.specificity(order_type, equipment_category)
        if score is None:
            continue
        # Sort key: higher score first, then older, then id for a stable answer.
        key = (-score, template.created_at, str(template.id))
        if best is None or key < best:
            best, chosen = key, template
    return chosen
