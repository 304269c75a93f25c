"""Work-order schemas: representation, create, patch, transition, list filters, events."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.db import utcnow
from server.schemas import (
    GeometryPoint,
    ListArgsSchema,
    PointSchema,
    StrictFloat,
    StrictInt,
    Timestamp,
    WindowPairsMixin,
)
from server.work_orders.models import CHANNELS, ORDER_TYPES, PRIORITIES, SUPPORT_TIERS
from workflow.lifecycle import HOLD_REASONS, Status

STATUSES = [s.value for s in Status]
PAIRS = (
    ("requested_start", "requested_end"),
    ("scheduled_start", "scheduled_end"),
    ("actual_start", "actual_end"),
)


class RequiredSkillSchema(Schema):
    """A skill an order needs, at a minimum level."""

    skill = fields.String(required=True, validate=validate.Length(min=1, max=64))
    min_level = StrictInt(load_default=1, validate=validate.Range(1, 5))


class ContactSchema(Schema):
    """How to reach whoever reported the problem (public requests have no account)."""

    name = fields.String(validate=validate.Length(max=120))
    phone = fields.String(validate=validate.Length(max=40))
    email = fields.Email(validate=validate.Length(max=254))
    locale = fields.String(validate=validate.OneOf(["en", "zh"]))


SLA_STATES = ["ok", "at_risk", "breached", "paused", "met", "missed"]


class WorkOrderSchema(Schema):
    """A work order as the API shows it."""

    def _sla_remaining(self, order: Any) -> int | None:
        due = getattr(order, "sla_due_at", None)
        return None if due is None else int((due - utcnow()).total_seconds())

    id = fields.UUID()
    number = fields.String()
    title = fields.String()
    description = fields.String()
    order_type = fields.String(metadata={"enum": list(ORDER_TYPES)})
    priority = fields.String(metadata={"enum": list(PRIORITIES)})
    category = fields.String(allow_none=True)
    support_tier = fields.String(metadata={"enum": list(SUPPORT_TIERS)})
    status = fields.String(metadata={"enum": STATUSES})
    channel = fields.String(metadata={"enum": list(CHANNELS)})
    required_skills = fields.List(fields.Nested(RequiredSkillSchema))
    estimated_duration_minutes = fields.Integer()
    requested_start = Timestamp(allow_none=True)
    requested_end = Timestamp(allow_none=True)
    scheduled_start = Timestamp(allow_none=True)
    scheduled_end = Timestamp(allow_none=True)
    actual_start = Timestamp(allow_none=True)
    actual_end = Timestamp(allow_none=True)
    customer_id = fields.UUID()
    site_id = fields.UUID()
    equipment_id = fields.UUID(allow_none=True)
    lead_technician_id = fields.UUID(allow_none=True)
    helper_ids = fields.List(fields.UUID())
    location = GeometryPoint(allow_none=True)
    resolution_summary = fields.String(allow_none=True)
    hold_reason = fields.String(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    custom_fields = fields.Dict(keys=fields.String())
    checklist_template_id = fields.UUID(allow_none=True)
    checklist_missing = fields.List(
        fields.String(),
        metadata={"description": "Keys of required checklist items not answered yet."},
    )
    team_queue = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    contact = fields.Nested(ContactSchema)
    parent_id = fields.UUID(allow_none=True)
    requires_subtasks = fields.Boolean(
        metadata={"description": "Completion waits until every subtask is done."}
    )
    sla_state = fields.String(
        allow_none=True,
        metadata={"enum": SLA_STATES, "description": "Worst state of the order's SLA clocks."},
    )
    sla_due_at = Timestamp(
        allow_none=True,
        metadata={"description": "Earliest deadline of a running SLA clock."},
    )
    sla_remaining_seconds = fields.Method(
        "_sla_remaining",
        allow_none=True,
        metadata={
            "type": "integer",
            "description": "Seconds until sla_due_at (negative once breached); null while no "
            "clock runs. Business-time detail: GET /work-orders/{id}/sla.",
        },
    )
    created_by_id = fields.UUID(allow_none=True)
    version = fields.Integer()
    created_at = Timestamp()
    updated_at = Timestamp()
    distance_m = fields.Float(
        metadata={"description": "Only with the 'near' filter: metres from that point."}
    )


_TITLE = validate.Length(min=1, max=200)
_TEXT = validate.Length(max=20_000)
_DURATION = validate.Range(5, 60 * 24 * 14)  # five minutes to a fortnight


class WorkOrderWritableMixin(WindowPairsMixin):
    """Fields both create and patch accept."""

    _PAIRS = PAIRS[:2]

    title = fields.String(validate=_TITLE)
    description = fields.String(validate=_TEXT)
    order_type = fields.String(validate=validate.OneOf(ORDER_TYPES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    category = fields.String(allow_none=True, validate=validate.Length(max=64))
    support_tier = fields.String(validate=validate.OneOf(SUPPORT_TIERS))
    required_skills = fields.List(
        fields.Nested(RequiredSkillSchema), validate=validate.Length(max=20)
    )
    estimated_duration_minutes = StrictInt(validate=_DURATION)
    requested_start = Timestamp(allow_none=True)
    requested_end = Timestamp(allow_none=True)
    scheduled_start = Timestamp(allow_none=True)
    scheduled_end = Timestamp(allow_none=True)
    equipment_id = fields.UUID(allow_none=True)
    lead_technician_id = fields.UUID(allow_none=True)
    helper_ids = fields.List(fields.UUID(), validate=validate.Length(max=10))
    custom_fields = fields.Dict(keys=fields.String(validate=validate.Length(max=64)))
    team_queue = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=40)), validate=validate.Length(max=20)
    )
    contact = fields.Nested(ContactSchema)
    requires_subtasks = fields.Boolean()
    checklist_template_id = fields.UUID(
        allow_none=True,
        metadata={
            "description": "An active checklist template; null for none. Omitted on create: "
            "the best-fitting active template for the order type and equipment category."
        },
    )

    @validates_schema
    def _unique_skills(self, data: dict[str, Any], **kwargs: Any) -> None:
        codes = [s["skill"] for s in data.get("required_skills") or []]
        if len(codes) != len(set(codes)):
            raise ValidationError("Each skill may appear once.", field_name="required_skills")
        helpers = data.get("helper_ids") or []
        if len(helpers) != len(set(helpers)):
            raise ValidationError("Duplicate helper.", field_name="helper_ids")


class WorkOrderCreateSchema(WorkOrderWritableMixin):
    """Fields for a new order; the id may come from an offline client."""

    id = fields.UUID(metadata={"description": "Client-generated UUID (optional)."})
    title = fields.String(required=True, validate=_TITLE)
    order_type = fields.String(required=True, validate=validate.OneOf(ORDER_TYPES))
    site_id = fields.UUID(required=True)
    customer_id = fields.UUID(metadata={"description": "Defaults to the site's customer."})
    channel = fields.String(load_default="api", validate=validate.OneOf(CHANNELS))
    parent_id = fields.UUID(metadata={"description": "Makes the new order a subtask of this one."})


class WorkOrderPatchSchema(WorkOrderWritableMixin):
    """Changeable fields; status changes go through transitions."""


class TransitionSchema(Schema):
    """A request to move an order to another status."""

    to = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(validate=validate.Length(max=2000))
    resolution_summary = fields.String(validate=validate.Length(max=20_000))
    hold_reason = fields.String(validate=validate.OneOf(sorted(HOLD_REASONS)))
    occurred_at = Timestamp(
        metadata={"description": "When it happened (device clock); defaults to now."}
    )
    location = fields.Nested(PointSchema)
    accuracy_m = StrictFloat(validate=validate.Range(0, 100_000))
    # Scheduling data may ride along with the transition that needs it.
    lead_technician_id = fields.UUID()
    scheduled_start = Timestamp()
    scheduled_end = Timestamp()

    @validates_schema
    def _window(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("scheduled_start"), data.get("scheduled_end")
        if start is not None and end is not None and end <= start:
            raise ValidationError("scheduled_end must be after scheduled_start.", "scheduled_end")


class AllowedTransitionSchema(Schema):
    """A status the caller could move the order to, and what is still missing."""

    to = fields.String()
    allowed = fields.Boolean()
    code = fields.String(allow_none=True)
    missing = fields.List(fields.String())


class WorkOrderEventSchema(Schema):
    """One entry of an order's history."""

    id = fields.UUID()
    work_order_id = fields.UUID()
    event_type = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    actor_user_id = fields.UUID(allow_none=True)
    actor_role = fields.String(allow_none=True)
    occurred_at = Timestamp()
    recorded_at = Timestamp()
    payload = fields.Dict()
    location = GeometryPoint(allow_none=True)
    location_accuracy_m = fields.Float(allow_none=True)


class WorkOrderQueryArgsSchema(ListArgsSchema):
    """Filters for the work-order list."""

    sort = fields.String(
        metadata={
            "description": "Comma-separated keys, '-' for descending: number, created_at, "
            "updated_at, priority, status, scheduled_start, requested_start, sla_due_at "
            "(closest to breach first; orders without a running SLA clock last)."
        }
    )

    status = fields.String(
        metadata={"description": "One status or a comma-separated list."},
        validate=validate.Length(max=300),
    )
    open = fields.Boolean(metadata={"description": "Only orders not completed/closed/cancelled."})
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    order_type = fields.String(validate=validate.OneOf(ORDER_TYPES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    support_tier = fields.String(validate=validate.OneOf(SUPPORT_TIERS))
    customer_id = fields.UUID()
    site_id = fields.UUID()
    equipment_id = fields.UUID()
    technician_id = fields.UUID(metadata={"description": "Lead or helper."})
    unassigned = fields.Boolean()
    scheduled_from = Timestamp()
    scheduled_to = Timestamp()
    created_from = Timestamp()
    created_to = Timestamp()
    bbox = fields.String(metadata={"description": "min_lon,min_lat,max_lon,max_lat"})
    near = fields.String(metadata={"description": "lat,lon"})
    radius_m = fields.Float(load_default=5000.0, validate=validate.Range(1, 200_000))
