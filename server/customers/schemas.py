"""Customer and site schemas: what the API accepts and shows."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.equipment.schemas import EquipmentSummarySchema
from server.schemas import GeometryPoint, ListArgsSchema, Text, Timestamp

TIERS = ("standard", "vip")
TIMEZONES = validate.OneOf(sorted(available_timezones()), error="Unknown IANA time zone.")
# No leading/trailing blanks: codes are matched exactly and typed by people.
CODE = validate.Regexp(r"^\S(.*\S)?$", error="No leading or trailing whitespace.")
PHONE = validate.Regexp(
    r"^\+?[0-9][0-9 ()./-]{2,38}$", error="Digits, spaces and + ( ) . / - only."
)
MAX_CONTACTS = 50
MAX_RADIUS_M = 200_000


class CustomerContactSchema(Schema):
    """A person to call at the customer."""

    name = Text(required=True, validate=validate.Length(min=1, max=200))
    phone = Text(allow_none=True, validate=[validate.Length(max=40), PHONE])
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    role = Text(allow_none=True, validate=validate.Length(max=100))
    primary = fields.Boolean(load_default=False)

    @validates_schema
    def _reachable(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("phone") and not data.get("email"):
            raise ValidationError("Give a phone number or an email.", field_name="phone")


def _one_primary(contacts: list[dict[str, Any]]) -> None:
    if sum(1 for c in contacts if c.get("primary")) > 1:
        raise ValidationError("At most one contact can be primary.")


class CustomerSchema(Schema):
    """A customer as the API shows it."""

    id = fields.UUID(dump_only=True)
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    tier = fields.String(dump_only=True, metadata={"enum": list(TIERS)})
    contacts = fields.List(fields.Nested(CustomerContactSchema), dump_only=True)
    notes = fields.String(dump_only=True, allow_none=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class CustomerCreateSchema(Schema):
    """Fields of a new customer."""

    code = Text(required=True, validate=[validate.Length(min=1, max=64), CODE])
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    tier = fields.String(load_default="standard", validate=validate.OneOf(TIERS))
    contacts = fields.List(
        fields.Nested(CustomerContactSchema),
        load_default=list,
        validate=[validate.Length(max=MAX_CONTACTS), _one_primary],
    )
    notes = Text(allow_none=True, validate=validate.Length(max=10_000))


class CustomerUpdateSchema(Schema):
    """Changeable customer fields; ``contacts`` replaces the whole list."""

    code = Text(validate=[validate.Length(min=1, max=64), CODE])
    name = Text(validate=validate.Length(min=1, max=200))
    tier = fields.String(validate=validate.OneOf(TIERS))
    contacts = fields.List(
        fields.Nested(CustomerContactSchema),
        validate=[validate.Length(max=MAX_CONTACTS), _one_primary],
    )
    notes = Text(allow_none=True, validate=validate.Length(max=10_000))


class CustomerQueryArgsSchema(ListArgsSchema):
    """Filters for the customer list; ``q`` matches name or code, ``sort`` name/code/created_at."""

    q = Text(validate=validate.Length(max=200), metadata={"description": "Name or code."})
    tier = fields.String(validate=validate.OneOf(TIERS))


class SiteSchema(Schema):
    """A site as the API shows it; ``distance_m`` only in ``near`` searches."""

    id = fields.UUID(dump_only=True)
    customer_id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    address = fields.String(dump_only=True)
    location = GeometryPoint(dump_only=True, allow_none=True)
    access_notes = fields.String(dump_only=True, allow_none=True)
    timezone = fields.String(dump_only=True)
    territory_id = fields.UUID(dump_only=True, allow_none=True)
    distance_m = fields.Float(
        dump_only=True, metadata={"description": "Metres from `near` (near searches only)."}
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class SiteCreateSchema(Schema):
    """Fields of a new site; ``territory_id`` omitted means "the territory containing it"."""

    customer_id = fields.UUID(required=True)
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    address = Text(required=True, validate=validate.Length(min=1, max=500))
    location = GeometryPoint(required=True)
    access_notes = Text(allow_none=True, validate=validate.Length(max=5_000))
    timezone = fields.String(validate=TIMEZONES)
    territory_id = fields.UUID(allow_none=True)


class SiteUpdateSchema(Schema):
    """Changeable site fields; moving a site re-derives its territory unless one is given."""

    name = Text(validate=validate.Length(min=1, max=200))
    address = Text(validate=validate.Length(min=1, max=500))
    location = GeometryPoint()
    access_notes = Text(allow_none=True, validate=validate.Length(max=5_000))
    timezone = fields.String(validate=TIMEZONES)
    territory_id = fields.UUID(allow_none=True)


class SiteQueryArgsSchema(ListArgsSchema):
    """Filters for the site list; ``near`` results come sorted by distance."""

    q = Text(validate=validate.Length(max=200), metadata={"description": "Name or address."})
    customer_id = fields.UUID()
    territory_id = fields.UUID()
    bbox = Text(
        validate=validate.Length(max=200),
        metadata={"description": "min_lon,min_lat,max_lon,max_lat"},
    )
    near = Text(validate=validate.Length(max=100), metadata={"description": "lat,lon"})
    # Query strings are text, so StrictFloat does not apply; NaN/inf are still refused.
    radius_m = fields.Float(
        validate=validate.Range(min=0, max=MAX_RADIUS_M, min_inclusive=False),
        metadata={
            "description": f"Radius around `near` in metres (default 5000, max {MAX_RADIUS_M})."
        },
    )


class CustomerOrderSummarySchema(Schema):
    """A work order in a customer overview."""

    id = fields.UUID()
    number = fields.String()
    title = fields.String()
    status = fields.String()
    order_type = fields.String()
    priority = fields.String()
    site_id = fields.UUID()
    equipment_id = fields.UUID(allow_none=True)
    lead_technician_id = fields.UUID(allow_none=True)
    scheduled_start = Timestamp(allow_none=True)
    actual_end = Timestamp(allow_none=True)
    created_at = Timestamp()


class CustomerOverviewCountsSchema(Schema):
    """Totals behind a customer overview (exact even when lists are capped)."""

    sites = fields.Integer()
    equipment = fields.Integer()
    open_work_orders = fields.Integer()
    work_orders_last_365_days = fields.Integer()


class CustomerOverviewSchema(Schema):
    """Customer 360: the customer, where it is, what it owns, and its work."""

    customer = fields.Nested(CustomerSchema)
    sites = fields.List(fields.Nested(SiteSchema))
    equipment = fields.List(fields.Nested(EquipmentSummarySchema))
    open_work_orders = fields.List(fields.Nested(CustomerOrderSummarySchema))
    recent_work_orders = fields.List(
        fields.Nested(CustomerOrderSummarySchema),
        metadata={"description": "Completed, closed or cancelled orders, newest first."},
    )
    counts = fields.Nested(CustomerOverviewCountsSchema)
