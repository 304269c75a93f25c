"""The spare-parts ledger: locations, movements, balances, serials, discrepancies."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.organization.schemas import CODE, NOT_BLANK, StrictBool, name_field
from server.schemas import ListArgsSchema, Text, Timestamp
from server.stock.models import KINDS, REASONS, VAN, WAREHOUSE

# Reasons an office user may post by hand; consumption, reservation and reversal come from
# their own flows (synced usage, requisitions, the reverse endpoint).
MANUAL_REASONS = ("receipt", "transfer", "return", "adjustment", "rma")
CREATABLE_KINDS = (WAREHOUSE, VAN)
DISCREPANCY_STATUSES = ("open", "resolved")
MAX_SERIALS = 1000
# Shown as exact decimal strings (like part prices), never binary floats.
QUANTITY_OUT = {"type": "string", "format": "decimal", "example": "2.000"}


def quantity_out() -> fields.Decimal:
    """A quantity in a response: a decimal string with three places."""
    return fields.Decimal(as_string=True, places=3, dump_only=True, metadata=QUANTITY_OUT)


class Quantity(fields.Decimal):
    """A JSON number only (no strings, no booleans), loaded as an exact Decimal.

    Its value (positive, at most three decimals) is the ledger's rule and is checked there,
    so every caller gets the same ``invalid_quantity`` error.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Not a valid number.")
        try:
            # str() of a float is its shortest round-trip form: 1.005 stays "1.005".
            number = Decimal(str(value))
        except (InvalidOperation, ValueError) as exc:
            raise ValidationError("Not a valid number.") from exc
        if not number.is_finite():
            raise ValidationError("Must be a finite number.")
        return number


# --- locations ---------------------------------------------------------------------------


class LocationSchema(Schema):
    """A stock location as the API shows it."""

    id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"enum": list(KINDS)})
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    technician_id = fields.UUID(dump_only=True, allow_none=True)
    site_id = fields.UUID(dump_only=True, allow_none=True)
    warehouse_id = fields.UUID(
        dump_only=True, allow_none=True, metadata={"description": "A van's home warehouse."}
    )
    active = fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class LocationCreateSchema(Schema):
    """A new warehouse (code and name) or a technician's van (technician_id)."""

    kind = fields.String(required=True, validate=validate.OneOf(CREATABLE_KINDS))
    code = fields.String(
        validate=CODE,
        metadata={"description": "Unique in the tenant; required for a warehouse."},
    )
    name = name_field(metadata={"description": "Required for a warehouse."})
    technician_id = fields.UUID(metadata={"description": "Vans only: whose van it is."})
    warehouse_id = fields.UUID(
        allow_none=True, metadata={"description": "Vans only: the home warehouse."}
    )

    @validates_schema
    def _by_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if data.get("kind") == WAREHOUSE:
            for key in ("code", "name"):
                if key not in data:
                    errors[key] = ["Required for a warehouse."]
            for key in ("technician_id", "warehouse_id"):
                if key in data:
                    errors[key] = ["Only vans have this."]
        elif data.get("kind") == VAN and "technician_id" not in data:
            errors["technician_id"] = ["Required for a van."]
        if errors:
            raise ValidationError(errors)


class LocationUpdateSchema(Schema):
    """Changeable fields of a warehouse or van (kind, code and owner are fixed)."""

    name = name_field()
    active = StrictBool(
        metadata={"description": "false refuses further postings; only when it holds nothing."}
    )
    warehouse_id = fields.UUID(
        allow_none=True, metadata={"description": "Vans only: the home warehouse."}
    )


class LocationQueryArgsSchema(ListArgsSchema):
    """Filters for the location list (q matches code or name)."""

    kind = fields.String(validate=validate.OneOf(KINDS))
    active = fields.Boolean()
    technician_id = fields.UUID()


# --- movements ---------------------------------------------------------------------------


class MovementSchema(Schema):
    """One posting of the ledger (never edited; mistakes are reversed)."""

    id = fields.UUID(dump_only=True)
    part_id = fields.UUID(dump_only=True)
    from_location_id = fields.UUID(dump_only=True)
    to_location_id = fields.UUID(dump_only=True)
    quantity = quantity_out()
    unit_cost = fields.Decimal(
        dump_only=True,
        as_string=True,
        allow_none=True,
        metadata={"description": "The part's cost when it moved (null on old rows)."},
    )
    unit_price = fields.Decimal(dump_only=True, as_string=True, allow_none=True)
    serial_numbers = fields.List(fields.String(), dump_only=True)
    reason = fields.String(dump_only=True, metadata={"enum": list(REASONS)})
    work_order_id = fields.UUID(dump_only=True, allow_none=True)
    reverses_id = fields.UUID(
        dump_only=True, allow_none=True, metadata={"description": "The movement this undoes."}
    )
    part_usage_id = fields.UUID(dump_only=True, allow_none=True)
    actor_id = fields.UUID(dump_only=True, allow_none=True)
    source = fields.String(dump_only=True, metadata={"enum": ["api", "sync", "system"]})
    note = fields.String(dump_only=True, allow_none=True)
    occurred_at = Timestamp(dump_only=True)
    recorded_at = Timestamp(dump_only=True)


class MovementCreateSchema(Schema):
    """A manual posting by the office.

    receipt: from_location_id defaults to the tenant's suppliers; adjustment: send one side,
    the other is the tenant's adjustment account; rma: to_location_id defaults to vendors.
    """

    part_id = fields.UUID(required=True)
    from_location_id = fields.UUID(
        allow_none=True,
        metadata={
            "description": "Omit for a receipt (the tenant's suppliers) or for an adjustment "
            "that adds stock (the tenant's adjustment account)."
        },
    )
    to_location_id = fields.UUID(
        allow_none=True,
        metadata={
            "description": "Omit for an adjustment that removes stock (the adjustment "
            "account) or for an rma (the tenant's vendors)."
        },
    )
    quantity = Quantity(
        required=True,
        metadata={"description": "A JSON number > 0 with at most three decimals."},
    )
    serial_numbers = fields.List(
        fields.String(),
        validate=validate.Length(max=MAX_SERIALS),
        metadata={"description": "Serialised parts only: one per unit."},
    )
    reason = fields.String(required=True, validate=validate.OneOf(MANUAL_REASONS))
    work_order_id = fields.UUID(allow_none=True)
    note = Text(allow_none=True, validate=validate.Length(max=2000))
    occurred_at = Timestamp(metadata={"description": "When it happened; not in the future."})


class ReverseSchema(Schema):
    """Why a movement is undone."""

    note = Text(allow_none=True, validate=validate.Length(max=2000))


class MovementQueryArgsSchema(Schema):
    """Filters for the movement list (newest first)."""

    part_id = fields.UUID()
    location_id = fields.UUID(metadata={"description": "Either side of the movement."})
    work_order_id = fields.UUID()
    reason = fields.String(validate=validate.OneOf(REASONS))
    serial = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Movements carrying this serial number."},
    )
    recorded_from = Timestamp(metadata={"description": "recorded_at at or after this time."})
    recorded_to = Timestamp(metadata={"description": "recorded_at before this time."})


# --- balances ----------------------------------------------------------------------------


class BalanceSchema(Schema):
    """On hand and reserved of one part at one location."""

    location_id = fields.UUID(dump_only=True)
    location_code = fields.String(dump_only=True)
    location_kind = fields.String(dump_only=True, metadata={"enum": list(KINDS)})
    part_id = fields.UUID(dump_only=True)
    sku = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    on_hand = quantity_out()
    reserved = quantity_out()
    available = quantity_out()


class BalanceQueryArgsSchema(Schema):
    """Filters for balances; format=csv exports every matching row as text/csv."""

    location_id = fields.UUID()
    part_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(KINDS), metadata={"description": "Location kind."})
    nonzero = fields.Boolean(metadata={"description": "Only rows with stock on hand or reserved."})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


# --- serials -----------------------------------------------------------------------------


class SerialQueryArgsSchema(Schema):
    """Which part the serial number belongs to."""

    part_id = fields.UUID(required=True)


class SerialHistorySchema(Schema):
    """Where one serial number is now and every movement that carried it, oldest first."""

    serial = fields.String(dump_only=True)
    part_id = fields.UUID(dump_only=True)
    sku = fields.String(dump_only=True)
    location_id = fields.UUID(dump_only=True)
    location_code = fields.String(dump_only=True)
    location_kind = fields.String(dump_only=True, metadata={"enum": list(KINDS)})
    updated_at = Timestamp(dump_only=True)
    movements = fields.List(fields.Nested(MovementSchema), dump_only=True)


# --- discrepancies -----------------------------------------------------------------------


class DiscrepancySchema(Schema):
    """Something the field recorded that the books did not expect."""

    id = fields.UUID(dump_only=True)
    location_id = fields.UUID(dump_only=True)
    part_id = fields.UUID(dump_only=True)
    movement_id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True, metadata={"enum": ["negative_stock", "serial_elsewhere"]})
    quantity = quantity_out()
    detail = fields.String(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True, metadata={"enum": list(DISCREPANCY_STATUSES)})
    resolution = fields.String(dump_only=True, allow_none=True)
    resolved_by_id = fields.UUID(dump_only=True, allow_none=True)
    resolved_at = Timestamp(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)


class DiscrepancyQueryArgsSchema(Schema):
    """Filters for discrepancies (newest first)."""

    status = fields.String(validate=validate.OneOf(DISCREPANCY_STATUSES))
    location_id = fields.UUID()
    part_id = fields.UUID()


class ResolveSchema(Schema):
    """How a discrepancy was settled."""

    resolution = Text(required=True, validate=[validate.Length(min=1, max=2000), NOT_BLANK])
