"""The SQLAlchemy implementation of the sync engine's Store port (one push = one transaction)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from geo import Point, haversine_m
from geo.sql import point_from_element
from server.auth.principal import Principal
from server.blobs.models import Blob
from server.customers.models import Site
from server.db import utcnow
from server.equipment.models import Equipment
from server.errors import DomainError
from server.parts.models import Part
from server.stock.service import consume_from_field
from server.sync import changelog
from server.sync.models import SyncChange, SyncConflict, SyncCounter, SyncScopeExit
from server.sync.wire import MODELS, from_ms, from_wire, to_wire
from server.work_orders.models import WorkOrder
from server.work_orders.scope import assigned_to
from server.work_orders.service import apply_transition
from sync.engine import ConflictEntry, PushContext
from sync.policy import POLICIES
from workflow.lifecycle import Role


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _three_decimals(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (abs(value * 1000 - round(value * 1000)) < 1e-6 and abs(value) < 1e9)
    )


def _serial_list(raw: Any) -> bool:
    if raw is None:
        return True
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return False
    return isinstance(value, list) and all(
        isinstance(s, str) and 0 < len(s.strip()) <= 100 for s in value
    )


def _usage_problem(row: dict[str, Any]) -> str | None:
    """Shape rules of a parts-usage row (the ledger accepts any stock outcome, not any data)."""
    quantity: Any = row.get("quantity")
    if not _three_decimals(quantity) or quantity <= 0:
        return "quantity must be positive, with at most three decimals"
    removed: Any = row.get("removed_quantity")
    if removed is not None and (not _three_decimals(removed) or removed < 0):
        return "removed_quantity must be zero or positive, with at most three decimals"
    for column in ("serial_numbers", "removed_serial_numbers"):
        if not _serial_list(row.get(column)):
            return f"{column} must be a JSON list of serial numbers (1-100 characters)"
    return None


class SqlStore:
    """Reads and writes synced rows through the tenant-scoped session."""

    def __init__(self, db_session: Session, principal: Principal, geofence_m: float) -> None:
        self.s = db_session
        self.principal = principal
        self.geofence_m = geofence_m
        self._orders: dict[uuid.UUID, bool] = {}
        self._order_checks: dict[uuid.UUID, str | None] = {}
        self._pruned: int | None = None
        # Rows of this push by (table, id), including ones inserted but not yet flushed.
        self._cache: dict[tuple[str, uuid.UUID], Any] = {}
        self._deleted: dict[tuple[str, uuid.UUID], bool] = {}

    # -- reads -------------------------------------------------------------------------
    def prefetch(self, table: str, row_ids: list[str]) -> None:
        """Load rows and tombstones of one table in two queries."""
        idents = {i for i in (_uuid(r) for r in row_ids) if i is not None}
        if not idents:
            return
        model = MODELS[table]
        found = {row.id: row for row in self.s.scalars(select(model).where(model.id.in_(idents)))}
        deleted = set(
            self.s.scalars(
                select(SyncChange.row_id).where(
                    SyncChange.table_name == table,
                    SyncChange.row_id.in_(idents),
                    SyncChange.op == "delete",
                )
            )
        )
        for ident in idents:
            self._cache[(table, ident)] = found.get(ident)
            self._deleted[(table, ident)] = ident in deleted

    def _row(self, table: str, row_id: str) -> Any:
        ident = _uuid(row_id)
        if ident is None:
            return None
        key = (table, ident)
        if key not in self._cache:
            self._cache[key] = self.s.get(MODELS[table], ident)
        return self._cache[key]

    def load(self, table: str, row_id: str) -> dict[str, Any] | None:
        """Current device-visible values of a row."""
        row = self._row(table, row_id)
        return None if row is None else to_wire(table, row)

    def was_deleted(self, table: str, row_id: str) -> bool:
        """A delete of this row is in the change log."""
        ident = _uuid(row_id)
        if ident is None:
            return False
        if (table, ident) in self._deleted:
            return self._deleted[(table, ident)]
        return bool(
            self.s.scalar(
                select(
                    exists().where(
                        SyncChange.table_name == table,
                        SyncChange.row_id == ident,
                        SyncChange.op == "delete",
                    )
                )
            )
        )

    def _ever_assigned(self, order_id: uuid.UUID) -> bool:
        """Assigned now, or at some point (offline work done before a reassignment counts)."""
        if order_id not in self._orders:
            tech = self.principal.technician_id
            now = self.s.scalar(select(exists().where(WorkOrder.id == order_id, assigned_to(tech))))
            before = self.s.scalar(
                select(
                    exists().where(
                        SyncScopeExit.work_order_id == order_id, SyncScopeExit.technician_id == tech
                    )
                )
            )
            self._orders[order_id] = bool(now or before)
        return self._orders[order_id]

    def _order_problem(self, order_id: Any) -> str | None:
        ident = _uuid(order_id)
        if ident is None:
            return "unknown work order"
        if ident not in self._order_checks:
            # Checked once per order per push; no_autoflush keeps pending inserts of this
            # push from being flushed by every lookup.
            with self.s.no_autoflush:
                if self.s.get(WorkOrder, ident) is None:
                    problem: str | None = "unknown work order"
                elif not self._ever_assigned(ident):
                    problem = "work order not assigned to you"
                else:
                    problem = None
            self._order_checks[ident] = problem
        return self._order_checks[ident]

    def check_update(self, table: str, row_id: str, ctx: PushContext) -> str | None:
        """Devices may touch only rows of orders they are (or were) assigned to."""
        row = self._row(table, row_id)
        order_id = row.id if table == "work_orders" else row.work_order_id
        return self._order_problem(order_id)

    def check_insert(self, table: str, row: dict[str, Any], ctx: PushContext) -> str | None:
        """Ids must parse, references must exist in the tenant and belong to the technician."""
        if _uuid(row["id"]) is None:
            return "id must be a UUID"
        problem = self._order_problem(row.get("work_order_id"))
        if problem:
            return problem
        if table == "part_usages":
            part = _uuid(row.get("part_id"))
            if part is None or self.s.get(Part, part) is None:
                return "unknown part"
            if row.get("equipment_id") is not None:
                unit = _uuid(row["equipment_id"])
                if unit is None or self.s.get(Equipment, unit) is None:
                    return "unknown equipment"
            problem = _usage_problem(row)
            if problem:
                return problem
        if table == "work_order_photos":
            digest = str(row.get("blob_sha256") or "")
            # A share lock until the push commits: the orphan GC (server/blobs/gc.py) cannot
            # delete the blob between this check and the photo row's insert.
            blob = self.s.get(
                Blob,
                (self.principal.tenant_id, digest),
                with_for_update={"read": True, "key_share": True},
            )
            if blob is None:
                return "photo bytes not uploaded yet (PUT /api/v1/blobs/{sha256} first)"
        if table == "check_ins" and row.get("kind") not in ("in", "out"):
            return "kind must be 'in' or 'out'"
        if table in ("check_ins", "status_events", "work_order_photos"):
            lat, lon = row.get("lat"), row.get("lon")
            if (lat is None) != (lon is None):
                return "lat and lon come together"
            if (
                lat is not None
                and lon is not None
                and not (-90 <= lat <= 90 and -180 <= lon <= 180)
            ):
                return "position outside the Earth"
        if table == "work_order_notes" and row.get("corrects_id") is not None:
            if _uuid(row["corrects_id"]) is None:
                return "corrects_id must be a UUID"
        return None

    def changed_since(
        self, table: str, row_id: str, cursor: int | None, device_id: str
    ) -> set[str]:
        """Columns others changed after the cursor (unsequenced = after every cursor)."""
        ident = _uuid(row_id)
        if cursor is not None and cursor < self._pruned_through():
            # History before this base is gone: assume every column changed, so each
            # same-field case is logged instead of silently decided.
            return set(POLICIES[table].columns)
        stmt = select(SyncChange.columns).where(
            SyncChange.table_name == table,
            SyncChange.row_id == ident,
            or_(SyncChange.origin_device.is_(None), SyncChange.origin_device != device_id),
        )
        if cursor is not None:
            stmt = stmt.where(or_(SyncChange.seq.is_(None), SyncChange.seq > cursor))
        columns: set[str] = set()
        for cols in self.s.scalars(stmt):
            columns.update(cols or [])
        return columns

    def _pruned_through(self) -> int:
        if self._pruned is None:
            counter = self.s.get(SyncCounter, self.principal.tenant_id)
            self._pruned = counter.pruned_through if counter else 0
        return self._pruned

    # -- writes ------------------------------------------------------------------------
    def insert(self, table: str, row: dict[str, Any], ctx: PushContext) -> None:
        """Create a field record from device values, stamped with who and when."""
        model = MODELS[table]
        policy = POLICIES[table]
        values = {
            c: from_wire(table, c, v) for c, v in row.items() if c != "id" and policy.writable(c)
        }
        obj = model(id=uuid.UUID(row["id"]), tenant_id=self.principal.tenant_id, **values)
        if table == "part_usages":
            obj.technician_id = self.principal.technician_id
        else:
            obj.created_by_id = self.principal.user_id
            obj.device_id = ctx.device_id
        obj.recorded_at = utcnow()
        if table == "check_ins":
            self._geofence(obj)
        if table == "status_events":
            obj.outcome = "pending"
        self.s.add(obj)
        # No flush per row: a push's inserts go out together at the next flush.
        self._cache[(table, obj.id)] = obj
        if table == "part_usages":
            # Same transaction as the usage row: the ledger and the record land together.
            consume_from_field(self.s, usage=obj, actor_id=self.principal.user_id)

    def _geofence(self, check_in: Any) -> None:
        order = self.s.get(WorkOrder, check_in.work_order_id)
        site = self.s.get(Site, order.site_id) if order else None
        center = point_from_element(site.location) if site else None
        if center is None:
            return
        distance = haversine_m(center, Point(check_in.lat, check_in.lon))
        check_in.distance_m = round(distance, 1)
        # A fix is inside when its uncertainty circle reaches the fence (capped, so a
        # useless 5 km fix cannot vouch for presence).
        slack = min(check_in.accuracy_m or 0.0, self.geofence_m)
        check_in.within_geofence = distance <= self.geofence_m + slack

    def update(self, table: str, row_id: str, values: dict[str, Any], ctx: PushContext) -> None:
        """Write merged device values onto the row."""
        row = self._row(table, row_id)
        for column, value in values.items():
            setattr(row, column, from_wire(table, column, value))
        if hasattr(row, "updated_at"):
            row.updated_at = utcnow()
        self.s.flush()

    def touch(self, table: str, row_id: str, ctx: PushContext) -> None:
        """Make the next pull re-send this row to correct the device."""
        self._touch(table, row_id, None)

    def restore(self, table: str, row_id: str, ctx: PushContext) -> None:
        """The device deleted its copy of a row the server keeps: send it back as created."""
        self._touch(table, row_id, ctx.device_id)

    def _touch(self, table: str, row_id: str, restore_for: str | None) -> None:
        row = self._row(table, row_id)
        order_id = row.id if table == "work_orders" else getattr(row, "work_order_id", None)
        changelog.touch(
            self.s,
            table,
            uuid.UUID(row_id),
            self.principal.tenant_id,
            work_order_id=order_id,
            restore_for=restore_for,
        )

    def apply_status_event(self, row: dict[str, Any], ctx: PushContext) -> tuple[str, str | None]:
        """Run the event through the same lifecycle as the REST API; never fails the push."""
        event = self._row("status_events", row["id"])
        order = self.s.get(WorkOrder, uuid.UUID(row["work_order_id"]))
        if order is None or event is None:
            return "rejected", "unknown_work_order"
        if order.status == row["to_status"]:
            outcome: tuple[str, str | None] = ("rejected", "superseded")
        elif not self.s.scalar(
            select(
                exists().where(WorkOrder.id == order.id, assigned_to(self.principal.technician_id))
            )
        ):
            outcome = ("rejected", "reassigned")
        else:
            data: dict[str, Any] = {
                "to": row["to_status"],
                "occurred_at": from_ms(row["occurred_at"]),
            }
            for key in ("resolution_summary", "hold_reason", "reason"):
                if row.get(key):
                    data[key] = row[key]
            if row.get("lat") is not None:
                data["location"] = {"lat": row["lat"], "lon": row["lon"]}
                data["accuracy_m"] = row.get("accuracy_m")
            principal = Principal(
                self.principal.user_id,
                self.principal.tenant_id,
                Role.TECHNICIAN,
                self.principal.technician_id,
            )
            try:
                with self.s.begin_nested():
                    apply_transition(
                        db_session=self.s,
                        principal=principal,
                        order=order,
                        data=data,
                        source_event=row["id"],
                    )
                outcome = ("applied", None)
            except DomainError as exc:
                outcome = ("rejected", exc.code)
        event.outcome, event.outcome_code = outcome
        self.s.flush()
        return outcome

    def log_conflict(self, entry: ConflictEntry, ctx: PushContext) -> None:
        """Keep the losing value for a dispatcher to review."""
        self.s.add(
            SyncConflict(
                tenant_id=self.principal.tenant_id,
                table_name=entry.table,
                row_id=_uuid(entry.row_id) or uuid.UUID(int=0),
                column=entry.column,
                kind=entry.kind,
                kept=entry.kept,
                server_value=entry.server_value,
                device_value=entry.device_value,
                detail=entry.detail,
                user_id=self.principal.user_id,
                device_id=ctx.device_id,
            )
        )
