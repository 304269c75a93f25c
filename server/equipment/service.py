"""Equipment: listing, reading, writing with configuration revisions, and service history."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session, selectinload

from server.auth.principal import Principal
from server.customers.models import Site
from server.customers.service import (
    equipment_visible_to,
    load_visible,
    orders_visible_to,
    unknown,
)
from server.db import utcnow
from server.equipment.models import Equipment, EquipmentConfigRevision
from server.errors import Conflict, ValidationFailed
from server.http import apply_sort, paginate, text_search
from server.parts.models import Part, PartUsage
from server.tenants.service import tenant_zone
from server.work_orders.models import WorkOrder, WorkOrderEvent

EQUIPMENT_SORTS = {
    "name": func.lower(Equipment.name),
    "install_date": Equipment.install_date,
    "warranty_end": Equipment.warranty_end,
}
_PLAIN_FIELDS = ("name", "category", "manufacturer", "model", "serial_number", "status")
_DATE_FIELDS = ("install_date", "warranty_end")


def _tenant_today(db_session: Session, tenant_id: uuid.UUID) -> dt.date:
    return utcnow().astimezone(tenant_zone(db_session, tenant_id)).date()


def list_equipment(
    *, db_session: Session, principal: Principal, args: dict[str, Any], pagination: Any
) -> list[Any]:
    """One page of equipment, filtered by place, kind, status, warranty and text."""
    stmt = select(Equipment)
    for key in ("site_id", "customer_id", "model", "category", "status"):
        if key in args:
            stmt = stmt.where(getattr(Equipment, key) == args[key])
    if "warranty" in args:
        today = _tenant_today(db_session, principal.tenant_id)
        if args["warranty"] == "active":
            stmt = stmt.where(Equipment.warranty_end >= today)
        else:
            stmt = stmt.where(Equipment.warranty_end < today)
    stmt = text_search(stmt, args.get("q"), Equipment.name, Equipment.serial_number)
    stmt = apply_sort(
        stmt, args.get("sort"), EQUIPMENT_SORTS, [EQUIPMENT_SORTS["name"]], Equipment.id
    )
    return paginate(stmt, pagination)


def get_equipment(
    *, db_session: Session, principal: Principal, equipment_id: uuid.UUID, with_children: bool
) -> Equipment:
    """A unit the caller may see, optionally with its direct components loaded."""
    options = [selectinload(Equipment.children)] if with_children else []
    return load_visible(
        db_session,
        Equipment,
        equipment_id,
        where=equipment_visible_to(principal),
        what="equipment",
        options=options,
    )


def _subtree_ids(db_session: Session, root_id: uuid.UUID) -> set[uuid.UUID]:
    """The unit and every component below it, in one recursive query."""
    tree = select(Equipment.id).where(Equipment.id == root_id).cte("subtree", recursive=True)
    # UNION (not UNION ALL) terminates even if bad data ever forms a parent cycle.
    tree = tree.union(select(Equipment.id).join(tree, Equipment.parent_id == tree.c.id))
    return set(db_session.scalars(select(tree.c.id)))


def _site_or_422(db_session: Session, site_id: uuid.UUID) -> Site:
    site = db_session.get(Site, site_id)
    if site is None:
        raise unknown("site_id", f"No site with id {site_id}.", "unknown_site")
    return site


def _check_parent(
    db_session: Session,
    parent_id: uuid.UUID,
    *,
    site_id: uuid.UUID,
    subtree: Collection[uuid.UUID] = (),
) -> None:
    if parent_id in subtree:
        raise ValidationFailed(
            "A unit cannot sit below itself or one of its own components.",
            code="equipment_cycle",
            errors={"json": {"parent_id": ["Would create a cycle."]}},
        )
    parent = db_session.get(Equipment, parent_id)
    if parent is None:
        raise unknown("parent_id", f"No equipment with id {parent_id}.", "unknown_parent")
    if parent.site_id != site_id:
        raise ValidationFailed(
            "The parent unit is at another site.",
            code="parent_site_mismatch",
            errors={"json": {"parent_id": ["Must be at the same site."]}},
        )


def _check_serial_free(
    db_session: Session, manufacturer: str, serial: str, *, exclude: uuid.UUID | None
) -> None:
    stmt = select(Equipment.id).where(
        Equipment.manufacturer == manufacturer, Equipment.serial_number == serial
    )
    if exclude is not None:
        stmt = stmt.where(Equipment.id != exclude)
    if db_session.scalar(stmt) is not None:
        raise Conflict(
            f"{manufacturer} serial number '{serial}' is already registered.",
            code="duplicate_serial",
        )


def _record_revision(
    db_session: Session,
    equipment: Equipment,
    *,
    actor_id: uuid.UUID,
    reason: str | None = None,
    work_order_id: uuid.UUID | None = None,
) -> None:
    db_session.add(
        EquipmentConfigRevision(
            equipment_id=equipment.id,
            revision=equipment.config_revision,
            configuration=copy.deepcopy(equipment.configuration),
            changed_by_id=actor_id,
            changed_at=utcnow(),
            reason=reason,
            work_order_id=work_order_id,
        )
    )


def record_part_swap(
    db_session: Session,
    *,
    equipment: Equipment,
    part: Any,
    installed: list[str],
    removed: list[str],
    actor_id: uuid.UUID,
    work_order_id: uuid.UUID | None,
    at: dt.datetime,
) -> None:
    """Serialised parts fitted into or taken out of a unit: a new configuration revision.

    The configuration keeps ``installed_parts`` (part, SKU, serial, when, which order), so
    the unit's history answers "which board is in there, since when".
    """
    if not installed and not removed:
        return
    config = copy.deepcopy(equipment.configuration or {})
    fitted = [
        p
        for p in config.get("installed_parts", [])
        if not (p.get("part_id") == str(part.id) and p.get("serial") in removed)
    ]
    for serial in installed:
        fitted.append(
            {
                "part_id": str(part.id),
                "sku": part.sku,
                "serial": serial,
                "installed_at": at.isoformat(),
                "work_order_id": str(work_order_id) if work_order_id else None,
            }
        )
    config["installed_parts"] = fitted
    equipment.configuration = config
    equipment.config_revision += 1
    words = []
    if installed:
        words.append(f"installed {part.sku} {', '.join(installed)}")
    if removed:
        words.append(f"removed {part.sku} {', '.join(removed)}")
    _record_revision(
        db_session,
        equipment,
        actor_id=actor_id,
        reason="Parts: " + "; ".join(words),
        work_order_id=work_order_id,
    )


def create_equipment(
    *, db_session: Session, principal: Principal, data: dict[str, Any]
) -> Equipment:
    """Register a unit at a site (customer from the site); its configuration is revision 1."""
    site = _site_or_422(db_session, data["site_id"])
    if data.get("parent_id") is not None:
        _check_parent(db_session, data["parent_id"], site_id=site.id)
    _check_serial_free(db_session, data["manufacturer"], data["serial_number"], exclude=None)
    equipment = Equipment(
        site_id=site.id,
        customer_id=site.customer_id,
        parent_id=data.get("parent_id"),
        configuration=data["configuration"],
        config_revision=1,
        **{key: data[key] for key in _PLAIN_FIELDS},
        **{key: data.get(key) for key in _DATE_FIELDS},
    )
    db_session.add(equipment)
    db_session.flush()  # the revision row references the new unit
    _record_revision(db_session, equipment, actor_id=principal.user_id)
    db_session.commit()
    return equipment


def update_equipment(
    *, db_session: Session, principal: Principal, equipment: Equipment, data: dict[str, Any]
) -> Equipment:
    """Change a unit; a site move carries its components, a new configuration is a revision."""
    site_id = data.get("site_id", equipment.site_id)
    site = _site_or_422(db_session, site_id) if site_id != equipment.site_id else None
    parent_id = data.get("parent_id", equipment.parent_id)
    subtree: set[uuid.UUID] = set()
    if site is not None or parent_id != equipment.parent_id:
        subtree = _subtree_ids(db_session, equipment.id)
        if parent_id is not None:
            _check_parent(db_session, parent_id, site_id=site_id, subtree=subtree)

    install = data.get("install_date", equipment.install_date)
    warranty = data.get("warranty_end", equipment.warranty_end)
    if install is not None and warranty is not None and warranty < install:
        message = "warranty_end must not be before install_date."
        raise ValidationFailed(message, errors={"json": {"warranty_end": [message]}})

    manufacturer = data.get("manufacturer", equipment.manufacturer)
    serial = data.get("serial_number", equipment.serial_number)
    if (manufacturer, serial) != (equipment.manufacturer, equipment.serial_number):
        _check_serial_free(db_session, manufacturer, serial, exclude=equipment.id)

    work_order_id = data.get("config_change_work_order_id")
    if work_order_id is not None and db_session.get(WorkOrder, work_order_id) is None:
        raise unknown(
            "config_change_work_order_id",
            f"No work order with id {work_order_id}.",
            "unknown_work_order",
        )

    for key in (*_PLAIN_FIELDS, *_DATE_FIELDS):
        if key in data:
            setattr(equipment, key, data[key])
    equipment.parent_id = parent_id
    if site is not None:
        equipment.site_id, equipment.customer_id = site.id, site.customer_id
        components = subtree - {equipment.id}
        if components:
            db_session.execute(
                update(Equipment)
                .where(Equipment.id.in_(components))
                .values(site_id=site.id, customer_id=site.customer_id)
            )
    if "configuration" in data and data["configuration"] != equipment.configuration:
        equipment.configuration = data["configuration"]
        equipment.config_revision += 1
        _record_revision(
            db_session,
            equipment,
            actor_id=principal.user_id,
            reason=data.get("config_change_reason"),
            work_order_id=work_order_id,
        )
    db_session.commit()
    return equipment


def list_config_revisions(
    *, db_session: Session, principal: Principal, equipment_id: uuid.UUID, pagination: Any
) -> list[Any]:
    """One page of a unit's configuration revisions, newest first."""
    equipment = get_equipment(
        db_session=db_session, principal=principal, equipment_id=equipment_id, with_children=False
    )
    stmt = (
        select(EquipmentConfigRevision)
        .where(EquipmentConfigRevision.equipment_id == equipment.id)
        .order_by(EquipmentConfigRevision.revision.desc())
    )
    return paginate(stmt, pagination)


# --- history ----------------------------------------------------------------------------


def _kind(name: str) -> Any:
    return literal_column(f"'{name}'", String).label("kind")


def _timeline(units: Collection[uuid.UUID], visible: list[ColumnElement[bool]]) -> Select[Any]:
    """(kind, id, at) of every history entry of the units, newest first."""
    orders = select(WorkOrder.id).where(WorkOrder.equipment_id.in_(units), *visible)
    usage_scope = or_(PartUsage.equipment_id.in_(units), PartUsage.work_order_id.in_(orders))
    usage_where = [usage_scope]
    if visible:
        usage_where.append(PartUsage.work_order_id.in_(select(WorkOrder.id).where(*visible)))
    timeline = union_all(
        select(_kind("work_order"), WorkOrder.id, WorkOrder.created_at.label("at")).where(
            WorkOrder.equipment_id.in_(units), *visible
        ),
        select(_kind("event"), WorkOrderEvent.id, WorkOrderEvent.occurred_at).where(
            WorkOrderEvent.work_order_id.in_(orders)
        ),
        select(_kind("part_usage"), PartUsage.id, PartUsage.used_at).where(*usage_where),
        select(
            _kind("config_revision"),
            EquipmentConfigRevision.id,
            EquipmentConfigRevision.changed_at,
        ).where(EquipmentConfigRevision.equipment_id.in_(units)),
    ).subquery("timeline")
    return select(timeline.c.kind, timeline.c.id, timeline.c.at).order_by(
        timeline.c.at.desc(), timeline.c.kind, timeline.c.id
    )


def _order_entries(db_session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    rows = db_session.execute(
        select(
            WorkOrder.id,
            WorkOrder.number,
            WorkOrder.title,
            WorkOrder.status,
            WorkOrder.order_type,
            WorkOrder.created_at,
            WorkOrder.equipment_id,
        ).where(WorkOrder.id.in_(ids))
    )
    return {
        r.id: {
            "at": r.created_at,
            "equipment_id": r.equipment_id,
            "work_order_id": r.id,
            "work_order_number": r.number,
            "title": r.title,
            "status": r.status,
            "order_type": r.order_type,
            "created_at": r.created_at,
        }
        for r in rows
    }


def _event_entries(db_session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    rows = db_session.execute(
        select(
            WorkOrderEvent.id,
            WorkOrderEvent.event_type,
            WorkOrderEvent.from_status,
            WorkOrderEvent.to_status,
            WorkOrderEvent.occurred_at,
            WorkOrderEvent.actor_user_id,
            WorkOrderEvent.work_order_id,
            WorkOrder.number,
            WorkOrder.equipment_id,
        )
        .join(WorkOrder, WorkOrder.id == WorkOrderEvent.work_order_id)
        .where(WorkOrderEvent.id.in_(ids))
    )
    return {
        r.id: {
            "at": r.occurred_at,
            "equipment_id": r.equipment_id,
            "work_order_id": r.work_order_id,
            "work_order_number": r.number,
            "event_type": r.event_type,
            "from_status": r.from_status,
            "to_status": r.to_status,
            "occurred_at": r.occurred_at,
            "actor_user_id": r.actor_user_id,
        }
        for r in rows
    }


def _usage_entries(db_session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    rows = db_session.execute(
        select(
            PartUsage.id,
            PartUsage.part_id,
            PartUsage.quantity,
            PartUsage.serial_numbers,
            PartUsage.used_at,
            PartUsage.work_order_id,
            PartUsage.equipment_id,
            Part.sku,
            Part.name,
            WorkOrder.number,
            WorkOrder.equipment_id.label("order_equipment_id"),
        )
        .join(Part, Part.id == PartUsage.part_id)
        .join(WorkOrder, WorkOrder.id == PartUsage.work_order_id)
        .where(PartUsage.id.in_(ids))
    )
    return {
        r.id: {
            "at": r.used_at,
            "equipment_id": r.equipment_id or r.order_equipment_id,
            "work_order_id": r.work_order_id,
            "work_order_number": r.number,
            "part_id": r.part_id,
            "part_sku": r.sku,
            "part_name": r.name,
            "quantity": r.quantity,
            "serial_numbers": r.serial_numbers,
            "used_at": r.used_at,
        }
        for r in rows
    }


def _revision_entries(db_session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    rows = db_session.execute(
        select(EquipmentConfigRevision, WorkOrder.number)
        .outerjoin(WorkOrder, WorkOrder.id == EquipmentConfigRevision.work_order_id)
        .where(EquipmentConfigRevision.id.in_(ids))
    )
    return {
        rev.id: {
            "at": rev.changed_at,
            "equipment_id": rev.equipment_id,
            "work_order_id": rev.work_order_id,
            "work_order_number": number,
            "revision": rev.revision,
            "configuration": rev.configuration,
            "changed_by_id": rev.changed_by_id,
            "changed_at": rev.changed_at,
            "reason": rev.reason,
        }
        for rev, number in rows
    }


_DETAILS = {
    "work_order": _order_entries,
    "event": _event_entries,
    "part_usage": _usage_entries,
    "config_revision": _revision_entries,
}


def equipment_history(
    *,
    db_session: Session,
    principal: Principal,
    equipment_id: uuid.UUID,
    include_children: bool,
    pagination: Any,
) -> list[dict[str, Any]]:
    """One page of a unit's history (orders, events, parts, config), newest first.

    A fixed number of queries whatever the page holds: the unit, (its subtree), count,
    the page of (kind, id, at), then one detail query per kind present on the page.
    Technicians see only the entries of work orders they lead or help on.
    """
    equipment = get_equipment(
        db_session=db_session, principal=principal, equipment_id=equipment_id, with_children=False
    )
    units = _subtree_ids(db_session, equipment.id) if include_children else {equipment.id}
    page = paginate(_timeline(units, orders_visible_to(principal)), pagination, rows=True)
    ids_by_kind: dict[str, list[uuid.UUID]] = {}
    for row in page:
        ids_by_kind.setdefault(row.kind, []).append(row.id)
    details = {kind: _DETAILS[kind](db_session, ids) for kind, ids in ids_by_kind.items()}
    return [
        {"kind": row.kind, "id": row.id, **details[row.kind][row.id]}
        for row in page
        if row.id in details[row.kind]
    ]
