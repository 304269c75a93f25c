"""Requisitions, reservations and returns of spare parts: request and response shapes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.organization.schemas import NOT_BLANK, StrictBool
from server.schemas import Text, Timestamp
from server.stock.schemas import MAX_SERIALS, MovementSchema, Quantity, quantity_out

REQUISITION_STATUSES = (
    "requested",
    "approved",
    "rejected",
    "in_transit",
    "partially_received",
    "received",
    "cancelled",
)
RESERVATION_STATUSES = ("active", "released", "used")
MAX_LINES = 50
MONEY_OUT = {"type": "string", "format": "decimal", "example": "125.00"}
_NOTE = validate.Length(max=2000)


def _quantity(description: str, **kwargs: Any) -> Quantity:
    return Quantity(metadata={"description": description}, **kwargs)


def _serials() -> fields.List[str]:
    return fields.List(
        fields.String(),
        validate=validate.Length(max=MAX_SERIALS),
        metadata={"description": "Serialised parts only: one serial number per unit."},
    )


def _unique_parts(lines: list[dict[str, Any]] | None) -> None:
    """A part appears at most once per request (its line is the unit of every rule)."""
    seen: set[Any] = set()
    for line in lines or []:
        if line["part_id"] in seen:
            raise ValidationError(f"Part {line['part_id']} appears twice.", field_name="lines")
        seen.add(line["part_id"])


# --- responses ---------------------------------------------------------------------------


class RequisitionLineSchema(Schema):
    """One part of a requisition and how far it got."""

    id = fields.UUID(dump_only=True)
    part_id = fields.UUID(dump_only=True)
    quantity = quantity_out()
    approved_quantity = quantity_out()
    shipped_quantity = quantity_out()
    received_quantity = quantity_out()


class RequisitionSchema(Schema):
    """A technician's request for parts from a warehouse, with its lines."""

    id = fields.UUID(dump_only=True)
    number = fields.String(dump_only=True, metadata={"example": "REQ-000123"})
    technician_id = fields.UUID(dump_only=True)
    work_order_id = fields.UUID(dump_only=True, allow_none=True)
    warehouse_id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": list(REQUISITION_STATUSES)})
    requested_by_id = fields.UUID(dump_only=True, allow_none=True)
    decided_by_id = fields.UUID(dump_only=True, allow_none=True)
    decided_at = Timestamp(dump_only=True, allow_none=True)
    decision_note = fields.String(dump_only=True, allow_none=True)
    auto_approved = fields.Boolean(dump_only=True)
    value = fields.Decimal(as_string=True, places=2, dump_only=True, metadata=MONEY_OUT)
    note = fields.String(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)
    lines = fields.List(fields.Nested(RequisitionLineSchema), dump_only=True)


class ReservationSchema(Schema):
    """Stock held at a location for a work order: lowers available, not on hand."""

    id = fields.UUID(dump_only=True)
    work_order_id = fields.UUID(dump_only=True)
    location_id = fields.UUID(dump_only=True)
    part_id = fields.UUID(dump_only=True)
    quantity = quantity_out()
    status = fields.String(dump_only=True, metadata={"enum": list(RESERVATION_STATUSES)})
    requisition_id = fields.UUID(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)
    closed_at = Timestamp(dump_only=True, allow_none=True)


class ReturnResultSchema(Schema):
    """The movements a return posted, van -> warehouse."""

    movements = fields.List(fields.Nested(MovementSchema), dump_only=True)


# --- requests ----------------------------------------------------------------------------


class RequestLineSchema(Schema):
    """One part asked for."""

    part_id = fields.UUID(required=True)
    quantity = _quantity("A JSON number > 0 with at most three decimals.", required=True)


class RequisitionCreateSchema(Schema):
    """A request for parts from a warehouse, for one work order or to restock the van."""

    warehouse_id = fields.UUID(required=True)
    work_order_id = fields.UUID(
        allow_none=True, metadata={"description": "Omit (or null) to restock the van."}
    )
    technician_id = fields.UUID(
        metadata={"description": "Office only, required there: whom the parts are for."}
    )
    lines = fields.List(
        fields.Nested(RequestLineSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_LINES),
    )
    note = Text(allow_none=True, validate=_NOTE)

    @validates_schema
    def _lines(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_parts(data.get("lines"))


class ApproveLineSchema(Schema):
    """A reduced approval of one line (0 approves none of it)."""

    part_id = fields.UUID(required=True)
    approved_quantity = _quantity(
        "A JSON number >= 0, at most the quantity requested.", required=True
    )


class ApproveSchema(Schema):
    """Approve in full, or with reduced quantities on the lines named."""

    lines = fields.List(
        fields.Nested(ApproveLineSchema),
        validate=validate.Length(max=MAX_LINES),
        metadata={"description": "Lines not named are approved as requested."},
    )
    note = Text(allow_none=True, validate=_NOTE)

    @validates_schema
    def _lines(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_parts(data.get("lines"))


class RejectSchema(Schema):
    """Why a requisition is refused."""

    note = Text(required=True, validate=[validate.Length(min=1, max=2000), NOT_BLANK])


class CancelSchema(Schema):
    """Why a requisition is withdrawn (optional)."""

    note = Text(allow_none=True, validate=_NOTE)


class MoveLineSchema(Schema):
    """A quantity of one part of the requisition, with serial numbers when serialised."""

    part_id = fields.UUID(required=True)
    quantity = _quantity("A JSON number > 0 with at most three decimals.", required=True)
    serial_numbers = _serials()


class ShipSchema(Schema):
    """What leaves the warehouse; without lines, everything approved and not yet shipped."""

    lines = fields.List(
        fields.Nested(MoveLineSchema), validate=validate.Length(min=1, max=MAX_LINES)
    )
    release_rest = StrictBool(
        load_default=False,
        metadata={
            "description": "Short-ship: after the lines given (none by default), release "
            "what stays reserved and approve only what has been shipped."
        },
    )

    @validates_schema
    def _lines(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_parts(data.get("lines"))


class ReceiveSchema(Schema):
    """What arrived in the van; without lines, everything shipped and not yet received."""

    lines = fields.List(
        fields.Nested(MoveLineSchema), validate=validate.Length(min=1, max=MAX_LINES)
    )

    @validates_schema
    def _lines(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_parts(data.get("lines"))


class ReturnSchema(Schema):
    """Unused parts going back from a van to a warehouse."""

    technician_id = fields.UUID(
        metadata={"description": "Office only, required there: whose van they come from."}
    )
    warehouse_id = fields.UUID(metadata={"description": "Defaults to the van's home warehouse."})
    work_order_id = fields.UUID(allow_none=True)
    lines = fields.List(
        fields.Nested(MoveLineSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_LINES),
    )
    note = Text(allow_none=True, validate=_NOTE)

    @validates_schema
    def _lines(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_parts(data.get("lines"))


class RequisitionQueryArgsSchema(Schema):
    """Filters for the requisition list (newest first)."""

    status = fields.String(validate=validate.OneOf(REQUISITION_STATUSES))
    technician_id = fields.UUID()
    work_order_id = fields.UUID()
    warehouse_id = fields.UUID()


class ReservationCreateSchema(Schema):
    """Hold stock at a warehouse or van for a scheduled job."""

    work_order_id = fields.UUID(required=True)
    location_id = fields.UUID(required=True)
    part_id = fields.UUID(required=True)
    quantity = _quantity("A JSON number > 0 with at most three decimals.", required=True)


class ReservationQueryArgsSchema(Schema):
    """Filters for the reservation list (newest first)."""

    status = fields.String(validate=validate.OneOf(RESERVATION_STATUSES))
    work_order_id = fields.UUID()
    location_id = fields.UUID()
    part_id = fields.UUID()
    requisition_id = fields.UUID()
