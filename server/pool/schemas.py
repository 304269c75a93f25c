"""Pool schemas: publishing, listing filters, and an entry with its order summary."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from server.dispatch.models import POOL_STATUSES
from server.schemas import PointSchema, StrictFloat, StrictInt, Text, Timestamp
from server.work_orders.models import PRIORITIES
from server.work_orders.schemas import STATUSES, RequiredSkillSchema

MAX_PUBLISH = 500


def _unique(items: list[Any]) -> None:
    if len(set(items)) != len(items):
        raise ValidationError("Each work order once.")


class PoolPublishSchema(Schema):
    """Orders to offer in the pool, all or none."""

    work_order_ids = fields.List(
        fields.UUID(),
        required=True,
        validate=[validate.Length(min=1, max=MAX_PUBLISH), _unique],
    )
    expires_in_minutes = StrictInt(
        load_default=120,
        validate=validate.Range(5, 7 * 24 * 60),
        metadata={"description": "Unclaimed entries expire after this (5 min to 7 days)."},
    )
    radius_km = StrictFloat(
        allow_none=True,
        load_default=None,
        validate=validate.Range(0.1, 500),
        metadata={"description": "Only technicians this close (last position or home base)."},
    )
    note = Text(allow_none=True, load_default=None, validate=validate.Length(max=2000))


class PoolQueryArgsSchema(Schema):
    """Filters of the pool list (planners; technicians always see their open offers)."""

    status = fields.String(validate=validate.OneOf(POOL_STATUSES))


class PoolSiteSchema(Schema):
    """Where the work is."""

    id = fields.UUID()
    name = fields.String()
    address = fields.String()


class PoolOrderSchema(Schema):
    """The order behind a pool entry, as much as a technician needs to decide."""

    id = fields.UUID()
    number = fields.String()
    title = fields.String()
    priority = fields.String(metadata={"enum": list(PRIORITIES)})
    status = fields.String(metadata={"enum": STATUSES})
    order_type = fields.String()
    site = fields.Nested(PoolSiteSchema)
    location = fields.Nested(PointSchema, allow_none=True)
    requested_start = Timestamp(allow_none=True)
    requested_end = Timestamp(allow_none=True)
    estimated_duration_minutes = fields.Integer()
    required_skills = fields.List(fields.Nested(RequiredSkillSchema))
    lead_technician_id = fields.UUID(allow_none=True)
    scheduled_start = Timestamp(allow_none=True)
    scheduled_end = Timestamp(allow_none=True)


class PoolEntrySchema(Schema):
    """One offer; technicians' lists also carry the distance and the rank score."""

    id = fields.UUID()
    work_order_id = fields.UUID()
    status = fields.String(metadata={"enum": list(POOL_STATUSES)})
    expires_at = Timestamp()
    radius_km = fields.Float(allow_none=True)
    note = fields.String(allow_none=True)
    published_by_id = fields.UUID(allow_none=True)
    claimed_by_id = fields.UUID(allow_none=True)
    claimed_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    order = fields.Nested(PoolOrderSchema)
    distance_km = fields.Float(
        allow_none=True,
        metadata={"description": "From the technician's position (technicians' list only)."},
    )
    score = fields.Float(
        allow_none=True,
        metadata={"description": "Rank, higher first (technicians' list only)."},
    )
