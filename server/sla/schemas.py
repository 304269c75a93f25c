"""SLA schemas: calendars, policies, an order's clocks, escalations.

Shapes are checked here; what ties fields together (a time of day, intervals that must
not overlap, at least one positive target, one active policy per priority and tier) is
the service's, which answers with a stable code.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from server.customers.schemas import TIERS
from server.organization.schemas import NOT_BLANK, StrictBool
from server.schemas import ListArgsSchema, StrictInt, Text, Timestamp
from server.sla.models import BREACH_ACTIONS, CLOCK_STATES, METRICS
from server.work_orders.models import PRIORITIES
from workflow.lifecycle import HOLD_REASONS

MAX_INTERVALS_PER_DAY = 12
MAX_HOLIDAYS = 1000
_NAME = [validate.Length(min=1, max=200), NOT_BLANK]


# --- calendars ------------------------------------------------------------------------


class WorkingIntervalSchema(Schema):
    """A working interval of local wall-clock time, [start, end)."""

    start = fields.String(
        required=True,
        validate=validate.Length(max=5),
        metadata={"description": "HH:MM, 00:00-23:59", "example": "08:00"},
    )
    end = fields.String(
        required=True,
        validate=validate.Length(max=5),
        metadata={"description": "HH:MM, after start; 24:00 = midnight", "example": "17:00"},
    )


class SlaHolidaySchema(Schema):
    """A whole local day off."""

    date = fields.Date(required=True)
    name = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))


class SlaHolidayOutSchema(Schema):
    """A stored holiday."""

    date = fields.String(metadata={"format": "date"})
    name = fields.String(allow_none=True)


def _weekly_field(**kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(validate=validate.Length(max=16)),
        values=fields.List(
            fields.Nested(WorkingIntervalSchema),
            validate=validate.Length(max=MAX_INTERVALS_PER_DAY),
        ),
        metadata={
            "description": "Working intervals per weekday (mon..sun); absent days are closed. "
            "Intervals do not cross midnight and do not overlap.",
            "example": {"mon": [{"start": "08:00", "end": "12:00"}]},
        },
        **kwargs,
    )


def _holidays_field(**kwargs: Any) -> fields.List[Any]:
    return fields.List(
        fields.Nested(SlaHolidaySchema),
        validate=validate.Length(max=MAX_HOLIDAYS),
        metadata={"description": "Whole local days off; each date once."},
        **kwargs,
    )


_TIMEZONE_DOC = {
    "description": "IANA time zone; null = the time zone of each order's site.",
    "example": "Asia/Shanghai",
}


class BusinessCalendarSchema(Schema):
    """A business-hours calendar as the API shows it."""

    id = fields.UUID()
    name = fields.String()
    timezone = fields.String(allow_none=True, metadata=_TIMEZONE_DOC)
    is_24x7 = fields.Boolean()
    weekly_hours = _weekly_field()
    holidays = fields.List(fields.Nested(SlaHolidayOutSchema))
    weekly_minutes = fields.Integer(
        metadata={"description": "Working minutes of a week without holidays or DST changes."}
    )
    created_at = Timestamp()
    updated_at = Timestamp()


class BusinessCalendarCreateSchema(Schema):
    """A new calendar."""

    name = Text(required=True, validate=_NAME)
    timezone = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=64), metadata=_TIMEZONE_DOC
    )
    is_24x7 = StrictBool(
        load_default=False,
        metadata={"description": "Every second counts; weekly hours and holidays are unused."},
    )
    weekly_hours = _weekly_field(load_default=dict)
    holidays = _holidays_field(load_default=list)


class BusinessCalendarUpdateSchema(Schema):
    """Calendar changes; weekly_hours and holidays are replaced as a whole. Running clocks
    keep the time they consumed and count in the changed calendar from now on."""

    name = Text(validate=_NAME)
    timezone = fields.String(allow_none=True, validate=validate.Length(max=64))
    is_24x7 = StrictBool()
    weekly_hours = _weekly_field()
    holidays = _holidays_field()


class BusinessCalendarQueryArgsSchema(ListArgsSchema):
    """Calendar list filters."""


# --- policies -------------------------------------------------------------------------


def _target(metric: str, **kwargs: Any) -> fields.Integer:
    return StrictInt(
        allow_none=True,
        metadata={"description": f"{metric} target in business minutes (> 0); null: none."},
        **kwargs,
    )


class SlaPolicySchema(Schema):
    """An SLA policy as the API shows it."""

    id = fields.UUID()
    name = fields.String()
    priority = fields.String(metadata={"enum": list(PRIORITIES)})
    customer_tier = fields.String(allow_none=True, metadata={"enum": list(TIERS)})
    first_response_minutes = fields.Integer(allow_none=True)
    arrival_minutes = fields.Integer(allow_none=True)
    resolution_minutes = fields.Integer(allow_none=True)
    calendar_id = fields.UUID(allow_none=True)
    warn_at_percent = fields.Integer()
    pause_hold_reasons = fields.List(fields.String(metadata={"enum": sorted(HOLD_REASONS)}))
    breach_actions = fields.List(fields.String(metadata={"enum": list(BREACH_ACTIONS)}))
    active = fields.Boolean()
    created_at = Timestamp()
    updated_at = Timestamp()


class _PolicyFields(Schema):
    customer_tier = fields.String(
        allow_none=True,
        validate=validate.OneOf(TIERS),
        metadata={"description": "Customer tier; null = any tier (an exact tier wins)."},
    )
    first_response_minutes = _target("First response")
    arrival_minutes = _target("On-site arrival")
    resolution_minutes = _target("Resolution")
    calendar_id = fields.UUID(
        allow_none=True, metadata={"description": "Business-hours calendar; null = 24x7."}
    )
    warn_at_percent = StrictInt(
        metadata={"description": "Warn when this share of a target has elapsed (1-99)."}
    )
    pause_hold_reasons = fields.List(
        fields.String(validate=validate.OneOf(sorted(HOLD_REASONS))),
        validate=validate.Length(max=len(HOLD_REASONS)),
        metadata={"description": "Hold reasons that pause the clocks."},
    )
    breach_actions = fields.List(
        fields.String(validate=validate.OneOf(BREACH_ACTIONS)),
        validate=validate.Length(max=len(BREACH_ACTIONS)),
        metadata={"description": "What the scheduler does when a target is missed."},
    )
    active = StrictBool()


class SlaPolicyCreateSchema(_PolicyFields):
    """A new policy."""

    name = Text(required=True, validate=_NAME)
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))


class SlaPolicyUpdateSchema(_PolicyFields):
    """Policy changes; they apply to clocks started or re-targeted afterwards."""

    name = Text(validate=_NAME)
    priority = fields.String(validate=validate.OneOf(PRIORITIES))


class SlaPolicyQueryArgsSchema(ListArgsSchema):
    """Policy list filters."""

    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    customer_tier = fields.String(validate=validate.OneOf(TIERS))
    active = fields.Boolean()
    calendar_id = fields.UUID()


# --- an order's clocks ------------------------------------------------------------------


class SlaClockSchema(Schema):
    """One metric's clock, evaluated at ``evaluated_at``."""

    metric = fields.String(metadata={"enum": list(METRICS)})
    state = fields.String(metadata={"enum": list(CLOCK_STATES)})
    policy_id = fields.UUID()
    calendar_id = fields.UUID(allow_none=True)
    timezone = fields.String()
    target_seconds = fields.Integer(metadata={"description": "Business seconds."})
    consumed_seconds = fields.Integer(metadata={"description": "Business seconds used."})
    remaining_seconds = fields.Integer(
        metadata={"description": "Business seconds left; negative when overdue."}
    )
    percent_elapsed = fields.Float()
    warn_at_percent = fields.Integer()
    running = fields.Boolean()
    paused = fields.Boolean()
    started_at = Timestamp()
    due_at = Timestamp(
        allow_none=True, metadata={"description": "Deadline while running (null when paused)."}
    )
    warned_at = Timestamp(allow_none=True)
    breached_at = Timestamp(allow_none=True)
    stopped_at = Timestamp(allow_none=True)
    outcome = fields.String(allow_none=True, metadata={"enum": ["met", "missed", "cancelled"]})


class OrderSlaSchema(Schema):
    """An order's SLA: the summary and every clock."""

    work_order_id = fields.UUID()
    number = fields.String()
    priority = fields.String()
    status = fields.String()
    evaluated_at = Timestamp()
    sla_state = fields.String(allow_none=True)
    sla_due_at = Timestamp(allow_none=True)
    clocks = fields.List(fields.Nested(SlaClockSchema))


class OrderSlaArgsSchema(Schema):
    """When to evaluate the clocks."""

    at = Timestamp(metadata={"description": "Evaluate as of this instant (default: now)."})


# --- escalations ---------------------------------------------------------------------


class SlaEscalationSchema(Schema):
    """A breach escalated for someone to look at."""

    id = fields.UUID()
    work_order_id = fields.UUID()
    metric = fields.String(metadata={"enum": list(METRICS)})
    reason = fields.String()
    actions = fields.List(fields.Dict())
    created_at = Timestamp()
    acknowledged_by_id = fields.UUID(allow_none=True)
    acknowledged_at = Timestamp(allow_none=True)
    note = fields.String(allow_none=True)


class SlaEscalationQueryArgsSchema(ListArgsSchema):
    """Escalation list filters."""

    work_order_id = fields.UUID()
    metric = fields.String(validate=validate.OneOf(METRICS))
    acknowledged = fields.Boolean()


class SlaAcknowledgeSchema(Schema):
    """Acknowledging an escalation."""

    note = Text(validate=validate.Length(max=2000))
