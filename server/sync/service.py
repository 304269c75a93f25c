"""Sync use cases: pull, push (idempotent, one transaction), conflict review."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.db import utcnow
from server.errors import Conflict, DomainError, Forbidden, ValidationFailed
from server.sync import feed
from server.sync.changelog import DEVICE_KEY
from server.sync.models import SyncConflict, SyncCounter, SyncDevice, SyncPush
from server.sync.store import SqlStore
from sync.engine import PushContext, PushRejected, apply_push
from sync.policy import MIN_SCHEMA_VERSION, SCHEMA_VERSION


class UpgradeRequired(DomainError):
    """The app's local schema is older than the server still supports."""

    status = 426
    code = "schema_version_unsupported"


def _technician(principal: Principal) -> uuid.UUID:
    if principal.technician_id is None:
        raise Forbidden(
            "Only technicians linked to a technician record can sync.", code="not_a_technician"
        )
    return principal.technician_id


def check_schema(schema_version: int | None, migration: Any) -> None:
    """Old apps get 426 with the minimum version; migrations between unknown versions 422."""
    if schema_version is None:
        return
    if schema_version < MIN_SCHEMA_VERSION:
        raise UpgradeRequired(
            f"Schema version {schema_version} is no longer supported; update the app.",
            min_schema_version=MIN_SCHEMA_VERSION,
            current_schema_version=SCHEMA_VERSION,
        )
    if schema_version > SCHEMA_VERSION:
        raise ValidationFailed(
            "This server does not know that schema version yet.",
            code="schema_version_unknown",
            current_schema_version=SCHEMA_VERSION,
        )
    if migration is not None:
        # Version 1 is the only schema: no migration can add tables or columns yet.
        raise ValidationFailed(
            "No schema migration is defined up to this version.", code="migration_unsupported"
        )


def _snapshot(db_session: Session) -> None:
    # One consistent view across every table of the pull (PostgreSQL; SQLite serialises).
    bind = db_session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        db_session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _device(db_session: Session, principal: Principal, device_id: str) -> SyncDevice:
    device = db_session.scalar(
        select(SyncDevice).where(
            SyncDevice.user_id == principal.user_id, SyncDevice.device_id == device_id
        )
    )
    if device is None:
        device = SyncDevice(
            tenant_id=principal.tenant_id, user_id=principal.user_id, device_id=device_id
        )
        db_session.add(device)
    return device


def _remember_pull(
    db_session: Session,
    principal: Principal,
    device_id: str,
    last_pulled_at: int | None,
    upto: int,
) -> None:
    device = _device(db_session, principal, device_id)
    if not device.base_set:
        # First pull since the last push: local edits (if any) were made against the
        # state at this cursor. A first full sync has no local edits: base is its result.
        device.conflict_base = last_pulled_at if last_pulled_at is not None else upto
        device.base_set = True
    device.last_cursor = upto
    device.last_pull_at = utcnow()
    db_session.commit()


def pull(
    *, db_session: Session, principal: Principal, device_id: str, last_pulled_at: int | None
) -> dict[str, Any]:
    """The technician's changes since the cursor, or everything (replacement when stale)."""
    technician_id = _technician(principal)
    upto = feed.sequence(db_session, principal.tenant_id)  # committed with the device below
    _remember_pull(db_session, principal, device_id, last_pulled_at, upto)
    _snapshot(db_session)
    counter = db_session.scalar(
        select(SyncCounter).where(SyncCounter.tenant_id == principal.tenant_id)
    )
    pruned = counter.pruned_through if counter else 0
    if last_pulled_at is not None and last_pulled_at > upto:
        raise ValidationFailed("last_pulled_at is ahead of the server.", code="invalid_cursor")
    days = int(current_app.config["SYNC_HISTORY_DAYS"])
    body: dict[str, Any] = {"timestamp": upto}
    if last_pulled_at is None or last_pulled_at < pruned:
        body["changes"] = feed.full(db_session, technician_id, days).as_dict()
        if last_pulled_at is not None:
            # The cursor predates retained tombstones: replace the local database wholesale.
            body["experimentalStrategy"] = "replacement"
    else:
        body["changes"] = feed.incremental(
            db_session, technician_id, device_id, last_pulled_at, upto, days
        ).as_dict()
    db_session.rollback()  # read-only; ends the snapshot
    return body


def _request_hash(changes: Any, last_pulled_at: int | None) -> str:
    canonical = json.dumps(
        {"changes": changes, "last_pulled_at": last_pulled_at},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def push(
    *,
    db_session: Session,
    principal: Principal,
    device_id: str,
    last_pulled_at: int | None,
    changes: Any,
    idempotency_key: str | None,
) -> tuple[int, dict[str, Any]]:
    """Apply a push once: a replay with the same key returns the stored answer."""
    technician_id = _technician(principal)
    digest = _request_hash(changes, last_pulled_at)
    if idempotency_key:
        if db_session.get_bind().dialect.name == "postgresql":
            got = db_session.scalar(
                text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                {"k": f"{principal.tenant_id}:{principal.user_id}:{idempotency_key}"},
            )
            if not got:
                raise Conflict("The same push is being applied right now.", code="push_in_progress")
        done = db_session.scalar(
            select(SyncPush).where(
                SyncPush.user_id == principal.user_id, SyncPush.idempotency_key == idempotency_key
            )
        )
        if done is not None:
            if done.request_hash != digest:
                raise ValidationFailed(
                    "This Idempotency-Key was used for a different push.",
                    code="idempotency_key_reused",
                )
            db_session.rollback()
            return done.status_code, done.response
    device = _device(db_session, principal, device_id)
    # WatermelonDB pulls before pushing, so the push's cursor is newer than the state its
    # edits were made against: compare with the first pull since the last push instead.
    ctx = PushContext(
        user_id=str(principal.user_id),
        technician_id=str(technician_id),
        device_id=device_id,
        last_pulled_at=device.conflict_base if device.base_set else last_pulled_at,
    )
    store = SqlStore(db_session, principal, float(current_app.config["SYNC_GEOFENCE_M"]))
    db_session.info[DEVICE_KEY] = device_id
    try:
        report = apply_push(store, changes, ctx)
        db_session.flush()  # while the device id is set: the change log records its origin
    except PushRejected as exc:
        db_session.rollback()
        raise ValidationFailed(exc.message, code=exc.code, errors=exc.errors) from exc
    finally:
        db_session.info.pop(DEVICE_KEY, None)
    response = {
        "ok": True,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "status_events": report.status,
        "conflicts": [
            {"table": c.table, "id": c.row_id, "column": c.column, "kind": c.kind, "kept": c.kept}
            for c in report.conflicts
        ],
    }
    device.base_set, device.conflict_base = False, None
    device.last_push_at = utcnow()
    if idempotency_key:
        db_session.add(
            SyncPush(
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                idempotency_key=idempotency_key,
                request_hash=digest,
                status_code=200,
                response=response,
            )
        )
    db_session.commit()
    return 200, response


def resolve_conflict(
    *, db_session: Session, conflict: SyncConflict, principal: Principal
) -> SyncConflict:
    """Mark a conflict as reviewed (idempotent)."""
    if conflict.resolved_at is None:
        conflict.resolved_at = utcnow()
        conflict.resolved_by_id = principal.user_id
        db_session.commit()
    return conflict
