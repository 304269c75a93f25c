"""Inbound channels: the e-mail webhook body, the public web form, inbox items."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.channels.models import INBOUND_CHANNELS, INBOUND_STATUSES
from server.organization.schemas import NOT_BLANK
from server.schemas import ListArgsSchema, Text, Timestamp
from server.work_orders.models import ORDER_TYPES, PRIORITIES

MAX_BODY = 50_000
MESSAGE_ID = validate.Length(min=1, max=255)


class SenderSchema(Schema):
    """The From header, split."""

    address = fields.Email(required=True, validate=validate.Length(max=254))
    name = Text(allow_none=True, validate=validate.Length(max=120))


class InboundEmailSchema(Schema):
    """An e-mail as the mail provider's webhook posts it (already parsed to JSON)."""

    sender = fields.Nested(SenderSchema, required=True, data_key="from")
    subject = Text(load_default="", validate=validate.Length(max=300))
    body = Text(load_default="", validate=validate.Length(max=MAX_BODY))
    message_id = Text(
        required=True,
        validate=[MESSAGE_ID, NOT_BLANK],
        metadata={"description": "The Message-ID header; a redelivery with it is a no-op."},
    )
    in_reply_to = Text(allow_none=True, validate=MESSAGE_ID)
    references = fields.List(Text(validate=MESSAGE_ID), validate=validate.Length(max=100))


class WebFormSchema(Schema):
    """A service request from the public web form (no equipment, no login)."""

    name = Text(required=True, validate=[validate.Length(min=1, max=120), NOT_BLANK])
    email = fields.Email(validate=validate.Length(max=254))
    phone = Text(validate=[validate.Length(min=3, max=40), validate.Regexp(r"^[0-9+()\-. ]+$")])
    customer_ref = Text(
        validate=[validate.Length(min=1, max=64), NOT_BLANK],
        metadata={"description": "The customer's code, if the requester knows it."},
    )
    subject = Text(required=True, validate=[validate.Length(min=1, max=200), NOT_BLANK])
    description = Text(load_default="", validate=validate.Length(max=5_000))
    website = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "Leave empty: a field people never see (bot trap)."},
    )

    @validates_schema
    def _reachable(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("email") and not data.get("phone"):
            raise ValidationError("Give an e-mail address or a phone number.", "email")


class InboundResultSchema(Schema):
    """What became of a received message."""

    id = fields.UUID()
    status = fields.String(metadata={"enum": list(INBOUND_STATUSES)})
    reason = fields.String(allow_none=True)
    work_order_id = fields.UUID(allow_none=True)
    work_order_number = fields.String(allow_none=True)


class WebFormReceiptSchema(Schema):
    """Acknowledgement of a web-form request (the same whatever became of it)."""

    reference = fields.UUID()


class InboundItemSchema(Schema):
    """A received message as agents see it in the inbox."""

    id = fields.UUID()
    channel = fields.String(metadata={"enum": list(INBOUND_CHANNELS)})
    status = fields.String(metadata={"enum": list(INBOUND_STATUSES)})
    reason = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    in_reply_to = fields.String(allow_none=True)
    from_address = fields.String(allow_none=True)
    from_name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    customer_ref = fields.String(allow_none=True)
    subject = fields.String()
    body = fields.String()
    customer_id = fields.UUID(allow_none=True)
    work_order_id = fields.UUID(allow_none=True)
    received_at = Timestamp()
    resolved_at = Timestamp(allow_none=True)
    resolved_by_id = fields.UUID(allow_none=True)


class InboxQueryArgsSchema(ListArgsSchema):
    """Filters for the inbox (q matches subject, body or sender)."""

    status = fields.String(
        load_default="unmatched",
        validate=validate.OneOf(INBOUND_STATUSES),
        metadata={"description": "Defaults to unmatched: what still needs an agent."},
    )
    channel = fields.String(validate=validate.OneOf(INBOUND_CHANNELS))


class ConvertSchema(Schema):
    """Turn an inbox item into an order at the chosen site."""

    site_id = fields.UUID(required=True)
    order_type = fields.String(load_default="repair", validate=validate.OneOf(ORDER_TYPES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    title = Text(
        validate=[validate.Length(min=1, max=200), NOT_BLANK],
        metadata={"description": "Defaults to the message subject."},
    )
