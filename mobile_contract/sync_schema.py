"""JSON Schemas (draft 2020-12) of the sync payloads, generated from ``sync.policy``.

``sync.policy`` is the source of truth for what devices see and may write; this module
only translates it. The committed files under ``mobile_contract/sync/v<N>/`` are its
output for every supported schema version: each table and column records the version that
added it, so older versions are generated too (``python -m mobile_contract.sync_schema`` or
``make contract`` rewrites them; ``tests/contract/test_sync_contract.py`` fails on drift).

Wire types: string -> string, number -> number, boolean -> boolean, timestamp -> integer
milliseconds since the epoch, json -> a JSON document serialised as a string. Ids are
lowercase canonical UUIDs.

Push records are WatermelonDB raw records: WatermelonDB pushes each changed record whole
(every column of its local table, plus ``_status`` and ``_changed``), so a push record may
carry every column of the table. Columns a device cannot change are marked
``"readOnly": true``: the server ignores their values (a differing value is logged as
``not_writable`` and corrected by the next pull). Columns outside the policy are refused.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from sync.policy import (
    MIN_SCHEMA_VERSION,
    POLICIES,
    SCHEMA_VERSION,
    Column,
    ColumnType,
    Kind,
    Owner,
    TablePolicy,
    tables_at,
)

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# The engine's limit for timestamps: milliseconds before the year 10000.
MAX_MS = 253402300799999
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ROOT = Path(__file__).resolve().parent
DOCUMENTS = ("pull_response", "push_request", "push_response")

JsonSchema = dict[str, Any]

_OWNER_NOTES = {
    Owner.DEVICE: "Technician-owned: the device value wins a same-field conflict.",
    Owner.SERVER: "Dispatcher-owned: device edits are refused and logged for review.",
    Owner.READ_ONLY: "Read-only: the server ignores device values and corrects them.",
}
_KIND_NOTES = {
    Kind.MUTABLE: "Rows are updated in place and merged column by column.",
    Kind.APPEND_ONLY: "Client UUIDs, insert-if-absent; rows are never edited.",
    Kind.READ_ONLY: "Reference data: pulled, never pushed.",
}


def directory(version: int = SCHEMA_VERSION) -> Path:
    """Where the documents of a schema version live."""
    return ROOT / "sync" / f"v{version}"


def _policies(version: int) -> dict[str, TablePolicy]:
    """The tables of a schema version, each with the columns that version has."""
    if not MIN_SCHEMA_VERSION <= version <= SCHEMA_VERSION:
        raise ValueError(
            f"schema version {version} is not supported "
            f"(supported: {MIN_SCHEMA_VERSION}..{SCHEMA_VERSION})"
        )
    return {
        name: replace(POLICIES[name], columns=POLICIES[name].columns_at(version))
        for name in tables_at(version)
    }


def _id() -> JsonSchema:
    return {"type": "string", "pattern": UUID_PATTERN}


def column_schema(spec: Column) -> JsonSchema:
    """The JSON Schema of one column's value (nullability and length from the policy)."""
    schema: JsonSchema
    if spec.type is ColumnType.TIMESTAMP:
        schema = {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_MS,
            "description": "Milliseconds since 1970-01-01T00:00:00Z.",
        }
    elif spec.type is ColumnType.JSON:
        schema = {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "A JSON document serialised as a string.",
        }
    else:
        schema = {"type": spec.type.value}
    if spec.nullable:
        schema["type"] = [schema["type"], "null"]
    if spec.max_length is not None:
        schema["maxLength"] = spec.max_length
    return schema


def pull_record_schema(table: str, version: int = SCHEMA_VERSION) -> JsonSchema:
    """A record as pulled: the id and every column of the table, nothing else."""
    policy = _policies(version)[table]
    properties: dict[str, JsonSchema] = {"id": {"$ref": "#/$defs/id"}}
    properties.update({name: column_schema(spec) for name, spec in policy.columns.items()})
    return {
        "title": f"{table} (pulled)",
        "description": _KIND_NOTES[policy.kind],
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _changed_pattern(policy: TablePolicy) -> str:
    name = "(?:" + "|".join(sorted(policy.columns)) + ")"
    return f"^(?:{name}?(?:,{name}?)*)$"


def push_record_schema(table: str, version: int = SCHEMA_VERSION) -> JsonSchema:
    """A record as pushed: a WatermelonDB raw record (columns of the table, id, metadata).

    Only ``id`` is required here; rows created in append-only tables also need the
    table's required columns (see ``push_request_schema``).
    """
    policy = _policies(version)[table]
    if policy.kind is Kind.READ_ONLY:
        raise ValueError(f"{table} is read-only for devices: it has no push records")
    properties: dict[str, JsonSchema] = {"id": {"$ref": "#/$defs/id"}}
    for name, spec in policy.columns.items():
        schema = column_schema(spec)
        note = _OWNER_NOTES[spec.owner]
        schema["description"] = (
            f"{schema['description']} {note}" if "description" in schema else note
        )
        if not policy.writable(name):
            schema["readOnly"] = True
        properties[name] = schema
    properties["_status"] = {
        "enum": ["created", "updated"],
        "description": "WatermelonDB sync metadata; the server strips it.",
    }
    properties["_changed"] = {
        "type": ["string", "null"],
        "pattern": _changed_pattern(policy),
        "description": (
            "WatermelonDB sync metadata: comma-separated names of the columns changed "
            "on the device (updated rows); only these count as device edits."
        ),
    }
    return {
        "title": f"{table} (pushed)",
        "description": _KIND_NOTES[policy.kind],
        "type": "object",
        "properties": properties,
        "required": ["id"],
        "additionalProperties": False,
    }


def _document(name: str, version: int, title: str, description: str) -> JsonSchema:
    return {
        "$schema": DRAFT,
        "$id": f"urn:fieldservice:mobile-contract:sync:v{version}:{name}",
        "title": title,
        "description": description,
    }


def pull_response_schema(version: int = SCHEMA_VERSION) -> JsonSchema:
    """``GET /api/v1/sync``: every table's created/updated/deleted rows and the cursor."""
    policies = _policies(version)
    defs: dict[str, JsonSchema] = {"id": _id()}
    tables: dict[str, JsonSchema] = {}
    for table in policies:
        defs[f"{table}.record"] = pull_record_schema(table, version)
        rows = {"type": "array", "items": {"$ref": f"#/$defs/{table}.record"}}
        tables[table] = {
            "type": "object",
            "properties": {
                "created": rows,
                "updated": rows,
                "deleted": {"type": "array", "items": {"$ref": "#/$defs/id"}},
            },
            "required": ["created", "updated", "deleted"],
            "additionalProperties": False,
        }
    return {
        **_document(
            "pull_response",
            version,
            f"Sync pull response (schema version {version})",
            "WatermelonDB pullChanges result. Rows the pulling device created itself come "
            "back as updated, never as created.",
        ),
        "type": "object",
        "properties": {
            "changes": {
                "type": "object",
                "properties": tables,
                "required": list(tables),
                "additionalProperties": False,
            },
            "timestamp": {
                "type": "integer",
                "minimum": 0,
                "description": "Opaque cursor: send it back as last_pulled_at.",
            },
            "experimentalStrategy": {
                "const": "replacement",
                "description": (
                    "The cursor predates the retained tombstones: replace the local "
                    "database with these rows."
                ),
            },
        },
        "required": ["changes", "timestamp"],
        "additionalProperties": False,
        "$defs": defs,
    }


def push_request_schema(version: int = SCHEMA_VERSION) -> JsonSchema:
    """``POST /api/v1/sync`` body: WatermelonDB changes, table by table."""
    policies = _policies(version)
    defs: dict[str, JsonSchema] = {"id": _id()}
    tables: dict[str, JsonSchema] = {}
    for table, policy in policies.items():
        deleted = {"type": "array", "items": {"$ref": "#/$defs/id"}}
        if policy.kind is Kind.READ_ONLY:
            none: JsonSchema = {"type": "array", "maxItems": 0}
            tables[table] = {
                "type": "object",
                "description": _KIND_NOTES[policy.kind],
                "properties": {"created": none, "updated": none, "deleted": deleted},
                "additionalProperties": False,
            }
            continue
        ref = f"#/$defs/{table}.record"
        defs[f"{table}.record"] = push_record_schema(table, version)
        created: JsonSchema = {"$ref": ref}
        if policy.kind is Kind.APPEND_ONLY:
            created["required"] = ["id", *sorted(policy.required)]
        tables[table] = {
            "type": "object",
            "properties": {
                "created": {"type": "array", "items": created},
                "updated": {"type": "array", "items": {"$ref": ref}},
                "deleted": deleted,
            },
            "additionalProperties": False,
        }
    return {
        **_document(
            "push_request",
            version,
            f"Sync push request body (schema version {version})",
            "WatermelonDB pushChanges changes object. A push is applied whole or not at "
            "all; deletes of synced records are refused and restored by the next pull.",
        ),
        "type": "object",
        "properties": tables,
        "additionalProperties": False,
        "$defs": defs,
    }


def push_response_schema(version: int = SCHEMA_VERSION) -> JsonSchema:
    """What a successful push (200) answers; a replay with its Idempotency-Key answers the
    same."""
    tables = list(_policies(version))
    counts = {
        "type": "object",
        "propertyNames": {"enum": tables},
        "additionalProperties": {"type": "integer", "minimum": 0},
    }
    return {
        **_document(
            "push_response",
            version,
            f"Sync push response (schema version {version})",
            "Counts per table, the outcome of every status event, and every value the "
            "merge policy overwrote or refused (also in GET /api/v1/sync/conflicts).",
        ),
        "type": "object",
        "properties": {
            "ok": {"const": True},
            "inserted": counts,
            "updated": counts,
            "unchanged": counts,
            "status_events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"$ref": "#/$defs/id"},
                        "outcome": {"enum": ["applied", "rejected"]},
                        "code": {
                            "type": ["string", "null"],
                            "description": "Why a rejected event was refused.",
                        },
                    },
                    "required": ["id", "outcome", "code"],
                    "additionalProperties": False,
                },
            },
            "conflicts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "table": {"enum": tables},
                        "id": {"$ref": "#/$defs/id"},
                        "column": {
                            "type": ["string", "null"],
                            "description": "Column(s), comma-separated; null for whole rows.",
                        },
                        "kind": {
                            "type": "string",
                            "description": (
                                "E.g. same_field, not_permitted, not_writable, "
                                "status_rejected, append_only_modified, update_of_deleted, "
                                "delete_refused; new kinds may appear."
                            ),
                        },
                        "kept": {"enum": ["server", "device"]},
                    },
                    "required": ["table", "id", "column", "kind", "kept"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["ok", "inserted", "updated", "unchanged", "status_events", "conflicts"],
        "additionalProperties": False,
        "$defs": {"id": _id()},
    }


def documents(version: int = SCHEMA_VERSION) -> dict[str, JsonSchema]:
    """Every document of a schema version, by file stem."""
    return {
        "pull_response": pull_response_schema(version),
        "push_request": push_request_schema(version),
        "push_response": push_response_schema(version),
    }


def render(schema: JsonSchema) -> str:
    """The committed text: 2-space indent, generation key order, trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write(version: int = SCHEMA_VERSION, root: Path | None = None) -> list[Path]:
    """Write the documents of a version; returns the paths written."""
    target = root if root is not None else directory(version)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in documents(version).items():
        path = target / f"{name}.schema.json"
        path.write_text(render(schema), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    """Regenerate the committed schema files of every supported schema version."""
    for version in range(MIN_SCHEMA_VERSION, SCHEMA_VERSION + 1):
        for path in write(version):
            print(path.relative_to(ROOT.parent))


if __name__ == "__main__":
    main()
