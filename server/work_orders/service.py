"""Work-order use cases: create, update, transition, list; each one transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from geo import BBox, GeoError, Point, bbox_around
from geo.sql import distance_m, point_element, within_bbox
from server.auth.principal import Principal
from server.checklists.models import ChecklistTemplate
from server.checklists.service import resolve_template, select_template
from server.collab import hooks as collab_hooks
from server.customers.models import Site
from server.db import system_scope, utcnow
from server.equipment.models import Equipment
from server.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from server.http import text_search
from server.routing.hooks import route_new_order
from server.sla import hooks as sla_hooks
from server.technicians.models import Technician
from server.tenants.models import Tenant
from server.work_orders.models import (
    PRIORITIES,
    WorkOrder,
    WorkOrderCounter,
    WorkOrderEvent,
    WorkOrderHelper,
)
from server.work_orders.scope import assigned_to, visible_orders
from workflow.lifecycle import (
    OPEN,
    PLANNERS,
    EditDecision,
    Effect,
    Role,
    Status,
    TransitionContext,
    allowed_targets,
    decide,
    decide_edit,
)

# Device clocks drift; beyond this an event "from the future" is a bug, not drift.
CLOCK_SKEW = dt.timedelta(minutes=5)
# Offline devices report events late, never (beyond clock drift) before the order existed.
CLOCK_SKEW_PAST = dt.timedelta(hours=1)
PATCHABLE = (
    "title",
    "description",
    "order_type",
    "priority",
    "category",
    "support_tier",
    "required_skills",
    "estimated_duration_minutes",
    "requested_start",
    "requested_end",
    "scheduled_start",
    "scheduled_end",
    "equipment_id",
    "lead_technician_id",
    "checklist_template_id",
    "team_queue",
    "tags",
    "contact",
    "requires_subtasks",
)
PAIRS = (("requested_start", "requested_end"), ("scheduled_start", "scheduled_end"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def get_order(*, db_session: Session, principal: Principal, order_id: uuid.UUID) -> WorkOrder:
    """One order the caller may see; others' (and other tenants') orders are 404."""
    stmt = select(WorkOrder).where(WorkOrder.id == order_id)
    scope = visible_orders(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    order = db_session.scalar(stmt)
    if order is None:
        raise NotFound(f"No work order with id {order_id}.")
    return order


def _tenant(db_session: Session, tenant_id: uuid.UUID) -> Tenant:
    with system_scope(db_session):
        tenant = db_session.get(Tenant, tenant_id)
    assert tenant is not None
    return tenant


def next_number(*, db_session: Session, tenant: Tenant, when: dt.datetime) -> str:
    """Issue the next WO-YYYY-NNNNNN for the tenant (year in the tenant's time zone)."""
    year = when.astimezone(ZoneInfo(tenant.timezone)).year
    bump = (
        update(WorkOrderCounter)
        .where(WorkOrderCounter.tenant_id == tenant.id, WorkOrderCounter.year == year)
        .values(last_value=WorkOrderCounter.last_value + 1)
        .returning(WorkOrderCounter.last_value)
        .execution_options(synchronize_session=False)
    )
    # The row lock taken by UPDATE serialises concurrent creators on PostgreSQL.
    value = db_session.execute(bump).scalar_one_or_none()
    if value is None:
        try:
            with db_session.begin_nested():
                db_session.add(WorkOrderCounter(tenant_id=tenant.id, year=year, last_value=1))
            value = 1
        except IntegrityError:  # another transaction created the year's row first
            value = db_session.execute(bump).scalar_one()
    return f"{tenant.order_prefix}-{year}-{value:06d}"


def _technicians(db_session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, Technician]:
    if not ids:
        return {}
    found = {t.id: t for t in db_session.scalars(select(Technician).where(Technician.id.in_(ids)))}
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        raise ValidationFailed(
            "Unknown technician.",
            code="unknown_technician",
            errors={"technicians": unknown},
        )
    inactive = [str(t.id) for t in found.values() if not t.active]
    if inactive:
        raise ValidationFailed(
            "Technician is inactive.", code="technician_inactive", errors={"technicians": inactive}
        )
    return found


def _check_skills(db_session: Session, required: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from server.organization.service import resolve_skill_codes

    resolve_skill_codes(db_session=db_session, codes=[r["skill"] for r in required])
    return [{"skill": r["skill"], "min_level": r.get("min_level", 1)} for r in required]


def _check_custom(db_session: Session, values: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    from server.organization.service import validate_custom_fields

    result: dict[str, Any] = validate_custom_fields(
        db_session=db_session, entity="work_order", values=values, partial=partial
    )
    return result


def _check_equipment(db_session: Session, equipment_id: uuid.UUID, site_id: uuid.UUID) -> None:
    equipment = db_session.get(Equipment, equipment_id)
    if equipment is None:
        raise ValidationFailed(
            "Unknown equipment.", code="unknown_equipment", errors={"equipment_id": ["Unknown."]}
        )
    if equipment.site_id != site_id:
        raise ValidationFailed(
            "The equipment is not installed at this site.",
            code="equipment_not_at_site",
            errors={"equipment_id": ["Not at the order's site."]},
        )


def _checklist_for_new_order(db_session: Session, data: dict[str, Any]) -> ChecklistTemplate | None:
    """The template sent (null: none), or when absent the best fit for type and equipment."""
    if "checklist_template_id" in data:
        template_id = data["checklist_template_id"]
        if template_id is None:
            return None
        return resolve_template(db_session=db_session, template_id=template_id)
    category = None
    if data.get("equipment_id"):
        equipment = db_session.get(Equipment, data["equipment_id"])  # checked just before
        category = equipment.category if equipment is not None else None
    return select_template(
        db_session=db_session, order_type=data["order_type"], equipment_category=category
    )


def _check_pairs(values: dict[str, Any]) -> None:
    errors = {
        end: [f"{end} must be after {start}."]
        for start, end in PAIRS
        if values.get(start) is not None
        and values.get(end) is not None
        and values[end] <= values[start]
    }
    if errors:
        raise ValidationFailed("A time window ends before it starts.", errors=errors)


def record_event(
    *,
    db_session: Session,
    order: WorkOrder,
    principal: Principal,
    event_type: str,
    from_status: str | None = None,
    to_status: str | None = None,
    payload: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
    location: Point | None = None,
    accuracy_m: float | None = None,
) -> WorkOrderEvent:
    """Append one history entry; the history is never updated or deleted."""
    now = utcnow()
    event = WorkOrderEvent(
        tenant_id=order.tenant_id,
        work_order_id=order.id,
        event_type=event_type,
        from_status=from_status,
        to_status=to_status,
        actor_user_id=principal.user_id,
        actor_role=principal.role.value,
        occurred_at=occurred_at or now,
        recorded_at=now,
        payload=payload or {},
        location=point_element(location) if location else None,
        location_accuracy_m=accuracy_m,
    )
    db_session.add(event)
    return event


def _check_parent(db_session: Session, parent_id: uuid.UUID) -> None:
    parent = db_session.get(WorkOrder, parent_id)
    if parent is None:
        raise ValidationFailed(
            "Unknown parent order.", code="unknown_parent", errors={"parent_id": ["Unknown."]}
        )
    if Status(parent.status) in {Status.CLOSED, Status.CANCELLED, Status.COMPLETED}:
        raise Conflict(f"A {parent.status} order cannot get new subtasks.", code="parent_not_open")


def create_work_order(
    *, db_session: Session, principal: Principal, data: dict[str, Any]
) -> WorkOrder:
    """Validate references and rules, number the order, write it and its first event."""
    if "id" in data:
        # Looked up across tenants: the answer must not depend on whose id it is.
        with system_scope(db_session):
            taken = db_session.scalar(select(WorkOrder.id).where(WorkOrder.id == data["id"]))
        if taken is not None:
            raise Conflict("A work order with this id exists.", code="duplicate_id")
    site = db_session.get(Site, data["site_id"])
    if site is None:
        raise ValidationFailed(
            "Unknown site.", code="unknown_site", errors={"site_id": ["Unknown."]}
        )
    customer_id = data.get("customer_id", site.customer_id)
    if customer_id != site.customer_id:
        raise ValidationFailed(
            "The site belongs to another customer.",
            code="site_customer_mismatch",
            errors={"customer_id": ["Does not own the site."]},
        )
    if data.get("equipment_id"):
        _check_equipment(db_session, data["equipment_id"], site.id)
    if data.get("parent_id"):
        _check_parent(db_session, data["parent_id"])
    # Rules may set category, priority, skills, queue, tags and the lead, so they run
    # before those are validated.
    data = route_new_order(db_session=db_session, principal=principal, data=data, site=site)
    helper_ids: list[uuid.UUID] = data.get("helper_ids") or []
    lead = data.get("lead_technician_id")
    if lead is not None and lead in helper_ids:
        raise ValidationFailed(
            "The lead cannot also be a helper.", errors={"helper_ids": ["Contains the lead."]}
        )
    _technicians(db_session, ([lead] if lead else []) + helper_ids)
    required = _check_skills(db_session, data.get("required_skills") or [])
    custom = _check_custom(db_session, data.get("custom_fields") or {}, partial=False)
    checklist = _checklist_for_new_order(db_session, data)
    now = utcnow()
    order = WorkOrder(
        id=data.get("id") or uuid.uuid4(),
        tenant_id=principal.tenant_id,
        number=next_number(
            db_session=db_session, tenant=_tenant(db_session, principal.tenant_id), when=now
        ),
        title=data["title"],
        description=data.get("description", ""),
        order_type=data["order_type"],
        priority=data.get("priority", "normal"),
        category=data.get("category"),
        support_tier=data.get("support_tier", "L2"),
        status=Status.NEW.value,
        channel=data.get("channel", "api"),
        required_skills=required,
        estimated_duration_minutes=data.get("estimated_duration_minutes", 60),
        requested_start=data.get("requested_start"),
        requested_end=data.get("requested_end"),
        scheduled_start=data.get("scheduled_start"),
        scheduled_end=data.get("scheduled_end"),
        customer_id=customer_id,
        site_id=site.id,
        equipment_id=data.get("equipment_id"),
        lead_technician_id=lead,
        location=site.location,
        custom_fields=custom,
        team_queue=data.get("team_queue"),
        tags=list(data.get("tags") or []),
        contact=dict(data.get("contact") or {}),
        parent_id=data.get("parent_id"),
        requires_subtasks=data.get("requires_subtasks", False),
        checklist_template_id=checklist.id if checklist else None,
        checklist_template=checklist,
        created_by_id=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    order.helpers = [
        WorkOrderHelper(tenant_id=principal.tenant_id, technician_id=h) for h in helper_ids
    ]
    db_session.add(order)
    db_session.flush()
    record_event(
        db_session=db_session,
        order=order,
        principal=principal,
        event_type="created",
        to_status=Status.NEW.value,
        payload={
            "channel": order.channel,
            "number": order.number,
            **({"routing": data["routing"]} if data.get("routing") else {}),
        },
        occurred_at=now,
    )
    sla_hooks.on_order_created(db_session=db_session, order=order, now=now)
    db_session.commit()
    return order


def _edit_error(code: str | None) -> DomainError:
    messages = {
        "order_closed": (Conflict, "A closed or cancelled order cannot be edited."),
        "planning_forbidden_for_role": (
            Forbidden,
            "Only dispatchers and admins assign and schedule.",
        ),
        "assignment_required": (
            ValidationFailed,
            "From 'scheduled' on an order needs a lead technician and a schedule.",
        ),
        "order_in_progress": (
            Conflict,
            "Someone is on site: put the order on hold before reassigning it.",
        ),
    }
    cls, message = messages.get(code or "", (ValidationFailed, "Edit refused."))
    return cls(message, code=code)


def _check_edit(
    order: WorkOrder, role: Role, changed: set[str], merged: dict[str, Any]
) -> EditDecision:
    decision = decide_edit(
        Status(order.status),
        role,
        frozenset(changed),
        lead_after=merged["lead_technician_id"] is not None,
        schedule_after=merged["scheduled_start"] is not None
        and merged["scheduled_end"] is not None,
        lead_changed="lead_technician_id" in changed,
    )
    if not decision.allowed:
        raise _edit_error(decision.code)
    return decision


def update_work_order(
    *, db_session: Session, principal: Principal, order: WorkOrder, data: dict[str, Any]
) -> WorkOrder:
    """Change fields (not status); every change is recorded with its old and new value."""
    if apply_update(db_session=db_session, principal=principal, order=order, data=data):
        db_session.commit()
    return order


def apply_update(
    *,
    db_session: Session,
    principal: Principal,
    order: WorkOrder,
    data: dict[str, Any],
    acting_role: Role | None = None,
    reason: str | None = None,
) -> bool:
    """``update_work_order`` without committing; True when anything changed.

    ``acting_role`` authorises the edit as that role while the history still names the
    principal (a claim from the order pool carries the publishing planner's authority).
    """
    if Status(order.status) in {Status.CLOSED, Status.CANCELLED}:
        raise Conflict(f"A {order.status} order cannot be edited.", code="order_closed")
    merged = {key: getattr(order, key) for key in PATCHABLE}
    merged.update({k: v for k, v in data.items() if k in PATCHABLE})
    _check_pairs(merged)
    if data.get("equipment_id"):
        _check_equipment(db_session, data["equipment_id"], order.site_id)
    if "required_skills" in data:
        data = {**data, "required_skills": _check_skills(db_session, data["required_skills"])}
    new_checklist = None
    if data.get("checklist_template_id") not in (None, order.checklist_template_id):
        new_checklist = resolve_template(
            db_session=db_session, template_id=data["checklist_template_id"]
        )
    lead = merged["lead_technician_id"]
    current_helpers = [h.technician_id for h in order.helpers]
    helper_ids = data.get("helper_ids", current_helpers)
    if lead is not None and lead in helper_ids:
        raise ValidationFailed(
            "The lead cannot also be a helper.", errors={"helper_ids": ["Contains the lead."]}
        )
    changed = {k for k in PATCHABLE if k in data and getattr(order, k) != data[k]}
    if "helper_ids" in data and sorted(map(str, helper_ids)) != sorted(map(str, current_helpers)):
        changed.add("helper_ids")
    decision = _check_edit(order, acting_role or principal.role, changed, merged)
    new_people = ([lead] if "lead_technician_id" in changed and lead else []) + (
        helper_ids if "helper_ids" in changed else []
    )
    _technicians(db_session, new_people)

    changes: dict[str, Any] = {}
    for key in PATCHABLE:
        if key in changed:
            changes[key] = {"from": _jsonable(getattr(order, key)), "to": _jsonable(data[key])}
            setattr(order, key, data[key])
    if "checklist_template_id" in changed:
        # Keep the loaded relationship in step with the id (the response reads it).
        order.checklist_template = new_checklist
    if "custom_fields" in data:
        # Only the keys sent are validated (older orders may hold values of fields since
        # retired); null removes a key.
        sent = {k: v for k, v in data["custom_fields"].items() if v is not None}
        normalized = _check_custom(db_session, sent, partial=True)
        combined = {**(order.custom_fields or {}), **normalized}
        combined = {
            k: v for k, v in combined.items() if data["custom_fields"].get(k, v) is not None
        }
        if combined != order.custom_fields:
            changes["custom_fields"] = {"from": order.custom_fields, "to": combined}
            order.custom_fields = combined
    if "helper_ids" in changed:
        changes["helper_ids"] = {
            "from": sorted(map(str, current_helpers)),
            "to": sorted(map(str, helper_ids)),
        }
        order.helpers = [
            WorkOrderHelper(tenant_id=order.tenant_id, technician_id=h) for h in helper_ids
        ]
    if not changes:
        return False
    order.updated_at = utcnow()
    sla_hooks.on_order_changed(
        db_session=db_session, order=order, changed=set(changes), now=order.updated_at
    )
    event_type = "assigned" if set(changes) & {"lead_technician_id", "helper_ids"} else "updated"
    record_event(
        db_session=db_session,
        order=order,
        principal=principal,
        event_type=event_type,
        payload={"changes": changes, **({"reason": reason} if reason else {})},
    )
    if decision.reset_to is not None:
        # The new lead has not accepted anything: back to scheduled, awaiting dispatch.
        previous = order.status
        order.status = decision.reset_to.value
        record_event(
            db_session=db_session,
            order=order,
            principal=principal,
            event_type="status_changed",
            from_status=previous,
            to_status=order.status,
            payload={"reason": "reassigned"},
        )
        sla_hooks.on_order_transition(
            db_session=db_session,
            order=order,
            source=Status(previous),
            target=Status(order.status),
            occurred_at=order.updated_at,
        )
    return True


def _context(
    order: WorkOrder, principal: Principal, data: dict[str, Any], role: Role | None = None
) -> TransitionContext:
    assignees = {order.lead_technician_id} | {h.technician_id for h in order.helpers}
    return TransitionContext(
        role=role or principal.role,
        has_lead_technician=order.lead_technician_id is not None,
        has_schedule=order.scheduled_start is not None and order.scheduled_end is not None,
        actor_is_assignee=principal.technician_id is not None
        and principal.technician_id in assignees,
        resolution_summary=data.get("resolution_summary"),
        hold_reason=data.get("hold_reason"),
        reason=data.get("reason"),
    )


def possible_transitions(*, order: WorkOrder, principal: Principal) -> list[dict[str, Any]]:
    """Every status reachable from here, whether the caller may do it, and what is missing."""
    ctx = _context(order, principal, {})
    result = []
    for target in sorted(allowed_targets(Status(order.status))):
        decision = decide(Status(order.status), target, ctx)
        result.append(
            {
                "to": target.value,
                "allowed": decision.allowed,
                "code": decision.code,
                "missing": sorted(m.value for m in decision.missing),
            }
        )
    return result


def transition(
    *, db_session: Session, principal: Principal, order: WorkOrder, data: dict[str, Any]
) -> WorkOrder:
    """Move an order through the lifecycle table; writes one status_changed event."""
    apply_transition(db_session=db_session, principal=principal, order=order, data=data)
    db_session.commit()
    return order


def apply_transition(
    *,
    db_session: Session,
    principal: Principal,
    order: WorkOrder,
    data: dict[str, Any],
    source_event: str | None = None,
    acting_role: Role | None = None,
) -> None:
    """The transition without committing (sync applies many in one push transaction);
    ``acting_role`` as in ``apply_update``."""
    role = acting_role or principal.role
    now = utcnow()
    occurred_at: dt.datetime = data.get("occurred_at") or now
    if occurred_at > now + CLOCK_SKEW:
        raise ValidationFailed(
            "occurred_at is in the future.",
            code="occurred_at_in_future",
            errors={"occurred_at": ["Later than the server clock allows."]},
        )
    source, target = Status(order.status), Status(data["to"])
    riders: dict[str, Any] = {}
    for key in ("lead_technician_id", "scheduled_start", "scheduled_end"):
        if key in data and getattr(order, key) != data[key]:
            riders[key] = {"from": _jsonable(getattr(order, key)), "to": _jsonable(data[key])}
    if occurred_at < order.created_at - CLOCK_SKEW_PAST:
        raise ValidationFailed(
            "occurred_at is before the order existed.",
            code="occurred_at_before_order",
            errors={"occurred_at": ["Earlier than the order's creation."]},
        )
    if riders:
        if role not in PLANNERS:
            raise Forbidden(
                "Only dispatchers and admins assign and schedule.",
                code="planning_forbidden_for_role",
            )
        if "lead_technician_id" in data:
            _technicians(db_session, [data["lead_technician_id"]])
            if data["lead_technician_id"] in order.helper_ids:
                raise ValidationFailed(
                    "The lead cannot also be a helper.",
                    errors={"lead_technician_id": ["Already a helper on this order."]},
                )
        merged = {k: data.get(k, getattr(order, k)) for k in ("scheduled_start", "scheduled_end")}
        merged.update({"requested_start": None, "requested_end": None})
        _check_pairs(merged)
        for key in riders:
            setattr(order, key, data[key])
    decision = decide(source, target, _context(order, principal, data, role))
    if not decision.allowed:
        _refuse(decision.code, source, target, sorted(m.value for m in decision.missing))
    collab_hooks.check_transition(db_session=db_session, order=order, target=target)
    if Effect.SET_ACTUAL_START in decision.effects and order.actual_start is None:
        order.actual_start = occurred_at
    if Effect.SET_ACTUAL_END in decision.effects:
        if order.actual_start is not None and occurred_at <= order.actual_start:
            raise ValidationFailed(
                "Completion must be after arrival.",
                code="occurred_at_before_start",
                errors={"occurred_at": ["Before actual_start."]},
            )
        order.actual_end = occurred_at
    if Effect.CLEAR_HOLD in decision.effects:
        order.hold_reason = None
    if Effect.CLEAR_COMPLETION in decision.effects:
        order.actual_start = order.actual_end = order.resolution_summary = None
    payload: dict[str, Any] = {}
    if target is Status.COMPLETED:
        order.resolution_summary = data["resolution_summary"]
        payload["resolution_summary"] = order.resolution_summary
    if target is Status.ON_HOLD:
        order.hold_reason = data["hold_reason"]
        payload["hold_reason"] = data["hold_reason"]
    if target is Status.CANCELLED:
        order.cancel_reason = data["reason"]
    if data.get("reason"):
        payload["reason"] = data["reason"]
    if riders:
        payload["changes"] = riders
    if source_event:
        payload["status_event_id"] = source_event
    order.status = target.value
    order.updated_at = now
    location = Point(**data["location"]) if data.get("location") else None
    record_event(
        db_session=db_session,
        order=order,
        principal=principal,
        event_type="status_changed",
        from_status=source.value,
        to_status=target.value,
        payload=payload,
        occurred_at=occurred_at,
        location=location,
        accuracy_m=data.get("accuracy_m"),
    )
    sla_hooks.on_order_transition(
        db_session=db_session, order=order, source=source, target=target, occurred_at=occurred_at
    )
    if target in (Status.CANCELLED, Status.CLOSED):
        # Imported here: the stock package builds on work-order services (a cycle otherwise).
        from server.stock.requisitions import release_for_order

        # Parts held for the job are free again (requisitions keep theirs until cancelled).
        release_for_order(db_session=db_session, work_order_id=order.id)


def _refuse(code: str | None, source: Status, target: Status, missing: list[str]) -> None:
    if code == "invalid_transition":
        raise Conflict(
            f"Cannot go from {source.value} to {target.value}.",
            code="invalid_transition",
            from_status=source.value,
            to_status=target.value,
            allowed=sorted(s.value for s in allowed_targets(source)),
        )
    if code in {"transition_forbidden_for_role", "not_assigned_to_order"}:
        raise Forbidden(f"You may not move this order to {target.value}.", code=code)
    raise ValidationFailed(
        f"Moving to {target.value} needs: {', '.join(missing)}.",
        code=code or "transition_requirements_missing",
        missing=missing,
    )


_PRIORITY_RANK = case({p: i for i, p in enumerate(PRIORITIES)}, value=WorkOrder.priority)
SORTABLE: dict[str, Any] = {
    "number": WorkOrder.number,
    "created_at": WorkOrder.created_at,
    "updated_at": WorkOrder.updated_at,
    "priority": _PRIORITY_RANK,
    "status": WorkOrder.status,
    "scheduled_start": WorkOrder.scheduled_start,
    "requested_start": WorkOrder.requested_start,
    # "Closest to breach first": the earliest running SLA deadline; orders without a
    # running clock (NULL) sort last either way.
    "sla_due_at": WorkOrder.sla_due_at,
}


def _geo_arg(parse: Any, raw: str, name: str) -> Any:
    try:
        return parse(raw)
    except GeoError as exc:
        raise ValidationFailed(
            f"Bad {name} filter.", code="invalid_geo_filter", errors={name: [str(exc)]}
        ) from exc


def _parse_near(raw: str) -> Point:
    parts = raw.split(",")
    if len(parts) != 2:
        raise GeoError("near needs 'lat,lon'")
    try:
        return Point(lat=float(parts[0]), lon=float(parts[1]))
    except ValueError as exc:
        raise GeoError("near values must be numbers") from exc


def list_query(
    *, principal: Principal, args: dict[str, Any], dialect: str
) -> tuple[Select[Any], Any]:
    """Build the filtered SELECT; returns (statement, distance column or None)."""
    # One extra query per page for the templates behind checklist_missing, not one per row.
    stmt = select(WorkOrder).options(selectinload(WorkOrder.checklist_template))
    scope = visible_orders(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    if "status" in args:
        wanted = [s.strip() for s in args["status"].split(",") if s.strip()]
        bad = [s for s in wanted if s not in Status.__members__.values()]
        if bad:
            raise ValidationFailed("Unknown status.", code="unknown_status", errors={"status": bad})
        stmt = stmt.where(WorkOrder.status.in_(wanted))
    if args.get("open") is True:
        stmt = stmt.where(WorkOrder.status.in_([s.value for s in OPEN]))
    elif args.get("open") is False:
        stmt = stmt.where(WorkOrder.status.not_in([s.value for s in OPEN]))
    for key in (
        "priority",
        "order_type",
        "channel",
        "support_tier",
        "customer_id",
        "site_id",
        "equipment_id",
    ):
        if key in args:
            stmt = stmt.where(getattr(WorkOrder, key) == args[key])
    if "technician_id" in args:
        stmt = stmt.where(assigned_to(args["technician_id"]))
    if args.get("unassigned") is True:
        stmt = stmt.where(WorkOrder.lead_technician_id.is_(None))
    elif args.get("unassigned") is False:
        stmt = stmt.where(WorkOrder.lead_technician_id.is_not(None))
    bounds = (
        ("scheduled_from", WorkOrder.scheduled_end, ">="),
        ("scheduled_to", WorkOrder.scheduled_start, "<"),
        ("created_from", WorkOrder.created_at, ">="),
        ("created_to", WorkOrder.created_at, "<"),
    )
    for key, column, op in bounds:
        if key in args:
            stmt = stmt.where(column >= args[key] if op == ">=" else column < args[key])
    stmt = text_search(stmt, args.get("q"), WorkOrder.title, WorkOrder.number)
    if args.get("bbox"):
        bbox = _geo_arg(BBox.parse, args["bbox"], "bbox")
        stmt = stmt.where(
            within_bbox(
                WorkOrder.location, bbox, dialect, table="work_orders", column_name="location"
            )
        )
    distance = None
    if args.get("near"):
        center = _geo_arg(_parse_near, args["near"], "near")
        radius = float(args["radius_m"])
        box = bbox_around(center, radius)
        # A box clamped at +-180 would cut off orders across the antimeridian: skip the
        # index pre-filter there and let the exact distance decide.
        if box.min_lon > -180.0 and box.max_lon < 180.0:
            stmt = stmt.where(
                within_bbox(
                    WorkOrder.location, box, dialect, table="work_orders", column_name="location"
                )
            )
        distance = distance_m(WorkOrder.location, center, dialect)
        stmt = stmt.where(distance <= radius)
    return stmt, distance
