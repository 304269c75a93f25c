"""What devices see and may write, table by table and column by column.

Ownership decides a same-field conflict (the server changed a column after the device's
last pull, and the device changed it too): SERVER keeps the server value, DEVICE takes
the device value. Either way the losing value goes to the conflict log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Owner(StrEnum):
    """Who wins a same-field conflict; READ_ONLY columns are never written by devices."""

    SERVER = "server"
    DEVICE = "device"
    READ_ONLY = "read_only"


class Kind(StrEnum):
    """How a table behaves under sync."""

    MUTABLE = "mutable"  # rows updated in place, merged per column
    APPEND_ONLY = "append_only"  # client UUIDs, insert-if-absent, never edited
    READ_ONLY = "read_only"  # reference data: pulled, never pushed


class ColumnType(StrEnum):
    """Wire types of the WatermelonDB protocol (JSON and times travel as string/number)."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"  # integer milliseconds since the epoch
    JSON = "json"  # a JSON document serialised as a string


@dataclass(frozen=True)
class Column:
    """One device-visible column."""

    type: ColumnType
    owner: Owner = Owner.READ_ONLY
    nullable: bool = True
    max_length: int | None = None
    since: int = 1  # the sync schema version that added it


@dataclass(frozen=True)
class TablePolicy:
    """One synced table."""

    name: str
    kind: Kind
    columns: Mapping[str, Column]
    required: frozenset[str] = field(default_factory=frozenset)
    since: int = 1  # the sync schema version that added the table

    def writable(self, column: str) -> bool:
        """True when a device may change this column at all."""
        spec = self.columns.get(column)
        return spec is not None and spec.owner is not Owner.READ_ONLY

    def columns_at(self, version: int) -> dict[str, Column]:
        """The columns an app on this schema version has."""
        return {name: spec for name, spec in self.columns.items() if spec.since <= version}


S, N, B, T, J = (
    ColumnType.STRING,
    ColumnType.NUMBER,
    ColumnType.BOOLEAN,
    ColumnType.TIMESTAMP,
    ColumnType.JSON,
)
RO = Owner.READ_ONLY


def _ro(since: int = 1, **columns: ColumnType) -> dict[str, Column]:
    return {name: Column(kind, since=since) for name, kind in columns.items()}


def _device(kind: ColumnType, *, nullable: bool = True, max_length: int | None = None) -> Column:
    return Column(kind, Owner.DEVICE, nullable, max_length)


def _server(kind: ColumnType) -> Column:
    return Column(kind, Owner.SERVER)


WORK_ORDERS = TablePolicy(
    "work_orders",
    Kind.MUTABLE,
    {
        **_ro(
            number=S,
            title=S,
            description=S,
            order_type=S,
            category=S,
            support_tier=S,
            status=S,
            channel=S,
            required_skills=J,
            estimated_duration_minutes=N,
            requested_start=T,
            requested_end=T,
            customer_id=S,
            site_id=S,
            equipment_id=S,
            helper_ids=J,
            lat=N,
            lon=N,
            resolution_summary=S,
            hold_reason=S,
            cancel_reason=S,
            custom_fields=J,
            created_at=T,
            updated_at=T,
        ),
        # Dispatcher-owned: the office decides; a device edit never overrides it.
        "priority": _server(S),
        "lead_technician_id": _server(S),
        "scheduled_start": _server(T),
        "scheduled_end": _server(T),
        # Technician-owned: what happened on site is the technician's truth.
        "technician_notes": _device(S, max_length=20_000),
        "checklist_answers": _device(J, max_length=200_000),
        "actual_start": _device(T),
        "actual_end": _device(T),
        # Version 2: the SOP checklist the answers follow, and the SLA deadline.
        **_ro(2, checklist_template_id=S, due_at=T),
    },
)


def _append_only(name: str, required: set[str], **columns: Column) -> TablePolicy:
    base = {
        "work_order_id": _device(S, nullable=False),
        "occurred_at": _device(T, nullable=False),
        "created_by_id": Column(S),
        "device_id": Column(S),
        "recorded_at": Column(T),
    }
    return TablePolicy(
        name,
        Kind.APPEND_ONLY,
        {**base, **columns},
        frozenset({"work_order_id", "occurred_at"} | required),
    )


NOTES = _append_only(
    "work_order_notes",
    {"body"},
    body=_device(S, nullable=False, max_length=20_000),
    corrects_id=_device(S),
)
STATUS_EVENTS = _append_only(
    "status_events",
    {"to_status"},
    to_status=_device(S, nullable=False, max_length=16),
    lat=_device(N),
    lon=_device(N),
    accuracy_m=_device(N),
    resolution_summary=_device(S, max_length=20_000),
    hold_reason=_device(S, max_length=16),
    reason=_device(S, max_length=2000),
    outcome=Column(S),
    outcome_code=Column(S),
)
CHECK_INS = _append_only(
    "check_ins",
    {"kind", "lat", "lon"},
    kind=_device(S, nullable=False, max_length=8),
    lat=_device(N, nullable=False),
    lon=_device(N, nullable=False),
    accuracy_m=_device(N),
    distance_m=Column(N),
    within_geofence=Column(B),
)
PHOTOS = _append_only(
    "work_order_photos",
    {"blob_sha256"},
    blob_sha256=_device(S, nullable=False, max_length=64),
    caption=_device(S, max_length=2000),
    lat=_device(N),
    lon=_device(N),
)
PART_USAGES = TablePolicy(
    "part_usages",
    Kind.APPEND_ONLY,
    {
        "work_order_id": _device(S, nullable=False),
        "part_id": _device(S, nullable=False),
        "equipment_id": _device(S),
        "technician_id": Column(S),
        "quantity": _device(N, nullable=False),
        "serial_numbers": _device(J),
        "used_at": _device(T, nullable=False),
        # Version 2: what came out of the equipment (defective, to RMA).
        "removed_serial_numbers": Column(J, Owner.DEVICE, since=2),
        "removed_quantity": Column(N, Owner.DEVICE, since=2),
        "recorded_at": Column(T),
    },
    frozenset({"work_order_id", "part_id", "quantity", "used_at"}),
)

CUSTOMERS = TablePolicy(
    "customers", Kind.READ_ONLY, _ro(code=S, name=S, tier=S, contacts=J, notes=S, updated_at=T)
)
SITES = TablePolicy(
    "sites",
    Kind.READ_ONLY,
    _ro(customer_id=S, name=S, address=S, lat=N, lon=N, access_notes=S, timezone=S, updated_at=T),
)
EQUIPMENT = TablePolicy(
    "equipment",
    Kind.READ_ONLY,
    _ro(
        site_id=S,
        customer_id=S,
        parent_id=S,
        name=S,
        category=S,
        manufacturer=S,
        model=S,
        serial_number=S,
        install_date=S,
        warranty_end=S,
        status=S,
        configuration=J,
        updated_at=T,
    ),
)
PARTS = TablePolicy(
    "parts",
    Kind.READ_ONLY,
    _ro(
        sku=S,
        name=S,
        unit=S,
        serialized=B,
        unit_price=S,
        compatible_models=J,
        active=B,
        updated_at=T,
    ),
)

CHECKLIST_TEMPLATES = TablePolicy(
    "checklist_templates",
    Kind.READ_ONLY,
    _ro(
        2,
        name=S,
        description=S,
        order_types=J,
        equipment_categories=J,
        items=J,
        version=N,
        active=B,
        updated_at=T,
    ),
    since=2,
)
KB_ARTICLES = TablePolicy(
    "kb_articles",
    Kind.READ_ONLY,
    _ro(2, title=S, body=S, skill_codes=J, equipment_models=J, tags=J, updated_at=T),
    since=2,
)

VAN_STOCK = TablePolicy(
    "van_stock",
    Kind.READ_ONLY,
    _ro(2, part_id=S, on_hand=N, reserved=N, updated_at=T),
    since=2,
)

POLICIES: Mapping[str, TablePolicy] = {
    p.name: p
    for p in (
        WORK_ORDERS,
        NOTES,
        STATUS_EVENTS,
        CHECK_INS,
        PHOTOS,
        PART_USAGES,
        CUSTOMERS,
        SITES,
        EQUIPMENT,
        PARTS,
        CHECKLIST_TEMPLATES,
        KB_ARTICLES,
        VAN_STOCK,
    )
}
# Tables whose rows hang off a work order: they follow it into and out of a device.
CHILDREN_OF_ORDERS = (
    "work_order_notes",
    "status_events",
    "check_ins",
    "work_order_photos",
    "part_usages",
)
REFERENCE = ("customers", "sites", "equipment")
# Tenant-wide lists every device holds while active.
CATALOGUE = ("parts", "checklist_templates")

# WatermelonDB stamps these itself on every local edit (@readonly @date fields) and lists
# them in _changed; they are bookkeeping, not edits: ignored on push, without a log entry.
CLIENT_BOOKKEEPING = frozenset({"created_at", "updated_at"})

SCHEMA_VERSION = 2
MIN_SCHEMA_VERSION = 1


def tables_at(version: int) -> list[str]:
    """The synced tables an app on this schema version has."""
    return [name for name, policy in POLICIES.items() if policy.since <= version]


@dataclass(frozen=True)
class Migration:
    """What an app gained between two schema versions (WatermelonDB's migration syncs)."""

    tables: frozenset[str]
    columns: Mapping[str, frozenset[str]]


def added_between(old: int, new: int) -> Migration:
    """Tables and columns added after schema version ``old`` up to ``new``."""
    tables = frozenset(n for n, p in POLICIES.items() if old < p.since <= new)
    columns = {
        name: frozenset(c for c, spec in policy.columns.items() if old < spec.since <= new)
        for name, policy in POLICIES.items()
        if name not in tables
    }
    return Migration(tables, {name: cols for name, cols in columns.items() if cols})
