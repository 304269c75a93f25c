"""Collab schemas: comments, subtasks, remote resolution, L3 escalation, defects, patterns."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.collab.models import DEFECT_STATUSES
from server.organization.schemas import NOT_BLANK, name_field
from server.schemas import ListArgsSchema, Text, Timestamp
from server.work_orders.models import COMMENT_AUTHORS, COMMENT_VISIBILITY, ORDER_TYPES
from server.work_orders.schemas import WorkOrderWritableMixin
from workflow.lifecycle import Status

MAX_COMMENT = 10_000
SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="A lowercase hex SHA-256.")
SYMPTOM = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
    error="Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
)


def _unique(values: list[Any], name: str) -> None:
    if len(values) != len(set(values)):
        raise ValidationError("Duplicate value.", field_name=name)


# --- comments ---------------------------------------------------------------------------


class CommentSchema(Schema):
    """A comment on an order as staff see it."""

    id = fields.UUID()
    work_order_id = fields.UUID()
    visibility = fields.String(metadata={"enum": list(COMMENT_VISIBILITY)})
    author_kind = fields.String(metadata={"enum": list(COMMENT_AUTHORS)})
    author_user_id = fields.UUID(allow_none=True)
    author_name = fields.String(allow_none=True)
    body = fields.String()
    mentions = fields.List(fields.String(), metadata={"description": "Mentioned user ids."})
    attachments = fields.List(fields.String(), metadata={"description": "Blob SHA-256 keys."})
    created_at = Timestamp()


class CommentCreateSchema(Schema):
    """A new comment; @name or @e-mail in the body mentions (and notifies) a colleague."""

    body = Text(required=True, validate=[validate.Length(min=1, max=MAX_COMMENT), NOT_BLANK])
    visibility = fields.String(
        load_default="internal",
        validate=validate.OneOf(COMMENT_VISIBILITY),
        metadata={"description": "internal: staff only; customer: shown on the tracking page."},
    )
    mentions = fields.List(
        fields.UUID(),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "User ids to mention besides the @words of the body."},
    )
    attachments = fields.List(
        fields.String(validate=SHA256),
        load_default=list,
        validate=validate.Length(max=10),
        metadata={"description": "SHA-256 keys of uploaded blobs."},
    )

    @validates_schema
    def _no_duplicates(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique(data.get("attachments") or [], "attachments")


class CommentQueryArgsSchema(Schema):
    """Filters for an order's comments."""

    visibility = fields.String(validate=validate.OneOf(COMMENT_VISIBILITY))


# --- subtasks ---------------------------------------------------------------------------


class SubtaskCreateSchema(WorkOrderWritableMixin):
    """A child order; site, equipment, type, priority, category and queue default to the
    parent's."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    order_type = fields.String(validate=validate.OneOf(ORDER_TYPES))
    site_id = fields.UUID(metadata={"description": "Defaults to the parent's site."})


class SubtaskSchema(Schema):
    """A child order in its parent's subtask list."""

    id = fields.UUID()
    number = fields.String()
    title = fields.String()
    status = fields.String(metadata={"enum": [s.value for s in Status]})
    open = fields.Boolean(metadata={"description": "Not completed, closed or cancelled."})
    order_type = fields.String()
    priority = fields.String()
    lead_technician_id = fields.UUID(allow_none=True)
    scheduled_start = Timestamp(allow_none=True)
    scheduled_end = Timestamp(allow_none=True)
    created_at = Timestamp()


# --- support tiers ----------------------------------------------------------------------


class RemoteResolutionSchema(Schema):
    """An L1 resolution: what was done remotely, and the articles that solved it."""

    resolution = Text(required=True, validate=[validate.Length(min=1, max=20_000), NOT_BLANK])
    kb_article_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=10))

    @validates_schema
    def _no_duplicates(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique(data.get("kb_article_ids") or [], "kb_article_ids")


class RemoteResolutionResultSchema(Schema):
    """What the remote resolution did to the order."""

    work_order_id = fields.UUID()
    status = fields.String()
    support_tier = fields.String()
    completed = fields.Boolean(
        metadata={"description": "False when the lifecycle had no completing move from here."}
    )
    kb_article_ids = fields.List(fields.UUID())


class EscalationSchema(Schema):
    """An L3 escalation; model and symptom default to the order's equipment and category."""

    symptom = fields.String(validate=SYMPTOM)
    equipment_model = name_field(
        100, metadata={"description": "Only for orders without equipment, or equal to its model."}
    )
    title = name_field(200, metadata={"description": "Title of a newly opened defect."})
    description = Text(validate=validate.Length(max=20_000))
    note = Text(validate=validate.Length(max=2000), metadata={"description": "Why escalated."})


# --- defects ----------------------------------------------------------------------------


class DefectSchema(Schema):
    """A defect record."""

    id = fields.UUID()
    title = fields.String()
    equipment_model = fields.String()
    symptom = fields.String()
    status = fields.String(metadata={"enum": list(DEFECT_STATUSES)})
    description = fields.String()
    created_by_id = fields.UUID(allow_none=True)
    linked_orders_count = fields.Integer()
    created_at = Timestamp()
    updated_at = Timestamp()


class LinkedOrderSchema(Schema):
    """An order linked to a defect."""

    work_order_id = fields.UUID()
    number = fields.String()
    title = fields.String()
    status = fields.String()
    site_id = fields.UUID()
    equipment_id = fields.UUID(allow_none=True)
    linked_at = Timestamp()
    linked_by_id = fields.UUID(allow_none=True)


class DefectDetailSchema(DefectSchema):
    """A defect with the orders that show it."""

    orders = fields.List(fields.Nested(LinkedOrderSchema))
    created = fields.Boolean(
        metadata={"description": "Only on escalation: true when this escalation opened it."}
    )


class DefectPatchSchema(Schema):
    """Changeable defect fields."""

    status = fields.String(validate=validate.OneOf(DEFECT_STATUSES))
    title = name_field(200)
    description = Text(validate=validate.Length(max=20_000))


class DefectQueryArgsSchema(ListArgsSchema):
    """Filters for the defect list (q matches title)."""

    status = fields.String(validate=validate.OneOf(DEFECT_STATUSES))
    equipment_model = fields.String(validate=validate.Length(min=1, max=100))
    symptom = fields.String(validate=validate.Length(min=1, max=64))


class PatternQueryArgsSchema(Schema):
    """The period and filters of the failure-pattern view."""

    created_from = Timestamp(metadata={"description": "Default: 90 days ago."})
    created_to = Timestamp(metadata={"description": "Default: now."})
    equipment_model = fields.String(validate=validate.Length(min=1, max=100))
    category = fields.String(validate=validate.Length(min=1, max=64))
    min_orders = fields.Integer(load_default=1, validate=validate.Range(1, 100_000))

    @validates_schema
    def _period(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("created_from"), data.get("created_to")
        if start is not None and end is not None and end <= start:
            raise ValidationError("created_to must be after created_from.", "created_to")


class PatternSchema(Schema):
    """How many orders one equipment model had with one category in the period."""

    equipment_model = fields.String()
    category = fields.String(allow_none=True)
    order_count = fields.Integer()
    open_count = fields.Integer(metadata={"description": "Of those, still open."})
    first_at = Timestamp()
    last_at = Timestamp()
    defect_id = fields.UUID(
        allow_none=True, metadata={"description": "The active defect of this pattern, if any."}
    )
    defect_status = fields.String(allow_none=True)
