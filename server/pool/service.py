"""Pool use cases: publish, list (ranked offers for technicians), claim, withdraw, expire.

A claim is decided by one conditional UPDATE (``status = 'open' AND expires_at > now``):
whoever's UPDATE changes the row has won; every later claim changes nothing and is told
why. The winner's assignment then runs through the work-order service, so the history,
the sync change log and the assignment push come out as for any other assignment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, Select, exists, func, null, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo import Point
from geo.sql import contains_geometry, distance_m, point_from_element, point_xy
from server.auth.principal import Principal
from server.customers.models import Site
from server.db import utcnow
from server.dispatch.models import PoolEntry
from server.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from server.organization.models import Territory
from server.technicians.models import Technician, technician_territories
from server.tenants.service import tenant_zone
from server.work_orders.models import WorkOrder, WorkOrderEvent
from server.work_orders.scope import assigned_to
from server.work_orders.service import apply_transition, apply_update, record_event
from workflow.lifecycle import Role, Status

OPEN, CLAIMED, EXPIRED, WITHDRAWN = "open", "claimed", "expired", "withdrawn"
# Orders nobody has planned yet; anything further along belongs to its dispatcher.
POOLABLE = (Status.NEW.value, Status.TRIAGED.value, Status.REOPENED.value)
# A fix older than this no longer says where the technician is: the home base does.
RECENT_FIX = dt.timedelta(hours=12)
# Without a (future) customer window a claimed order starts this long after the claim.
LEAD_TIME = dt.timedelta(hours=1)
PRIORITY_POINTS = {"low": 10.0, "normal": 20.0, "high": 40.0, "urgent": 100.0}
REASONS = {
    "technician_inactive": "Your technician record is inactive.",
    "missing_skill": "You lack a required skill or skill level.",
    "outside_territory": "The site is outside your territories.",
    "no_position": "The offer has a radius and neither your position nor home base is known.",
    "out_of_range": "The site is farther away than the offer's radius.",
    "no_capacity": "You already have your maximum number of jobs that day.",
}


@dataclass(frozen=True)
class Claimer:
    """A technician asking for offers: what they hold, where they are, their time zone."""

    technician: Technician
    skills: dict[str, int]
    territory_ids: frozenset[uuid.UUID]
    origin: Point | None
    zone: ZoneInfo


def _dialect(db_session: Session) -> str:
    return db_session.get_bind().dialect.name


def _claimer(db_session: Session, principal: Principal, now: dt.datetime) -> Claimer:
    if principal.technician_id is None:
        raise Forbidden(
            "Only technicians linked to a technician record use the pool.",
            code="not_a_technician",
        )
    tech = db_session.get(Technician, principal.technician_id)
    if tech is None:
        raise Forbidden("Your technician record is gone.", code="not_a_technician")
    recent = tech.last_position_at is not None and tech.last_position_at >= now - RECENT_FIX
    origin = point_from_element(tech.last_position if recent else tech.home_base)
    zone = tenant_zone(db_session, principal.tenant_id)
    return Claimer(
        technician=tech,
        skills={held.skill.code: held.level for held in tech.skills},
        territory_ids=frozenset(t.id for t in tech.territories),
        origin=origin,
        zone=zone,
    )


def _in_territory(claimer: Claimer, dialect: str) -> ColumnElement[bool]:
    """The order's site is assigned to, or lies inside, one of the technician's territories."""
    if not claimer.territory_ids:
        return true()
    link = technician_territories
    return exists().where(
        link.c.technician_id == claimer.technician.id,
        Territory.id == link.c.territory_id,
        or_(
            Territory.id == Site.territory_id,
            contains_geometry(Territory.boundary, WorkOrder.location, dialect),
        ),
    )


def _offer_query(dialect: str, claimer: Claimer | None = None) -> Select[Any]:
    """Entries with their order and site in one statement (plus eligibility columns)."""
    lon, lat = point_xy(WorkOrder.location)
    stmt = (
        select(
            PoolEntry,
            WorkOrder,
            Site.name.label("site_name"),
            Site.address.label("site_address"),
            lon.label("lon"),
            lat.label("lat"),
        )
        .join(WorkOrder, WorkOrder.id == PoolEntry.work_order_id)
        .join(Site, Site.id == WorkOrder.site_id)
    )
    if claimer is not None:
        distance = (
            distance_m(WorkOrder.location, claimer.origin, dialect)
            if claimer.origin is not None
            else null()
        )
        stmt = stmt.add_columns(
            _in_territory(claimer, dialect).label("in_territory"), distance.label("distance_m")
        )
    return stmt


def _entry_dict(
    row: Row[Any], *, distance_km: float | None = None, score: float | None = None
) -> dict[str, Any]:
    entry: PoolEntry = row.PoolEntry
    order: WorkOrder = row.WorkOrder
    return {
        "id": entry.id,
        "work_order_id": entry.work_order_id,
        "status": entry.status,
        "expires_at": entry.expires_at,
        "radius_km": entry.radius_km,
        "note": entry.note,
        "published_by_id": entry.published_by_id,
        "claimed_by_id": entry.claimed_by_id,
        "claimed_at": entry.claimed_at,
        "created_at": entry.created_at,
        "order": {
            "id": order.id,
            "number": order.number,
            "title": order.title,
            "priority": order.priority,
            "status": order.status,
            "order_type": order.order_type,
            "site": {"id": order.site_id, "name": row.site_name, "address": row.site_address},
            "location": None if row.lat is None else {"lat": row.lat, "lon": row.lon},
            "requested_start": order.requested_start,
            "requested_end": order.requested_end,
            "estimated_duration_minutes": order.estimated_duration_minutes,
            "required_skills": order.required_skills or [],
            "lead_technician_id": order.lead_technician_id,
            "scheduled_start": order.scheduled_start,
            "scheduled_end": order.scheduled_end,
        },
        "distance_km": distance_km,
        "score": score,
    }


def _system_event(
    tenant_id: uuid.UUID,
    order_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> WorkOrderEvent:
    """A history entry nobody in particular caused (timeouts, clean-ups)."""
    return WorkOrderEvent(
        tenant_id=tenant_id,
        work_order_id=order_id,
        event_type=event_type,
        actor_user_id=None,
        actor_role="system",
        occurred_at=now,
        recorded_at=now,
        payload=payload,
    )


def _sweep(db_session: Session, now: dt.datetime) -> int:
    """Close open entries that timed out, or whose order was planned some other way."""
    returning = (PoolEntry.id, PoolEntry.work_order_id, PoolEntry.tenant_id)
    timed_out = db_session.execute(
        update(PoolEntry)
        .where(PoolEntry.status == OPEN, PoolEntry.expires_at <= now)
        .values(status=EXPIRED, updated_at=now)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    ).all()
    planned = select(WorkOrder.id).where(
        or_(WorkOrder.status.not_in(POOLABLE), WorkOrder.lead_technician_id.is_not(None))
    )
    gone = db_session.execute(
        update(PoolEntry)
        .where(PoolEntry.status == OPEN, PoolEntry.work_order_id.in_(planned))
        .values(status=WITHDRAWN, updated_at=now)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    ).all()
    db_session.add_all(
        [
            _system_event(tenant, order, "pool_expired", {"pool_entry_id": str(ident)}, now)
            for ident, order, tenant in timed_out
        ]
        + [
            _system_event(
                tenant,
                order,
                "withdrawn_from_pool",
                {"pool_entry_id": str(ident), "reason": "order_planned_elsewhere"},
                now,
            )
            for ident, order, tenant in gone
        ]
    )
    return len(timed_out) + len(gone)


def expire_due(*, db_session: Session) -> int:
    """Mark timed-out entries expired (their orders stay unassigned); the count closed."""
    closed = _sweep(db_session, utcnow())
    db_session.commit()
    return closed


# --- publish ------------------------------------------------------------------------------


def _not_poolable(order: WorkOrder) -> str | None:
    if order.status not in POOLABLE:
        return f"Status is {order.status}; only new, triaged or reopened orders are offered."
    if order.lead_technician_id is not None:
        return "Already has a lead technician."
    return None


def _entries(db_session: Session, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    rows = db_session.execute(_offer_query(_dialect(db_session)).where(PoolEntry.id.in_(ids)))
    by_id = {row.PoolEntry.id: row for row in rows}
    return [_entry_dict(by_id[i]) for i in ids]


def publish(
    *, db_session: Session, principal: Principal, data: dict[str, Any]
) -> list[dict[str, Any]]:
    """Offer unassigned orders to eligible technicians; all of them or none."""
    now = utcnow()
    _sweep(db_session, now)
    ids: list[uuid.UUID] = data["work_order_ids"]
    orders = {o.id: o for o in db_session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)))}
    unknown = [str(i) for i in ids if i not in orders]
    if unknown:
        raise ValidationFailed(
            "Unknown work order.", code="unknown_work_order", errors={"work_order_ids": unknown}
        )
    pooled = set(
        db_session.scalars(
            select(PoolEntry.work_order_id).where(
                PoolEntry.work_order_id.in_(ids), PoolEntry.status == OPEN
            )
        )
    )
    if pooled:
        raise Conflict(
            "Already open in the pool.",
            code="already_in_pool",
            errors={"work_order_ids": sorted(str(i) for i in pooled)},
        )
    refused = {str(i): reason for i in ids if (reason := _not_poolable(orders[i]))}
    if refused:
        raise Conflict(
            "Only unassigned orders in new, triaged or reopened can be offered.",
            code="order_not_poolable",
            errors={"work_order_ids": refused},
        )
    expires_at = now + dt.timedelta(minutes=data["expires_in_minutes"])
    entries = [
        PoolEntry(
            id=uuid.uuid4(),
            tenant_id=principal.tenant_id,
            work_order_id=order_id,
            status=OPEN,
            published_by_id=principal.user_id,
            expires_at=expires_at,
            radius_km=data.get("radius_km"),
            note=data.get("note"),
            created_at=now,
            updated_at=now,
        )
        for order_id in ids
    ]
    db_session.add_all(entries)
    try:
        db_session.flush()
    except IntegrityError as exc:  # a concurrent publish of the same order won
        db_session.rollback()
        raise Conflict("Already open in the pool.", code="already_in_pool") from exc
    for entry in entries:
        record_event(
            db_session=db_session,
            order=orders[entry.work_order_id],
            principal=principal,
            event_type="published_to_pool",
            payload={
                "pool_entry_id": str(entry.id),
                "expires_at": expires_at.isoformat(),
                "radius_km": entry.radius_km,
            },
            occurred_at=now,
        )
    db_session.commit()
    return _entries(db_session, [e.id for e in entries])


# --- offers and eligibility -----------------------------------------------------------


def planned_window(order: WorkOrder, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Where a claim puts the order: its customer window if still ahead, else in an hour."""
    duration = dt.timedelta(minutes=order.estimated_duration_minutes)
    if order.requested_start is not None and order.requested_start > now:
        return order.requested_start, order.requested_end or order.requested_start + duration
    start = (now + LEAD_TIME).replace(microsecond=0)
    return start, start + duration


def _local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _jobs_per_day(db_session: Session, claimer: Claimer, days: set[dt.date]) -> Counter[dt.date]:
    """How many orders the technician already has on each of these local days."""
    if not days:
        return Counter()
    starts = db_session.scalars(
        select(WorkOrder.scheduled_start).where(
            assigned_to(claimer.technician.id),
            WorkOrder.scheduled_start >= _local_midnight(min(days), claimer.zone),
            WorkOrder.scheduled_start
            < _local_midnight(max(days) + dt.timedelta(days=1), claimer.zone),
            WorkOrder.status != Status.CANCELLED.value,
        )
    )
    return Counter(start.astimezone(claimer.zone).date() for start in starts if start)


def _refusal(claimer: Claimer, row: Row[Any], jobs_that_day: int) -> str | None:
    """Why this technician may not take this offer (first reason), or None."""
    order: WorkOrder = row.WorkOrder
    if not claimer.technician.active:
        return "technician_inactive"
    for need in order.required_skills or []:
        if claimer.skills.get(need["skill"], 0) < need.get("min_level", 1):
            return "missing_skill"
    if not row.in_territory:
        return "outside_territory"
    radius = row.PoolEntry.radius_km
    if radius is not None:
        if row.distance_m is None:
            return "no_position"
        if float(row.distance_m) > radius * 1000.0:
            return "out_of_range"
    if jobs_that_day >= claimer.technician.max_jobs_per_day:
        return "no_capacity"
    return None


def score(order: WorkOrder, distance_km: float | None, now: dt.datetime) -> float:
    """Rank of an offer: priority points + closeness + 20 if its window opens within a day."""
    # Closeness is 50 points at 0 km, 25 at 5 km, 10 at 20 km: near work wins among equals,
    # but an urgent order (100) outranks a normal one (20) next door.
    points = PRIORITY_POINTS.get(order.priority, PRIORITY_POINTS["normal"])
    if distance_km is not None:
        points += 50.0 / (1.0 + distance_km / 5.0)
    start = order.requested_start
    if start is not None and start - now < dt.timedelta(hours=24):
        points += 20.0
    return round(points, 2)


def _km(row: Row[Any]) -> float | None:
    return None if row.distance_m is None else round(float(row.distance_m) / 1000.0, 3)


def _offers(db_session: Session, principal: Principal, now: dt.datetime) -> list[dict[str, Any]]:
    claimer = _claimer(db_session, principal, now)
    stmt = _offer_query(_dialect(db_session), claimer).where(
        PoolEntry.status == OPEN,
        PoolEntry.expires_at > now,
        WorkOrder.status.in_(POOLABLE),
        WorkOrder.lead_technician_id.is_(None),
    )
    rows = list(db_session.execute(stmt))
    days = [planned_window(row.WorkOrder, now)[0].astimezone(claimer.zone).date() for row in rows]
    load = _jobs_per_day(db_session, claimer, set(days))
    offers = []
    for row, day in zip(rows, days, strict=True):
        if _refusal(claimer, row, load[day]) is None:
            km = _km(row)
            offers.append(_entry_dict(row, distance_km=km, score=score(row.WorkOrder, km, now)))
    offers.sort(key=lambda o: (-o["score"], o["expires_at"], str(o["id"])))
    return offers


def list_pool(
    *, db_session: Session, principal: Principal, args: dict[str, Any], page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """One page and the total: all entries for planners, ranked eligible offers for technicians."""
    now = utcnow()
    _sweep(db_session, now)
    offset = (page - 1) * page_size
    if principal.is_technician:
        offers = _offers(db_session, principal, now)
        db_session.commit()
        return offers[offset : offset + page_size], len(offers)
    stmt = _offer_query(_dialect(db_session))
    if "status" in args:
        stmt = stmt.where(PoolEntry.status == args["status"])
    total = int(
        db_session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    )
    rows = []
    if offset < total:
        page_stmt = stmt.order_by(PoolEntry.created_at.desc(), PoolEntry.id)
        rows = list(db_session.execute(page_stmt.limit(page_size).offset(offset)))
    db_session.commit()
    return [_entry_dict(row) for row in rows], total


# --- claim and withdraw ---------------------------------------------------------------


def _closed(entry: PoolEntry, principal: Principal, now: dt.datetime) -> DomainError | None:
    """Why an entry can no longer be claimed, or None while it is open."""
    if entry.status == CLAIMED:
        return Conflict(
            "Someone else was faster: this order is taken.",
            code="already_claimed",
            claimed_by_you=entry.claimed_by_id is not None
            and entry.claimed_by_id == principal.technician_id,
        )
    if entry.status == WITHDRAWN:
        return Conflict("The dispatcher withdrew this offer.", code="pool_entry_withdrawn")
    if entry.status == EXPIRED or entry.expires_at <= now:
        return Conflict("This offer has expired.", code="pool_entry_expired")
    return None


def claim(*, db_session: Session, principal: Principal, entry_id: uuid.UUID) -> dict[str, Any]:
    """Take an offered order: the first valid claim wins, becomes lead and schedules it."""
    now = utcnow()
    claimer = _claimer(db_session, principal, now)
    stmt = _offer_query(_dialect(db_session), claimer).where(PoolEntry.id == entry_id)
    row = db_session.execute(stmt).first()
    if row is None:
        raise NotFound(f"No pool entry with id {entry_id}.")
    entry: PoolEntry = row.PoolEntry
    order: WorkOrder = row.WorkOrder
    closed = _closed(entry, principal, now)
    if closed is not None:
        raise closed
    if _not_poolable(order):
        raise Conflict("The order was planned meanwhile.", code="order_not_available")
    start, end = planned_window(order, now)
    day = start.astimezone(claimer.zone).date()
    reason = _refusal(claimer, row, _jobs_per_day(db_session, claimer, {day})[day])
    if reason is not None:
        raise Forbidden(REASONS[reason], code="not_eligible", reason=reason)
    won = db_session.execute(
        update(PoolEntry)
        .where(PoolEntry.id == entry.id, PoolEntry.status == OPEN, PoolEntry.expires_at > now)
        .values(status=CLAIMED, claimed_by_id=claimer.technician.id, claimed_at=now, updated_at=now)
        .returning(PoolEntry.id)
        .execution_options(synchronize_session=False)
    ).first()
    if won is None:
        # Lost the race: read what the winner (or the timeout) left, in a fresh transaction.
        db_session.rollback()
        db_session.refresh(entry)
        raise _closed(entry, principal, now) or Conflict(
            "This offer is no longer open.", code="already_claimed"
        )
    db_session.expire(entry)
    apply_update(
        db_session=db_session,
        principal=principal,
        order=order,
        data={
            "lead_technician_id": claimer.technician.id,
            "scheduled_start": start,
            "scheduled_end": end,
        },
        acting_role=Role.DISPATCHER,
    )
    apply_transition(
        db_session=db_session,
        principal=principal,
        order=order,
        data={"to": Status.SCHEDULED.value},
        acting_role=Role.DISPATCHER,
    )
    record_event(
        db_session=db_session,
        order=order,
        principal=principal,
        event_type="claimed_from_pool",
        payload={"pool_entry_id": str(entry.id), "technician_id": str(claimer.technician.id)},
        occurred_at=now,
    )
    db_session.commit()
    return _entry_dict(row, distance_km=_km(row))


def withdraw(*, db_session: Session, principal: Principal, entry_id: uuid.UUID) -> dict[str, Any]:
    """Take an open offer back (idempotent for one already withdrawn)."""
    now = utcnow()
    entry = db_session.get(PoolEntry, entry_id)
    if entry is None:
        raise NotFound(f"No pool entry with id {entry_id}.")
    if entry.status != WITHDRAWN:
        done = db_session.execute(
            update(PoolEntry)
            .where(PoolEntry.id == entry.id, PoolEntry.status == OPEN)
            .values(status=WITHDRAWN, updated_at=now)
            .returning(PoolEntry.id)
            .execution_options(synchronize_session=False)
        ).first()
        if done is not None:
            order = db_session.get(WorkOrder, entry.work_order_id)
            assert order is not None
            record_event(
                db_session=db_session,
                order=order,
                principal=principal,
                event_type="withdrawn_from_pool",
                payload={"pool_entry_id": str(entry.id)},
                occurred_at=now,
            )
        db_session.commit()
        db_session.refresh(entry)
        if entry.status == CLAIMED:
            raise Conflict("A technician already claimed it.", code="already_claimed")
        if entry.status == EXPIRED:
            raise Conflict("This offer has expired.", code="pool_entry_expired")
    result = _entries(db_session, [entry_id])[0]
    db_session.commit()
    return result
