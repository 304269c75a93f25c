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
from sync.policy import MIN_SCHEMA_VERSION, POLICIES, SCHEMA_VERSION, Migration, tables_at


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


def _bad_migration(message: str) -> ValidationFailed:
    return ValidationFailed(
        f"migration: {message} (expected WatermelonDB's "
        '{"from": int, "tables": [str], "columns": [{"table": str, "columns": [str]}]})',
        code="invalid_migration",
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def parse_migration(raw: str | None, schema_version: int) -> Migration | None:
    """WatermelonDB's migration parameter, reduced to what the server syncs.

    Tables or columns the server does not sync (an app's local-only additions) are
    ignored; a migration from a version the server no longer serves gets 426.
    """
    if raw is None or raw.strip() in ("", "null"):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise _bad_migration("not JSON") from None
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"from", "tables", "columns"}:
        raise _bad_migration("must be an object with from, tables and columns")
    start = value.get("from")
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise _bad_migration("from must be a non-negative integer")
    if start >= schema_version:
        raise _bad_migration(f"from ({start}) must be older than schema_version")
    if start < MIN_SCHEMA_VERSION:
        raise UpgradeRequired(
            f"Migrating from schema version {start} is no longer supported; reinstall the app.",
            min_schema_version=MIN_SCHEMA_VERSION,
            current_schema_version=SCHEMA_VERSION,
        )
    tables, columns = value.get("tables", []), value.get("columns", [])
    if not _strings(tables):
        raise _bad_migration("tables must be a list of table names")
    if not isinstance(columns, list) or not all(
        isinstance(c, dict)
        and set(c) == {"table", "columns"}
        and isinstance(c["table"], str)
        and _strings(c["columns"])
        for c in columns
    ):
        raise _bad_migration("columns must be a list of {table, columns}")
    synced = set(tables_at(schema_version))
    added: dict[str, frozenset[str]] = {}
    for entry in columns:
        table = entry["table"]
        if table in synced:
            known = POLICIES[table].columns_at(schema_version)
            cols = frozenset(c for c in entry["columns"] if c in known)
            if cols:
                added[table] = added.get(table, frozenset()) | cols
    return Migration(frozenset(t for t in tables if t in synced), added)


def check_schema(schema_version: int | None, migration: Any) -> None:
    """Old apps get 426 with the minimum version; unknown newer versions 422."""
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


def _remember_pull(device: SyncDevice, last_pulled_at: int | None, upto: int) -> None:
    if not device.base_set:
        # First pull since the last push: local edits (if any) were made against the
        # state at this cursor. A first full sync has no local edits: base is its result.
        device.conflict_base = last_pulled_at if last_pulled_at is not None else upto
        device.base_set = True
    if device.settled_through is None:
        # A new install (or one from before settling existed) holds nothing older.
        device.settled_through = last_pulled_at if last_pulled_at is not None else upto
    device.last_cursor = upto
    device.last_pull_at = utcnow()


def _settle_clean(
    db_session: Session,
    device: SyncDevice,
    technician_id: uuid.UUID,
    clean_through: int,
    nothing_pending: bool,
) -> None:
    """Edits the app made after its sync at ``clean_through`` are its only unpushed ones;
    with ``nothing_pending`` it has none at all right now."""
    if device.last_cursor is None or clean_through > device.last_cursor:
        raise ValidationFailed(
            "X-Sync-Clean-Through must be a timestamp this install has pulled.",
            code="invalid_clean_cursor",
        )
    # Edits since were made against that state: it is a better conflict base than the
    # older cursor WatermelonDB's pull-only sync left.
    device.reports_clean = True
    if device.base_set and (device.conflict_base or 0) < clean_through:
        device.conflict_base = clean_through
    if not nothing_pending:
        return  # a drop now would destroy the unpushed edits along with the order
    feed.settle(
        db_session,
        device=device,
        technician_id=technician_id,
        through=clean_through,
        history_days=int(current_app.config["SYNC_HISTORY_DAYS"]),
    )


def pull(
    *,
    db_session: Session,
    principal: Principal,
    device_id: str,
    last_pulled_at: int | None,
    clean_through: int | None = None,
    nothing_pending: bool = False,
    schema_version: int = SCHEMA_VERSION,
    migration: Migration | None = None,
) -> dict[str, Any]:
    """The technician's changes since the cursor, or everything (replacement when stale).

    Shaped for the app's schema version; after an app upgrade, ``migration`` adds every
    row of the new tables and of the tables that gained columns.
    """
    technician_id = _technician(principal)
    device = _device(db_session, principal, device_id)
    if clean_through is not None:
        # Before sequencing, so the drops it writes are numbered into this very pull.
        _settle_clean(db_session, device, technician_id, clean_through, nothing_pending)
        db_session.flush()
    upto = feed.sequence(db_session, principal.tenant_id)
    if last_pulled_at is not None and last_pulled_at > upto:
        db_session.rollback()
        raise ValidationFailed("last_pulled_at is ahead of the server.", code="invalid_cursor")
    _remember_pull(device, last_pulled_at, upto)
    db_session.commit()  # releases the sequencer's lock; the device bookkeeping with it
    _snapshot(db_session)
    counter = db_session.scalar(
        select(SyncCounter).where(SyncCounter.tenant_id == principal.tenant_id)
    )
    pruned = counter.pruned_through if counter else 0
    days = int(current_app.config["SYNC_HISTORY_DAYS"])
    body: dict[str, Any] = {"timestamp": upto}
    if last_pulled_at is None:
        changes = feed.full(db_session, technician_id, days, version=schema_version)
    elif last_pulled_at < pruned:
        # The cursor predates retained tombstones: replace the local database wholesale.
        changes = feed.full(
            db_session,
            technician_id,
            days,
            settled_through=device.settled_through,
            version=schema_version,
        )
        body["experimentalStrategy"] = "replacement"
    else:
        changes = feed.incremental(
            db_session, technician_id, device, last_pulled_at, upto, days, version=schema_version
        )
        if migration is not None:
            feed.migrate(
                db_session,
                changes,
                technician_id=technician_id,
                device=device,
                migration=migration,
                history_days=days,
            )
    body["changes"] = changes.as_dict()
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
    if last_pulled_at is not None and device.last_cursor is not None and not device.reports_clean:
        # Every local change the device had after applying that pull is now on the server:
        # orders reassigned away up to then can leave it. (Never past what it was given.)
        # Only for installs that never report clean pulls: the app may edit again before
        # its next pull, and the drop would destroy that edit; such apps settle by header.
        feed.settle(
            db_session,
            device=device,
            technician_id=technician_id,
            through=min(last_pulled_at, device.last_cursor),
            history_days=int(current_app.config["SYNC_HISTORY_DAYS"]),
        )
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
