"""Equipment schemas: units, their configuration revisions and service history."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.schemas import ListArgsSchema, Text, Timestamp, json_problem

CATEGORIES = ("elevator", "escalator", "chiller", "ahu", "split_ac", "component", "other")
STATUSES = ("in_service", "out_of_service", "decommissioned")
WARRANTY_STATES = ("active", "expired")
HISTORY_KINDS = ("work_order", "event", "part_usage", "config_revision")
MAX_CONFIG_BYTES = 32 * 1024
MAX_CONFIG_DEPTH = 20


def _configuration_content(value: dict[str, Any]) -> None:
    problem = json_problem(value, max_depth=MAX_CONFIG_DEPTH)
    if problem:
        raise ValidationError(problem)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_CONFIG_BYTES:
        raise ValidationError(f"At most {MAX_CONFIG_BYTES} bytes of JSON (got {size}).")


def _configuration(**kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(), values=fields.Raw(), validate=_configuration_content, **kwargs
    )


def _warranty_after_install(data: dict[str, Any]) -> None:
    start, end = data.get("install_date"), data.get("warranty_end")
    if start is not None and end is not None and end < start:
        raise ValidationError(
            "warranty_end must not be before install_date.", field_name="warranty_end"
        )


class EquipmentSummarySchema(Schema):
    """A unit in lists embedded elsewhere (children, customer overview)."""

    id = fields.UUID()
    site_id = fields.UUID()
    parent_id = fields.UUID(allow_none=True)
    name = fields.String()
    category = fields.String(metadata={"enum": list(CATEGORIES)})
    manufacturer = fields.String()
    model = fields.String()
    serial_number = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    warranty_end = fields.Date(allow_none=True)


class EquipmentSchema(Schema):
    """A unit as the API shows it."""

    id = fields.UUID(dump_only=True)
    site_id = fields.UUID(dump_only=True)
    customer_id = fields.UUID(dump_only=True)
    parent_id = fields.UUID(dump_only=True, allow_none=True)
    name = fields.String(dump_only=True)
    category = fields.String(dump_only=True, metadata={"enum": list(CATEGORIES)})
    manufacturer = fields.String(dump_only=True)
    model = fields.String(dump_only=True)
    serial_number = fields.String(dump_only=True)
    install_date = fields.Date(dump_only=True, allow_none=True)
    warranty_end = fields.Date(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True, metadata={"enum": list(STATUSES)})
    configuration = fields.Dict(dump_only=True)
    config_revision = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class EquipmentDetailSchema(EquipmentSchema):
    """One unit with its direct components."""

    children = fields.List(fields.Nested(EquipmentSummarySchema), dump_only=True)


class EquipmentCreateSchema(Schema):
    """Fields of a new unit; the customer is the site's."""

    site_id = fields.UUID(required=True)
    parent_id = fields.UUID(allow_none=True)
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    manufacturer = Text(required=True, validate=validate.Length(min=1, max=100))
    model = Text(required=True, validate=validate.Length(min=1, max=100))
    serial_number = Text(required=True, validate=validate.Length(min=1, max=100))
    install_date = fields.Date(allow_none=True)
    warranty_end = fields.Date(allow_none=True)
    status = fields.String(load_default="in_service", validate=validate.OneOf(STATUSES))
    configuration = _configuration(load_default=dict)

    @validates_schema
    def _dates(self, data: dict[str, Any], **kwargs: Any) -> None:
        _warranty_after_install(data)


class EquipmentUpdateSchema(Schema):
    """Changeable fields; moving to another site moves the unit's components too."""

    site_id = fields.UUID()
    parent_id = fields.UUID(allow_none=True)
    name = Text(validate=validate.Length(min=1, max=200))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    manufacturer = Text(validate=validate.Length(min=1, max=100))
    model = Text(validate=validate.Length(min=1, max=100))
    serial_number = Text(validate=validate.Length(min=1, max=100))
    install_date = fields.Date(allow_none=True)
    warranty_end = fields.Date(allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    configuration = _configuration()
    config_change_reason = Text(
        validate=validate.Length(min=1, max=2_000),
        metadata={"description": "Why the configuration changed (stored on the revision)."},
    )
    config_change_work_order_id = fields.UUID(
        metadata={"description": "The work order during which the configuration changed."}
    )

    @validates_schema
    def _dates(self, data: dict[str, Any], **kwargs: Any) -> None:
        _warranty_after_install(data)
        for key in ("config_change_reason", "config_change_work_order_id"):
            if key in data and "configuration" not in data:
                raise ValidationError("Only with a configuration change.", field_name=key)


class EquipmentQueryArgsSchema(ListArgsSchema):
    """Filters for the equipment list; ``q`` matches name or serial number."""

    q = Text(validate=validate.Length(max=200), metadata={"description": "Name or serial."})
    site_id = fields.UUID()
    customer_id = fields.UUID()
    model = Text(validate=validate.Length(min=1, max=100))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    status = fields.String(validate=validate.OneOf(STATUSES))
    warranty = fields.String(
        validate=validate.OneOf(WARRANTY_STATES),
        metadata={"description": "Relative to today in the tenant's time zone."},
    )


class EquipmentConfigRevisionSchema(Schema):
    """One configuration snapshot of a unit."""

    id = fields.UUID()
    equipment_id = fields.UUID()
    revision = fields.Integer()
    configuration = fields.Dict()
    changed_by_id = fields.UUID(allow_none=True)
    changed_at = Timestamp()
    reason = fields.String(allow_none=True)
    work_order_id = fields.UUID(allow_none=True)


class EquipmentHistoryArgsSchema(Schema):
    """Options of the history endpoint."""

    include_children = fields.Boolean(
        load_default=False, metadata={"description": "Also cover every component below."}
    )


class EquipmentHistoryEntrySchema(Schema):
    """One entry of a unit's history; fields beyond the first six depend on ``kind``."""

    kind = fields.String(metadata={"enum": list(HISTORY_KINDS)})
    id = fields.UUID()
    at = Timestamp(metadata={"description": "When it happened; the list's sort key."})
    equipment_id = fields.UUID(allow_none=True)
    work_order_id = fields.UUID(allow_none=True)
    work_order_number = fields.String(allow_none=True)
    # work_order
    title = fields.String()
    status = fields.String()
    order_type = fields.String()
    created_at = Timestamp()
    # event
    event_type = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    occurred_at = Timestamp()
    actor_user_id = fields.UUID(allow_none=True)
    # part_usage
    part_id = fields.UUID()
    part_sku = fields.String()
    part_name = fields.String()
    quantity = fields.Decimal(as_string=True)
    serial_numbers = fields.List(fields.String())
    used_at = Timestamp()
    # config_revision
    revision = fields.Integer()
    configuration = fields.Dict()
    changed_by_id = fields.UUID(allow_none=True)
    changed_at = Timestamp()
    reason = fields.String(allow_none=True)
