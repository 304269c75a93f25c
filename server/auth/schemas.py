"""Auth and user schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from workflow.lifecycle import Role

ROLES = [r.value for r in Role]


class LoginSchema(Schema):
    """Email + password."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=1024)
    )


class RefreshSchema(Schema):
    """A refresh token to rotate or revoke."""

    refresh_token = fields.String(required=True, validate=validate.Length(min=10, max=200))


class FirebaseLoginSchema(Schema):
    """A Firebase ID token from the technician app."""

    id_token = fields.String(required=True, validate=validate.Length(min=10, max=8192))


class UserSchema(Schema):
    """A user as the API shows it (never the hash)."""

    id = fields.UUID(dump_only=True)
    tenant_id = fields.UUID(dump_only=True)
    email = fields.Email(dump_only=True)
    name = fields.String(dump_only=True)
    role = fields.String(dump_only=True, metadata={"enum": ROLES})
    is_active = fields.Boolean(dump_only=True)
    last_login_at = fields.AwareDateTime(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class TokenSchema(Schema):
    """Tokens returned by login and refresh."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    refresh_token = fields.String(required=True)
    user = fields.Nested(UserSchema, required=True)


PASSWORD = validate.Length(min=10, max=1024, error="Use at least 10 characters.")


class UserCreateSchema(Schema):
    """Fields for a new user."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    password = fields.String(required=True, load_only=True, validate=PASSWORD)
    is_active = fields.Boolean(load_default=True)


class UserUpdateSchema(Schema):
    """Changeable user fields."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    role = fields.String(validate=validate.OneOf(ROLES))
    password = fields.String(load_only=True, validate=PASSWORD)
    is_active = fields.Boolean()


class UserQueryArgsSchema(Schema):
    """Filters for the user list."""

    role = fields.String(validate=validate.OneOf(ROLES))
    is_active = fields.Boolean()
    service_accounts = fields.Boolean(
        load_default=False,
        metadata={"description": "Include the tenant's automated actors (portal, e-mail, SLA)."},
    )
