"""Routing rules: representation, create/patch bodies, reorder, dry-run request/result."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.organization.schemas import NOT_BLANK, StrictBool, name_field
from server.schemas import StrictInt, Text, Timestamp
from server.work_orders.models import CHANNELS, PRIORITIES, SUPPORT_TIERS
from server.work_orders.schemas import RequiredSkillSchema
from workflow import routing_rules as rr

MAX_RULES = 200


class ConditionSchema(Schema):
    """``field op value``; field and op are checked against the rule vocabulary."""

    field = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"enum": list(rr.FIELDS)},
    )
    op = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={
            "description": "text/tags: contains_any, contains_none; others: equals, "
            "not_equals, in, not_in."
        },
    )
    value = fields.Raw(
        allow_none=True,
        load_default=None,
        metadata={"description": "A string (equals) or a list of strings (in, contains_any)."},
    )


class ActionSchema(Schema):
    """One effect of a matching rule."""

    action = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"enum": list(rr.ACTIONS)},
    )
    value = fields.Raw(
        allow_none=True,
        load_default=None,
        metadata={
            "description": "None for stop and no_dispatch; a technician id for "
            "assign_technician; [{skill, min_level}] for set_required_skills."
        },
    )


class RoutingRuleSchema(Schema):
    """A rule as the API shows it."""

    id = fields.UUID(dump_only=True)
    name = fields.String(dump_only=True)
    position = fields.Integer(dump_only=True)
    active = fields.Boolean(dump_only=True)
    conditions = fields.List(fields.Nested(ConditionSchema), dump_only=True)
    actions = fields.List(fields.Nested(ActionSchema), dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class RoutingRuleCreateSchema(Schema):
    """A new rule; appended at the end unless a position is given."""

    name = name_field(120, required=True)
    position = StrictInt(
        validate=validate.Range(1, MAX_RULES),
        metadata={"description": "1-based place in the list; later rules move down."},
    )
    active = StrictBool(load_default=True)
    conditions = fields.List(
        fields.Nested(ConditionSchema),
        load_default=list,
        validate=validate.Length(max=rr.MAX_CONDITIONS),
        metadata={"description": "All must hold; empty matches every order."},
    )
    actions = fields.List(
        fields.Nested(ActionSchema),
        required=True,
        validate=validate.Length(min=1, max=rr.MAX_ACTIONS),
    )


class RoutingRuleUpdateSchema(Schema):
    """Changeable rule fields."""

    name = name_field(120)
    position = StrictInt(validate=validate.Range(1, MAX_RULES))
    active = StrictBool()
    conditions = fields.List(
        fields.Nested(ConditionSchema), validate=validate.Length(max=rr.MAX_CONDITIONS)
    )
    actions = fields.List(
        fields.Nested(ActionSchema), validate=validate.Length(min=1, max=rr.MAX_ACTIONS)
    )


class RuleOrderSchema(Schema):
    """Every rule id of the tenant, in the new order."""

    ids = fields.List(fields.UUID(), required=True, validate=validate.Length(max=MAX_RULES))


_KEYWORD_TEXT = validate.Length(max=20_000)


class DryRunSchema(Schema):
    """A sample request: what the rules see when an order is created from it."""

    subject = Text(load_default="", validate=validate.Length(max=300))
    body = Text(load_default="", validate=_KEYWORD_TEXT)
    channel = fields.String(load_default="api", validate=validate.OneOf(CHANNELS))
    category = fields.String(allow_none=True, validate=validate.Length(max=64))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    support_tier = fields.String(validate=validate.OneOf(SUPPORT_TIERS))
    team_queue = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    tags = fields.List(
        fields.String(validate=[validate.Length(min=1, max=40), NOT_BLANK]),
        validate=validate.Length(max=20),
    )
    customer_id = fields.UUID()
    site_id = fields.UUID()
    equipment_id = fields.UUID()


class FiredRuleSchema(Schema):
    """A rule that matched, and the actions it ran."""

    id = fields.String()
    name = fields.String()
    actions = fields.List(fields.String())


class SkippedActionSchema(Schema):
    """An action of a matching rule that was not applied, and why."""

    rule_id = fields.String()
    action = fields.String()
    reason = fields.String()


class RoutedFieldsSchema(Schema):
    """The order fields after the rules ran."""

    category = fields.String(allow_none=True)
    priority = fields.String()
    support_tier = fields.String()
    team_queue = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    required_skills = fields.List(fields.Nested(RequiredSkillSchema))
    lead_technician_id = fields.UUID(allow_none=True)
    no_dispatch = fields.Boolean(metadata={"description": "A rule said: not field work."})


class DryRunResultSchema(Schema):
    """Which rules would fire for the sample, and the resulting fields; nothing is stored."""

    fired = fields.List(fields.Nested(FiredRuleSchema))
    skipped = fields.List(fields.Nested(SkippedActionSchema))
    stopped_by = fields.String(allow_none=True)
    result = fields.Nested(RoutedFieldsSchema)
    facts = fields.Dict(
        keys=fields.String(),
        metadata={"description": "What the conditions looked at (tier, warranty, ...)."},
    )
