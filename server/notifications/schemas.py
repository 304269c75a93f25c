"""Device tokens as phones register and read them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.notifications.models import PLATFORMS, TOKEN_MAX_LENGTH
from server.notifications.service import TOKEN_PATTERN
from server.schemas import Text, Timestamp


class DeviceTokenSchema(Schema):
    """A registered FCM token of one of the caller's app installs."""

    id = fields.UUID(dump_only=True)
    token = fields.String(dump_only=True)
    platform = fields.String(dump_only=True)
    app_version = fields.String(dump_only=True, allow_none=True)
    device_id = fields.String(dump_only=True, allow_none=True)
    last_seen_at = Timestamp(dump_only=True)
    created_at = Timestamp(dump_only=True)


class DeviceTokenRegisterSchema(Schema):
    """Register or refresh a token; send it on every app start and after FCM rotates it."""

    token = Text(
        required=True,
        validate=[
            validate.Length(min=1, max=TOKEN_MAX_LENGTH),
            validate.Regexp(TOKEN_PATTERN, error="Not an FCM registration token."),
        ],
        metadata={"description": "The FCM registration token (getToken() on the device)."},
    )
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORMS))
    app_version = Text(allow_none=True, validate=validate.Length(max=64))
    device_id = Text(
        allow_none=True,
        validate=validate.Length(min=1, max=128),
        metadata={
            "description": "This install's X-Device-Id (as sent to /sync): a push caused by "
            "this device's own sync is not sent back to it, and an older token of the same "
            "install is retired."
        },
    )
