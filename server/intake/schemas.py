"""Intake schemas: QR codes, label requests, the public request twin and tracking."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.intake.i18n import LANGUAGES, SYMPTOMS
from server.intake.service import (
    DESCRIPTION_MAX,
    EMAIL_MAX,
    MAX_LABELS,
    NAME_MAX,
    PHONE_MAX,
    REASON_MAX,
)
from server.schemas import PointSchema, Text, Timestamp


class QrCodeSchema(Schema):
    """A unit's QR code: the token, the link it encodes and whether it still works."""

    equipment_id = fields.UUID()
    token = fields.String()
    url = fields.String(metadata={"description": "The repair-page link encoded in the code."})
    active = fields.Boolean(metadata={"description": "False once revoked."})
    created_at = Timestamp()
    revoked_at = Timestamp(allow_none=True)


class QrLabelsSchema(Schema):
    """Units to print labels for (codes are issued for those without a valid one)."""

    equipment_ids = fields.List(
        fields.UUID(), required=True, validate=validate.Length(min=1, max=MAX_LABELS)
    )


class PublicEquipmentSchema(Schema):
    """What a QR code shows the public: the unit and its site, nothing else."""

    name = fields.String()
    model = fields.String()
    serial_number = fields.String()
    site_name = fields.String()
    symptoms = fields.List(fields.String(), metadata={"description": "Allowed symptom codes."})


class PublicRequestSchema(Schema):
    """A repair request from an app (same rules as the repair page; no photos)."""

    symptom = fields.String(required=True, validate=validate.OneOf(SYMPTOMS))
    description = Text(required=True, validate=validate.Length(max=DESCRIPTION_MAX))
    name = Text(required=True, validate=validate.Length(max=NAME_MAX))
    phone = Text(load_default="", validate=validate.Length(max=PHONE_MAX))
    email = Text(load_default="", validate=validate.Length(max=EMAIL_MAX))
    website = Text(
        load_default="",
        validate=validate.Length(max=200),
        metadata={"description": "Honeypot: must stay empty."},
    )
    lang = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))


class PublicRequestResultSchema(Schema):
    """Where to follow a filed request."""

    tracking_token = fields.String()
    tracking_url = fields.String()
    duplicate = fields.Boolean(
        metadata={"description": "True when the same request was filed minutes ago."}
    )


class TrackingArgsSchema(Schema):
    """Language of the plain-word labels."""

    lang = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))


class TimelineEntrySchema(Schema):
    """One status the order went through."""

    status = fields.String()
    label = fields.String()
    at = Timestamp()


class TrackingCommentSchema(Schema):
    """A customer-visible message."""

    mine = fields.Boolean()
    author = fields.String()
    body = fields.String()
    photos = fields.Integer()
    at = Timestamp()


class TrackingSchema(Schema):
    """The customer's view of an order (no internal notes, engineer's first name only)."""

    number = fields.String()
    status = fields.String()
    status_label = fields.String()
    timezone = fields.String()
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    scheduled_start = Timestamp(allow_none=True)
    scheduled_end = Timestamp(allow_none=True)
    engineer = fields.String(allow_none=True)
    eta = Timestamp(allow_none=True)
    position = fields.Nested(
        PointSchema,
        allow_none=True,
        metadata={"description": "The engineer's last fix, only while en route."},
    )
    comments = fields.List(fields.Nested(TrackingCommentSchema))
    cancellable = fields.Boolean()
    closed = fields.Boolean()
    version = fields.String(metadata={"description": "Changes whenever anything shown does."})


class CancelSchema(Schema):
    """Why the customer cancels (optional)."""

    reason = Text(load_default="", validate=validate.Length(max=REASON_MAX))
