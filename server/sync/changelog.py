"""Record every write to a synced row in the change log, whatever path made it.

Hooked into the session's flush, so REST edits, sync pushes, seeding and scripts all feed
the same log: a device can never miss an office edit because some code path forgot to
report it. Assignment changes additionally write scope entries/exits per technician.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from server.customers.models import Customer, Site
from server.equipment.models import Equipment
from server.field.models import CheckIn, StatusEvent, WorkOrderNote, WorkOrderPhoto
from server.notifications.service import enqueue_tickles
from server.parts.models import Part, PartUsage
from server.sync.models import SyncChange, SyncScopeExit
from server.work_orders.models import WorkOrder, WorkOrderHelper

DEVICE_KEY = "sync_device_id"

SYNCED: dict[type, str] = {
    WorkOrder: "work_orders",
    Customer: "customers",
    Site: "sites",
    Equipment: "equipment",
    Part: "parts",
    PartUsage: "part_usages",
    WorkOrderNote: "work_order_notes",
    StatusEvent: "status_events",
    CheckIn: "check_ins",
    WorkOrderPhoto: "work_order_photos",
}
# Model attributes whose device-visible column has another name.
RENAMED = {"location": ("lat", "lon")}
IGNORED = {"version", "tenant_id", "id"}


def _columns(obj: Any, *, new: bool) -> list[str]:
    state = inspect(obj)
    names: list[str] = []
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in IGNORED:
            continue
        if new or state.attrs[key].history.has_changes():
            names.extend(RENAMED.get(key, (key,)))
    return sorted(names)


def _ensure_id(obj: Any) -> uuid.UUID:
    if getattr(obj, "id", None) is None:
        obj.id = uuid.uuid4()
    return obj.id  # type: ignore[no-any-return]


def _scope_moves(session: Session, order: WorkOrder, *, new: bool) -> list[SyncScopeExit]:
    """Technicians who gained or lost this order in this flush."""
    state = inspect(order)
    hist = state.attrs["lead_technician_id"].history
    before: set[uuid.UUID] = set()
    after: set[uuid.UUID] = set()
    if new:
        after = {order.lead_technician_id} if order.lead_technician_id else set()
        after |= {h.technician_id for h in order.helpers}
    else:
        old_lead = hist.deleted[0] if hist.deleted else order.lead_technician_id
        helpers_hist = state.attrs["helpers"].history
        current = {h.technician_id for h in order.helpers}
        removed = {h.technician_id for h in helpers_hist.deleted or ()}
        added = {h.technician_id for h in helpers_hist.added or ()}
        before = ({old_lead} if old_lead else set()) | (current - added) | removed
        after = ({order.lead_technician_id} if order.lead_technician_id else set()) | current
    moves = [
        SyncScopeExit(
            tenant_id=order.tenant_id, technician_id=tech, work_order_id=order.id, entered=False
        )
        for tech in before - after
    ]
    moves += [
        SyncScopeExit(
            tenant_id=order.tenant_id, technician_id=tech, work_order_id=order.id, entered=True
        )
        for tech in after - before
    ]
    return moves


def _helpers_changed(order: WorkOrder) -> bool:
    return bool(inspect(order).attrs["helpers"].history.has_changes())


@event.listens_for(Session, "before_flush")
def _record_changes(session: Session, flush_context: Any, instances: Any) -> None:
    device = session.info.get(DEVICE_KEY)
    records: list[Any] = []
    touched_orders: set[int] = set()

    def log(obj: Any, table: str, op: str, columns: Iterable[str]) -> None:
        records.append(
            SyncChange(
                tenant_id=obj.tenant_id,
                table_name=table,
                row_id=obj.id,
                op=op,
                columns=list(columns),
                origin_device=device,
            )
        )

    for obj in list(session.new):
        table = SYNCED.get(type(obj))
        if table is None:
            continue
        _ensure_id(obj)
        if obj.tenant_id is None:
            obj.tenant_id = session.info.get("tenant_id")
        log(obj, table, "insert", _columns(obj, new=True))
        if isinstance(obj, WorkOrder):
            touched_orders.add(id(obj))
            records.extend(_scope_moves(session, obj, new=True))
    for obj in list(session.dirty):
        table = SYNCED.get(type(obj))
        if table is None or not session.is_modified(obj, include_collections=True):
            continue
        columns = _columns(obj, new=False)
        if isinstance(obj, WorkOrder) and _helpers_changed(obj):
            columns.append("helper_ids")
        if not columns:
            continue
        log(obj, table, "update", sorted(set(columns)))
        if isinstance(obj, WorkOrder) and id(obj) not in touched_orders:
            records.extend(_scope_moves(session, obj, new=False))
    for obj in list(session.deleted):
        table = SYNCED.get(type(obj))
        if table is not None:
            log(obj, table, "delete", [])
    # Helper rows added/removed without touching the order still change its helper_ids.
    for obj in list(session.new) + list(session.deleted):
        # Rows added through order.helpers have no FK yet; their order is dirty already.
        if isinstance(obj, WorkOrderHelper) and obj.work_order_id is not None:
            order = session.get(WorkOrder, obj.work_order_id)
            if order is not None and order not in session.dirty and order not in session.new:
                log(order, "work_orders", "update", ["helper_ids"])
    session.add_all(records)
    enqueue_tickles(session, records)


def touch(session: Session, table: str, row_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    """Log a change without a write, so the next pull re-sends the row (corrections)."""
    session.add(
        SyncChange(
            tenant_id=tenant_id,
            table_name=table,
            row_id=row_id,
            op="update",
            columns=[],
            origin_device=None,
        )
    )
