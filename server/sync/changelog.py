"""Record every write to a synced row in the change log, whatever path made it.

Hooked into the session's flush, so REST edits, sync pushes, seeding and scripts all feed
the same log: a device can never miss an office edit because some code path forgot to
report it. Assignment changes additionally write scope entries/exits per technician.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from server.checklists.models import ChecklistTemplate
from server.customers.models import Customer, Site
from server.equipment.models import Equipment
from server.field.models import CheckIn, StatusEvent, WorkOrderNote, WorkOrderPhoto
from server.kb.models import KbArticle
from server.notifications.service import enqueue_tickles
from server.organization.models import Skill
from server.parts.models import Part, PartUsage
from server.sync.models import SyncChange, SyncScopeExit
from server.technicians.models import Technician, TechnicianSkill
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
    ChecklistTemplate: "checklist_templates",
    KbArticle: "kb_articles",
}
# Not a synced table: a technician's skill codes gained or lost, which decide the KB
# articles their devices hold. One entry per code, row_id = the technician.
SKILLS_LOG = "technician_skills"
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
                work_order_id=_order_of(obj),
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
    # A child deleted explicitly in the same flush as its order is logged once.
    explicit = {(SYNCED[type(o)], o.id) for o in session.deleted if type(o) in SYNCED}
    for obj in list(session.deleted):
        table = SYNCED.get(type(obj))
        if table is None:
            continue
        log(obj, table, "delete", [])
        if isinstance(obj, WorkOrder):
            # Its devices must drop it now, and its records with it (the database cascade
            # removes them without the ORM, so they are logged here by id).
            records.extend(_deleted_order_exits(obj))
            for child_table, child_id in _children_of(session, obj.id):
                if (child_table, child_id) in explicit:
                    continue
                records.append(
                    SyncChange(
                        tenant_id=obj.tenant_id,
                        table_name=child_table,
                        row_id=child_id,
                        op="delete",
                        columns=[],
                        origin_device=device,
                        work_order_id=obj.id,
                    )
                )
    # Helper rows added/removed without touching the order still change its helper_ids.
    for obj in list(session.new) + list(session.deleted):
        # Rows added through order.helpers have no FK yet; their order is dirty already.
        if isinstance(obj, WorkOrderHelper) and obj.work_order_id is not None:
            order = session.get(WorkOrder, obj.work_order_id)
            if order is not None and not (
                order in session.dirty or order in session.new or order in session.deleted
            ):
                log(order, "work_orders", "update", ["helper_ids"])
    records.extend(_skill_changes(session, device))
    session.add_all(records)
    enqueue_tickles(session, records)


def _skill_changes(session: Session, device: str | None) -> list[SyncChange]:
    """Skill codes technicians gained (insert) or lost (delete) in this flush."""
    found: dict[tuple[uuid.UUID, str], tuple[str, uuid.UUID | None]] = {}
    tenant = session.info.get("tenant_id")

    def note(technician_id: uuid.UUID | None, held: TechnicianSkill, op: str) -> None:
        skill = held.skill if "skill" in held.__dict__ else None
        if skill is None and held.skill_id is not None:
            with session.no_autoflush:
                skill = session.get(Skill, held.skill_id)
        if technician_id is not None and skill is not None:
            found.setdefault((technician_id, skill.code), (op, skill.tenant_id or tenant))

    for obj in list(session.dirty):
        if isinstance(obj, Technician):
            history = inspect(obj).attrs["skills"].history
            for held in history.added or ():
                note(obj.id, held, "insert")
            for held in history.deleted or ():
                note(obj.id, held, "delete")
    # Rows written directly (not through a technician's collection); a brand-new
    # technician has no device yet, so its first skills are no news.
    new_techs = {obj.id for obj in session.new if isinstance(obj, Technician)}
    for objects, op in ((session.new, "insert"), (session.deleted, "delete")):
        for held in list(objects):
            if isinstance(held, TechnicianSkill) and held.technician_id not in new_techs:
                note(held.technician_id, held, op)
    return [
        SyncChange(
            tenant_id=tenant_id,
            table_name=SKILLS_LOG,
            row_id=technician_id,
            op=op,
            columns=[code],
            origin_device=device,
        )
        for (technician_id, code), (op, tenant_id) in found.items()
    ]


def _order_of(obj: Any) -> uuid.UUID | None:
    if isinstance(obj, WorkOrder):
        return obj.id
    order_id = getattr(obj, "work_order_id", None)
    return order_id if isinstance(order_id, uuid.UUID) else None


def _deleted_order_exits(order: WorkOrder) -> list[SyncScopeExit]:
    """Every technician who held a deleted order loses it (the order row is gone)."""
    state = inspect(order)
    lead_hist = state.attrs["lead_technician_id"].history
    leads = set(lead_hist.unchanged or ()) | set(lead_hist.deleted or ())
    helpers = {h.technician_id for h in order.helpers}
    return [
        SyncScopeExit(
            tenant_id=order.tenant_id, technician_id=tech, work_order_id=order.id, entered=False
        )
        for tech in (leads | helpers) - {None}
    ]


def _children_of(session: Session, order_id: uuid.UUID) -> list[tuple[str, uuid.UUID]]:
    """Ids of the synced records hanging off an order, read before it is deleted."""
    found: list[tuple[str, uuid.UUID]] = []
    with session.no_autoflush:
        for model in (WorkOrderNote, StatusEvent, CheckIn, WorkOrderPhoto, PartUsage):
            ids = session.scalars(select(model.id).where(model.work_order_id == order_id))
            found.extend((SYNCED[model], row_id) for row_id in ids)
    return found


def touch(
    session: Session,
    table: str,
    row_id: uuid.UUID,
    tenant_id: uuid.UUID,
    *,
    work_order_id: uuid.UUID | None = None,
    restore_for: str | None = None,
) -> None:
    """Log a change without a write, so the next pull re-sends the row (corrections).

    ``restore_for`` names a device that deleted its copy (a refused delete): that device
    gets the row back as created, every other device as updated.
    """
    change = SyncChange(
        tenant_id=tenant_id,
        table_name=table,
        row_id=row_id,
        op="restore" if restore_for else "update",
        columns=[],
        origin_device=restore_for,
        work_order_id=work_order_id,
    )
    session.add(change)
    # A correction is news to the order's technicians like any other write: wake them.
    enqueue_tickles(session, [change])
