"""Checklist templates: representation, create/patch bodies, list filters.

The shape of every item (types, lengths, known kind) is checked here; the rules that tie
an item's fields together (choices only for choice items, min <= max, unique keys) are
checked by the service, which reports all of them at once with code
``invalid_checklist_items``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from server.checklists.models import ITEM_KINDS
from server.equipment.schemas import CATEGORIES
from server.organization.schemas import NOT_BLANK, StrictBool, name_field
from server.schemas import ListArgsSchema, StrictFloat, Text, Timestamp
from server.work_orders.models import ORDER_TYPES

MAX_ITEMS = 200
MAX_CHOICES = 50
# Answers in work_orders.checklist_answers are keyed by it: keep it plain and stable.
ITEM_KEY = validate.Regexp(
    r"^[a-z0-9][a-z0-9_\-]{0,63}$",
    error="Use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit.",
)


class ChecklistItemSchema(Schema):
    """One item of a checklist: what to check or measure, and how it is answered."""

    key = fields.String(required=True, validate=ITEM_KEY)
    label = Text(required=True, validate=[validate.Length(min=1, max=300), NOT_BLANK])
    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    required = StrictBool(load_default=False)
    choices = fields.List(
        Text(validate=[validate.Length(min=1, max=200), NOT_BLANK]),
        allow_none=True,
        validate=validate.Length(max=MAX_CHOICES),
        metadata={"description": "Only for kind=choice, and required there."},
    )
    unit = Text(
        allow_none=True,
        validate=[validate.Length(min=1, max=32), NOT_BLANK],
        metadata={"description": "Only for kind=number."},
    )
    min = StrictFloat(allow_none=True, metadata={"description": "Only for kind=number."})
    max = StrictFloat(allow_none=True, metadata={"description": "Only for kind=number; >= min."})


class ChecklistItemOutSchema(Schema):
    """An item as stored: every field present, null where it does not apply."""

    key = fields.String()
    label = fields.String()
    kind = fields.String(metadata={"enum": list(ITEM_KINDS)})
    required = fields.Boolean()
    choices = fields.List(fields.String(), allow_none=True)
    unit = fields.String(allow_none=True)
    min = fields.Float(allow_none=True)
    max = fields.Float(allow_none=True)


def _items_field(**kwargs: Any) -> fields.List[dict[str, Any]]:
    return fields.List(
        fields.Nested(ChecklistItemSchema),
        validate=validate.Length(min=1, max=MAX_ITEMS),
        metadata={"description": f"1-{MAX_ITEMS} items; keys unique within the template."},
        **kwargs,
    )


def _order_types_field(**kwargs: Any) -> fields.List[str]:
    return fields.List(
        fields.String(validate=validate.OneOf(ORDER_TYPES)),
        validate=validate.Length(max=len(ORDER_TYPES)),
        metadata={"description": "Work-order types it applies to; empty = any."},
        **kwargs,
    )


def _categories_field(**kwargs: Any) -> fields.List[str]:
    return fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)),
        validate=validate.Length(max=len(CATEGORIES)),
        metadata={"description": "Equipment categories it applies to; empty = any."},
        **kwargs,
    )


class ChecklistTemplateSchema(Schema):
    """A checklist template as the API shows it."""

    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    order_types = fields.List(fields.String(metadata={"enum": list(ORDER_TYPES)}), dump_only=True)
    equipment_categories = fields.List(
        fields.String(metadata={"enum": list(CATEGORIES)}), dump_only=True
    )
    items = fields.List(fields.Nested(ChecklistItemOutSchema), dump_only=True)
    version = fields.Integer(
        dump_only=True, metadata={"description": "Incremented whenever the items change."}
    )
    active = fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class ChecklistTemplateCreateSchema(Schema):
    """Fields of a new checklist template."""

    name = name_field(required=True)
    description = Text(load_default="", validate=validate.Length(max=20_000))
    order_types = _order_types_field(load_default=list)
    equipment_categories = _categories_field(load_default=list)
    items = _items_field(required=True)
    active = StrictBool(load_default=True)


class ChecklistTemplateUpdateSchema(Schema):
    """Changeable template fields; new items replace the old list and bump the version."""

    name = name_field()
    description = Text(validate=validate.Length(max=20_000))
    order_types = _order_types_field()
    equipment_categories = _categories_field()
    items = _items_field()
    active = StrictBool(metadata={"description": "false deactivates (there is no delete)."})


class ChecklistTemplateQueryArgsSchema(ListArgsSchema):
    """Filters for the template list (q matches the name)."""

    active = fields.Boolean()
    order_type = fields.String(
        validate=validate.OneOf(ORDER_TYPES),
        metadata={"description": "Templates that apply to this order type (or to any)."},
    )
    equipment_category = fields.String(
        validate=validate.OneOf(CATEGORIES),
        metadata={"description": "Templates that apply to this category (or to any)."},
    )
