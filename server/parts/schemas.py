"""The spare-parts catalogue."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from server.organization.schemas import NOT_BLANK, StrictBool, name_field
from server.schemas import ListArgsSchema, Timestamp

SKU = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,63}$",
    error="Use 1-64 letters, digits, '.', '_', '-' or '/', starting with a letter or digit.",
)
_CENT = Decimal("0.01")
# Numeric(12, 2) holds at most ten digits before the point.
_MAX_MONEY = Decimal("9999999999.99")


def _money(value: Decimal) -> None:
    if value < 0:
        raise ValidationError("Must not be negative.")
    if value > _MAX_MONEY:
        raise ValidationError(f"Must be at most {_MAX_MONEY}.")
    if value != value.quantize(_CENT):
        raise ValidationError("At most two decimal places.")


def money_field(**kwargs: Any) -> fields.Decimal:
    """A non-negative amount with cents; accepts a JSON number or a decimal string."""
    metadata = {"description": 'A decimal string ("12.50") or number; >= 0, at most 2 places.'}
    return fields.Decimal(as_string=True, validate=_money, metadata=metadata, **kwargs)


# Shown as exact decimal strings, never binary floats.
MONEY_OUT = {"type": "string", "format": "decimal", "example": "12.50"}


def _models_field(**kwargs: Any) -> fields.List[str]:
    return fields.List(
        fields.String(validate=[validate.Length(min=1, max=100), NOT_BLANK]),
        validate=validate.Length(max=200),
        **kwargs,
    )


class PartSchema(Schema):
    """A catalogue part as the API shows it."""

    id = fields.UUID(dump_only=True)
    sku = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    unit = fields.String(dump_only=True)
    serialized = fields.Boolean(dump_only=True)
    unit_cost = fields.Decimal(as_string=True, places=2, dump_only=True, metadata=MONEY_OUT)
    unit_price = fields.Decimal(as_string=True, places=2, dump_only=True, metadata=MONEY_OUT)
    compatible_models = fields.List(fields.String(), dump_only=True)
    active = fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class PartCreateSchema(Schema):
    """Fields of a new part."""

    sku = fields.String(required=True, validate=SKU)
    name = name_field(required=True)
    unit = fields.String(load_default="pcs", validate=[validate.Length(min=1, max=16), NOT_BLANK])
    serialized = StrictBool(load_default=False)
    unit_cost = money_field(load_default=Decimal("0.00"))
    unit_price = money_field(load_default=Decimal("0.00"))
    compatible_models = _models_field(load_default=list)
    active = StrictBool(load_default=True)


class PartUpdateSchema(Schema):
    """Changeable part fields."""

    sku = fields.String(validate=SKU)
    name = name_field()
    unit = fields.String(validate=[validate.Length(min=1, max=16), NOT_BLANK])
    serialized = StrictBool()
    unit_cost = money_field()
    unit_price = money_field()
    compatible_models = _models_field()
    active = StrictBool()


class PartQueryArgsSchema(ListArgsSchema):
    """Filters for the catalogue (q matches SKU or name; model is an exact compatible model)."""

    serialized = fields.Boolean()
    active = fields.Boolean()
    model = fields.String(validate=validate.Length(min=1, max=100))
