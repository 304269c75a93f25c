"""Applying a WatermelonDB push: validation first, then merge rules, all through a Store port.

Nothing here knows about SQL or HTTP. The server implements ``Store`` with SQLAlchemy in
one transaction; tests implement it in memory. ``apply_push`` either raises ``PushRejected``
before anything is written (bad shape, foreign rows) or applies every record.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sync.policy import CLIENT_BOOKKEEPING, POLICIES, Column, ColumnType, Kind, Owner, TablePolicy

META = ("_status", "_changed")


class PushRejected(Exception):
    """The push cannot be applied at all; nothing was written. Carries a stable code."""

    def __init__(self, code: str, message: str, errors: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = dict(errors or {})


@dataclass(frozen=True)
class PushContext:
    """Who pushes, from which device, and what they last pulled.

    ``last_pulled_at`` is the conflict base: a cursor at or before the state the device's
    pending edits started from. WatermelonDB sends the timestamp of the pull it made just
    before pushing, but that pull silently kept local values of locally changed columns;
    using it as the base would hide office edits made before that pull. The server should
    pass the input cursor of the device's first pull since its last applied push.
    """

    user_id: str
    technician_id: str | None
    device_id: str
    last_pulled_at: int | None


@dataclass(frozen=True)
class ConflictEntry:
    """A value the policy overwrote or refused, for the conflict log."""

    table: str
    row_id: str
    column: str | None
    kind: str
    kept: str  # "server" | "device"
    server_value: Any
    device_value: Any
    detail: str | None = None


@dataclass
class PushReport:
    """What the push did, returned to the device and stored for idempotent replays."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    conflicts: list[ConflictEntry] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)

    def count(self, bucket: dict[str, int], table: str) -> None:
        """Increment one per-table counter."""
        bucket[table] = bucket.get(table, 0) + 1


class Store(Protocol):
    """The storage port the engine writes through (one transaction per push)."""

    def prefetch(self, table: str, row_ids: list[str]) -> None:
        """Load these rows (and whether they were deleted) in bulk before per-row calls."""

    def load(self, table: str, row_id: str) -> dict[str, Any] | None:
        """Current device-visible values of a row, or None when absent."""

    def was_deleted(self, table: str, row_id: str) -> bool:
        """True when the row existed and was deleted (a tombstone exists)."""

    def check_insert(self, table: str, row: dict[str, Any], ctx: PushContext) -> str | None:
        """Why this device may not insert the row (foreign order, unknown part), or None."""

    def check_update(self, table: str, row_id: str, ctx: PushContext) -> str | None:
        """Why this device may not change the row (not theirs), or None."""

    def changed_since(
        self, table: str, row_id: str, cursor: int | None, device_id: str
    ) -> set[str]:
        """Columns others changed on the server after ``cursor`` (all, when cursor is None)."""

    def insert(self, table: str, row: dict[str, Any], ctx: PushContext) -> None:
        """Insert a new row (device values, already validated)."""

    def update(self, table: str, row_id: str, values: dict[str, Any], ctx: PushContext) -> None:
        """Write the given columns of an existing row."""

    def touch(self, table: str, row_id: str, ctx: PushContext) -> None:
        """Mark a row changed so the device's next pull corrects its copy."""

    def restore(self, table: str, row_id: str, ctx: PushContext) -> None:
        """Like touch, but the pushing device deleted its copy: it gets the row as created."""

    def apply_status_event(self, row: dict[str, Any], ctx: PushContext) -> tuple[str, str | None]:
        """Run a pushed status event through the lifecycle: ("applied"|"rejected", code)."""

    def log_conflict(self, entry: ConflictEntry, ctx: PushContext) -> None:
        """Persist one conflict-log entry."""


def _check_value(name: str, spec: Column, value: Any) -> str | None:
    if value is None:
        return None if spec.nullable else "may not be null"
    kind = spec.type
    if kind is ColumnType.STRING or kind is ColumnType.JSON:
        if not isinstance(value, str):
            return "must be a string"
        if spec.max_length is not None and len(value) > spec.max_length:
            return f"longer than {spec.max_length} characters"
        if kind is ColumnType.JSON:
            try:
                json.loads(value)
            except ValueError:
                return "must be a JSON document serialised as a string"
        return None
    if kind is ColumnType.BOOLEAN:
        return None if isinstance(value, bool) else "must be a boolean"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number"
    if not math.isfinite(value):
        return "must be finite"
    if kind is ColumnType.TIMESTAMP and not (0 <= value <= 253402300799999):
        return "must be milliseconds since 1970 before year 10000"
    return None


def _is_uuid(value: Any) -> bool:
    """Ids are client-generated UUIDs in canonical form (one spelling per row)."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _same(spec: Column, a: Any, b: Any) -> bool:
    """Equal as values: JSON documents compare parsed, so key order or spacing never differ."""
    if a == b:
        return True
    if spec.type is ColumnType.JSON and isinstance(a, str) and isinstance(b, str):
        try:
            return bool(json.loads(a) == json.loads(b))
        except ValueError:
            return False
    return False


def _clean(
    policy: TablePolicy, raw: Any, errors: dict[str, Any], where: str
) -> tuple[dict[str, Any], set[str] | None] | None:
    """Strip sync metadata, check every column; returns (values, _changed or None)."""
    if not isinstance(raw, dict):
        errors[where] = "must be an object"
        return None
    row_id = raw.get("id")
    if not _is_uuid(row_id):
        errors[where] = "needs an id that is a lowercase canonical UUID"
        return None
    changed_raw = raw.get("_changed")
    changed = None
    if isinstance(changed_raw, str):
        changed = {c for c in changed_raw.split(",") if c}
    elif changed_raw is not None:
        errors[where] = {"_changed": "must be a comma-separated string of column names"}
        return None
    values = {k: v for k, v in raw.items() if k not in META}
    problems = {}
    for name, value in values.items():
        if name == "id":
            continue
        spec = policy.columns.get(name)
        if spec is None:
            problems[name] = "unknown column"
            continue
        problem = _check_value(name, spec, value)
        if problem:
            problems[name] = problem
    if changed:
        for name in changed - set(policy.columns):
            problems[name] = "unknown column in _changed"
    if problems:
        errors[where] = problems
        return None
    return values, changed


def validate_push(changes: Any) -> dict[str, dict[str, list[Any]]]:
    """Check the whole payload's shape before any write; raise PushRejected with every error."""
    if not isinstance(changes, dict):
        raise PushRejected("invalid_push", "The push body must be an object of tables.")
    errors: dict[str, Any] = {}
    clean: dict[str, dict[str, list[Any]]] = {}
    for table, buckets in changes.items():
        policy = POLICIES.get(table)
        if policy is None:
            errors[table] = "unknown table"
            continue
        if not isinstance(buckets, dict) or set(buckets) - {"created", "updated", "deleted"}:
            errors[table] = "must be {created, updated, deleted}"
            continue
        out: dict[str, list[Any]] = {"created": [], "updated": [], "deleted": []}
        for bucket in ("created", "updated"):
            rows = buckets.get(bucket, [])
            if not isinstance(rows, list):
                errors[f"{table}.{bucket}"] = "must be a list"
                continue
            for i, raw in enumerate(rows):
                if policy.kind is Kind.READ_ONLY:
                    errors[f"{table}.{bucket}[{i}]"] = "table is read-only for devices"
                    continue
                cleaned = _clean(policy, raw, errors, f"{table}.{bucket}[{i}]")
                if cleaned is not None:
                    out[bucket].append(cleaned)
        deleted = buckets.get("deleted", [])
        if not isinstance(deleted, list) or not all(_is_uuid(d) for d in deleted):
            errors[f"{table}.deleted"] = "must be a list of UUID ids"
        else:
            out["deleted"] = list(deleted)
        clean[table] = out
    if errors:
        raise PushRejected("invalid_push", "The push does not match the sync schema.", errors)
    return clean


def apply_push(store: Store, changes: Any, ctx: PushContext) -> PushReport:
    """Apply a whole push (validated first); raises PushRejected before any write."""
    clean = validate_push(changes)
    for table, buckets in clean.items():
        # One round trip per table instead of several per row.
        ids = [values["id"] for bucket in ("created", "updated") for values, _ in buckets[bucket]]
        store.prefetch(table, ids + list(buckets["deleted"]))
    _check_ownership(store, clean, ctx)
    report = PushReport()
    events: list[dict[str, Any]] = []
    for table, buckets in clean.items():
        policy = POLICIES[table]
        if policy.kind is not Kind.APPEND_ONLY:
            continue
        for bucket in ("created", "updated"):
            for values, _changed in buckets[bucket]:
                if _append(store, policy, values, ctx, report) and table == "status_events":
                    events.append(values)
    # Status events are history, row values the device's latest state: history goes first,
    # so an explicit edit (say of actual_end) is not overwritten by an event's effect, and
    # a status the app set locally already matches. Offline changes replay in device order.
    for event in sorted(events, key=lambda e: (e["occurred_at"], e["id"])):
        outcome, code = store.apply_status_event(event, ctx)
        report.status.append({"id": event["id"], "outcome": outcome, "code": code})
        if outcome == "rejected":
            entry = ConflictEntry(
                "status_events",
                event["id"],
                "to_status",
                "status_rejected",
                "server",
                None,
                event["to_status"],
                code,
            )
            report.conflicts.append(entry)
            store.log_conflict(entry, ctx)
    for table, buckets in clean.items():
        policy = POLICIES[table]
        if policy.kind is not Kind.APPEND_ONLY:
            for bucket in ("created", "updated"):
                for values, changed in buckets[bucket]:
                    _merge(store, policy, values, changed, bucket, ctx, report)
        for row_id in buckets["deleted"]:
            _refuse_delete(store, policy, row_id, ctx, report)
    return report


def _check_ownership(
    store: Store, clean: dict[str, dict[str, list[Any]]], ctx: PushContext
) -> None:
    errors: dict[str, Any] = {}
    for table, buckets in clean.items():
        policy = POLICIES[table]
        for bucket in ("created", "updated"):
            for values, _changed in buckets[bucket]:
                row_id = values["id"]
                existing = store.load(table, row_id)
                if existing is None and store.was_deleted(table, row_id):
                    continue  # the deletion stands; merge/append log it
                if existing is None and policy.kind is Kind.MUTABLE:
                    errors[f"{table}/{row_id}"] = "devices cannot create rows in this table"
                    continue
                problem = (
                    store.check_update(table, row_id, ctx)
                    if existing is not None
                    else store.check_insert(table, values, ctx)
                )
                if problem:
                    errors[f"{table}/{row_id}"] = problem
                elif existing is None:
                    missing = sorted(c for c in policy.required if values.get(c) is None)
                    if missing:
                        errors[f"{table}/{row_id}"] = f"missing required: {', '.join(missing)}"
    if errors:
        raise PushRejected(
            "foreign_or_invalid_rows",
            "Some rows do not belong to this technician or are incomplete.",
            errors,
        )


def _append(
    store: Store, policy: TablePolicy, values: dict[str, Any], ctx: PushContext, report: PushReport
) -> bool:
    """Insert-if-absent; a replay is a no-op, a changed replay is logged, never applied."""
    existing = store.load(policy.name, values["id"])
    if existing is None and store.was_deleted(policy.name, values["id"]):
        # A replay of a row the office has since deleted must not bring it back.
        _log_deleted(store, report, ctx, policy, values)
        report.count(report.unchanged, policy.name)
        return False
    if existing is None:
        # Server-stamped columns (device_id, outcome, within_geofence...) are never taken
        # from the device.
        row = {c: v for c, v in values.items() if c == "id" or policy.writable(c)}
        store.insert(policy.name, row, ctx)
        report.count(report.inserted, policy.name)
        return True
    differs = {
        c
        for c, v in values.items()
        if c != "id" and policy.writable(c) and not _same(policy.columns[c], existing.get(c), v)
    }
    if differs:
        entry = ConflictEntry(
            policy.name,
            values["id"],
            ",".join(sorted(differs)),
            "append_only_modified",
            "server",
            {c: existing.get(c) for c in sorted(differs)},
            {c: values[c] for c in sorted(differs)},
            "Append-only rows are never edited; push a correcting row.",
        )
        report.conflicts.append(entry)
        store.log_conflict(entry, ctx)
        store.touch(policy.name, values["id"], ctx)  # the device's edited copy gets restored
    report.count(report.unchanged, policy.name)
    return False


def _merge(
    store: Store,
    policy: TablePolicy,
    values: dict[str, Any],
    changed: set[str] | None,
    bucket: str,
    ctx: PushContext,
    report: PushReport,
) -> None:
    """Per-column merge of a device edit into the server row."""
    row_id = values["id"]
    existing = store.load(policy.name, row_id)
    if existing is None:
        # Updated after the server deleted it: the deletion stands, the device learns on pull.
        _log_deleted(store, report, ctx, policy, values)
        return
    # Without _changed (a "created" that already exists) every sent column counts as edited.
    edited = changed if changed is not None and bucket == "updated" else set(values) - {"id"}
    edited = {
        c
        for c in edited
        if c in values
        and c not in CLIENT_BOOKKEEPING
        and not _same(policy.columns[c], existing.get(c), values[c])
    }
    server_changed = store.changed_since(policy.name, row_id, ctx.last_pulled_at, ctx.device_id)
    write: dict[str, Any] = {}
    corrected = False
    for column in sorted(edited):
        kind, kept = _verdict(policy.columns[column].owner, column in server_changed)
        if kind is not None:
            _log(
                store,
                report,
                ctx,
                policy,
                row_id,
                column,
                kind,
                kept,
                existing.get(column),
                values[column],
            )
        if kept == "device":
            write[column] = values[column]
        else:
            corrected = True
    if write:
        store.update(policy.name, row_id, write, ctx)
        report.count(report.updated, policy.name)
    else:
        report.count(report.unchanged, policy.name)
    if corrected:
        # Always, even next to a write: a pull may skip the device's own writes, and the
        # device's copy still holds the refused values.
        store.touch(policy.name, row_id, ctx)


def _verdict(owner: Owner, raced: bool) -> tuple[str | None, str]:
    """For one edited column: the conflict-log kind (None: nothing to log) and who keeps it.

    ``raced`` means the server changed the column after the device's conflict base.
    Office-owned columns change only in the office, even without a race.
    """
    if owner is Owner.READ_ONLY:
        return "not_writable", "server"
    if owner is Owner.SERVER:
        return ("same_field" if raced else "not_permitted"), "server"
    return ("same_field" if raced else None), "device"


def _log_deleted(
    store: Store, report: PushReport, ctx: PushContext, policy: TablePolicy, values: dict[str, Any]
) -> None:
    """The server deleted this row: the deletion stands, the device's values are logged."""
    entry = ConflictEntry(
        policy.name,
        values["id"],
        None,
        "update_of_deleted",
        "server",
        None,
        {k: v for k, v in values.items() if k != "id"},
    )
    report.conflicts.append(entry)
    store.log_conflict(entry, ctx)


def _log(
    store: Store,
    report: PushReport,
    ctx: PushContext,
    policy: TablePolicy,
    row_id: str,
    column: str,
    kind: str,
    kept: str,
    server_value: Any,
    device_value: Any,
) -> None:
    entry = ConflictEntry(policy.name, row_id, column, kind, kept, server_value, device_value)
    report.conflicts.append(entry)
    store.log_conflict(entry, ctx)


def _refuse_delete(
    store: Store, policy: TablePolicy, row_id: str, ctx: PushContext, report: PushReport
) -> None:
    """Devices never delete server records; a delete of a missing row is ignored."""
    existing = store.load(policy.name, row_id)
    if existing is None:
        return
    entry = ConflictEntry(
        policy.name,
        row_id,
        None,
        "delete_refused",
        "server",
        None,
        None,
        "Devices cannot delete synced records; the next pull restores it.",
    )
    report.conflicts.append(entry)
    store.log_conflict(entry, ctx)
    store.restore(policy.name, row_id, ctx)
