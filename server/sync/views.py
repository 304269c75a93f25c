"""Sync endpoints (WatermelonDB protocol) and the conflict log for dispatchers."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView
from sqlalchemy import select

from server.auth.principal import ALL_ROLES, OFFICE_ROLES, current, roles_required
from server.db import db
from server.errors import DomainError, ValidationFailed
from server.http import Blueprint, get_or_404, paginate
from server.sync import service
from server.sync.models import SyncConflict
from server.sync.schemas import (
    ChangesSchema,
    ConflictQueryArgsSchema,
    ConflictSchema,
    PullArgsSchema,
    PullResponseSchema,
    PushArgsSchema,
    PushResponseSchema,
)
from sync.policy import SCHEMA_VERSION

blp = Blueprint(
    "sync", __name__, url_prefix="/sync", description="Offline sync for technician apps."
)
DEVICE_HEADER = {
    "in": "header",
    "name": "X-Device-Id",
    "required": True,
    "schema": {"type": "string", "maxLength": 128},
}


def _cursor(raw: str | None) -> int | None:
    if raw is None or raw in ("", "null"):
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed(
            "last_pulled_at must be a non-negative integer or null.", code="invalid_cursor"
        )
    return int(raw)


CLEAN_HEADER = {
    "in": "header",
    "name": "X-Sync-Clean-Through",
    "required": False,
    "description": (
        "The timestamp of a sync after which the app made no change it has not pushed: "
        "its last sync that pushed nothing, or this pull's last_pulled_at when nothing is "
        "unsynced now. Moves the conflict base up."
    ),
    "schema": {"type": "integer", "minimum": 0},
}
PENDING_HEADER = {
    "in": "header",
    "name": "X-Sync-Pending",
    "required": False,
    "description": (
        "0 when the app has no unsynced change at this pull (with X-Sync-Clean-Through): "
        "orders reassigned away may then be deleted from the device in this response. "
        "1 or absent: they are not."
    ),
    "schema": {"type": "string", "enum": ["0", "1"]},
}


def _clean_through() -> int | None:
    raw = request.headers.get("X-Sync-Clean-Through")
    if raw is None or raw.strip() in ("", "null"):
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed(
            "X-Sync-Clean-Through must be a non-negative integer.", code="invalid_clean_cursor"
        )
    return int(raw)


def _nothing_pending() -> bool:
    raw = request.headers.get("X-Sync-Pending")
    if raw is None:
        return False
    if raw.strip() not in ("0", "1"):
        raise ValidationFailed("X-Sync-Pending must be 0 or 1.", code="invalid_pending_header")
    return raw.strip() == "0"


def _device() -> str:
    device = (request.headers.get("X-Device-Id") or "").strip()
    if not device or len(device) > 128:
        raise DomainError(
            "Send X-Device-Id (1-128 characters) identifying this install.",
            code="device_id_required",
        )
    return device


@blp.route("")
class Sync(MethodView):
    """Pull and push."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(PullArgsSchema, location="query")
    @blp.response(200, PullResponseSchema)
    @blp.doc(parameters=[DEVICE_HEADER, CLEAN_HEADER, PENDING_HEADER])
    def get(self, args: dict[str, Any]) -> Any:
        """Pull: every change in the technician's scope since last_pulled_at."""
        requested = args.get("schema_version")
        service.check_schema(requested, args.get("migration"))
        version = SCHEMA_VERSION if requested is None else requested
        return service.pull(
            db_session=db.session(),
            principal=current(),
            device_id=_device(),
            last_pulled_at=_cursor(args.get("last_pulled_at")),
            clean_through=_clean_through(),
            nothing_pending=_nothing_pending(),
            schema_version=version,
            migration=service.parse_migration(args.get("migration"), version),
        )

    @roles_required(*ALL_ROLES)
    @blp.arguments(PushArgsSchema, location="query")
    @blp.arguments(ChangesSchema)
    @blp.response(200, PushResponseSchema)
    @blp.doc(
        parameters=[
            DEVICE_HEADER,
            {
                "in": "header",
                "name": "Idempotency-Key",
                "schema": {"type": "string", "maxLength": 200},
            },
        ]
    )
    def post(self, args: dict[str, Any], changes: dict[str, Any]) -> Any:
        """Push: apply local changes in one transaction (same Idempotency-Key = same answer)."""
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key) <= 200):
            raise ValidationFailed(
                "Idempotency-Key must be 1-200 characters.", code="invalid_idempotency_key"
            )
        status, body = service.push(
            db_session=db.session(),
            principal=current(),
            device_id=_device(),
            last_pulled_at=_cursor(args["last_pulled_at"]),
            changes=changes,
            idempotency_key=key,
        )
        return body, status


@blp.route("/conflicts")
class Conflicts(MethodView):
    """The conflict log: values the merge policy overwrote or refused."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(ConflictQueryArgsSchema, location="query")
    @blp.response(200, ConflictSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """Newest first; filter by table, row, kind, resolved."""
        stmt = select(SyncConflict).order_by(SyncConflict.created_at.desc(), SyncConflict.id)
        for key in ("table_name", "row_id", "kind"):
            if key in args:
                stmt = stmt.where(getattr(SyncConflict, key) == args[key])
        if "resolved" in args:
            column = SyncConflict.resolved_at
            stmt = stmt.where(column.is_not(None) if args["resolved"] else column.is_(None))
        return paginate(stmt, pagination_parameters)


@blp.route("/conflicts/<uuid:conflict_id>/resolve")
class ResolveConflict(MethodView):
    """Mark a conflict reviewed."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, ConflictSchema)
    def post(self, conflict_id: uuid.UUID) -> Any:
        """Acknowledge a conflict (idempotent)."""
        conflict = get_or_404(SyncConflict, conflict_id, what="conflict")
        return service.resolve_conflict(
            db_session=db.session(), conflict=conflict, principal=current()
        )
