"""Sync endpoint schemas (the payloads themselves are validated by sync.engine)."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate


class PullArgsSchema(Schema):
    """WatermelonDB pull parameters (null cursors arrive as the string 'null')."""

    last_pulled_at = fields.String(metadata={"description": "Cursor from the last pull, or null."})
    schema_version = fields.Integer(validate=validate.Range(0, 10_000))
    migration = fields.String(metadata={"description": "WatermelonDB migration JSON, or null."})


class PushArgsSchema(Schema):
    """WatermelonDB push parameters."""

    last_pulled_at = fields.String(required=True)


class ChangesSchema(Schema):
    """A WatermelonDB changes object: {table: {created, updated, deleted}}."""

    class Meta:
        unknown = INCLUDE


class PullResponseSchema(Schema):
    """What a pull returns."""

    changes = fields.Dict(required=True)
    timestamp = fields.Integer(required=True)
    experimentalStrategy = fields.String()  # noqa: N815 - WatermelonDB's own name


class PushResponseSchema(Schema):
    """What a push did."""

    ok = fields.Boolean()
    inserted = fields.Dict(keys=fields.String(), values=fields.Integer())
    updated = fields.Dict(keys=fields.String(), values=fields.Integer())
    unchanged = fields.Dict(keys=fields.String(), values=fields.Integer())
    status_events = fields.List(fields.Dict())
    conflicts = fields.List(fields.Dict())


class ConflictSchema(Schema):
    """One conflict-log entry."""

    id = fields.UUID()
    table_name = fields.String()
    row_id = fields.UUID()
    column = fields.String(allow_none=True)
    kind = fields.String()
    kept = fields.String()
    server_value = fields.Raw(allow_none=True)
    device_value = fields.Raw(allow_none=True)
    detail = fields.String(allow_none=True)
    user_id = fields.UUID(allow_none=True)
    device_id = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by_id = fields.UUID(allow_none=True)


class ConflictQueryArgsSchema(Schema):
    """Filters for the conflict log."""

    table_name = fields.String(validate=validate.Length(max=64))
    row_id = fields.UUID()
    kind = fields.String(validate=validate.Length(max=32))
    resolved = fields.Boolean()
