"""Rows in, dispatch Problem out (and plan seconds back into datetimes).

Everything the solver sees is seconds from `origin`: midnight of the first planned day in
the tenant's time zone. Weekly local shifts are turned into absolute intervals with
zoneinfo, so a day that changes to or from daylight saving time keeps its real length.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dispatch.insertion import DayRoute, Stop
from dispatch.model import (
    Booking,
    Break,
    Job,
    Problem,
    Shift,
    SkillNeed,
    Technician,
    TimeWindow,
    Weights,
)
from geo.points import Point
from geo.sql import point_from_element
from server.customers.models import Site
from server.technicians.models import Technician as TechnicianRow
from server.technicians.models import technician_territories
from server.work_orders.models import WorkOrder

# Orders the optimiser may (re)plan: nobody has set off yet.
PLANNABLE = ("new", "triaged", "reopened", "scheduled", "dispatched", "accepted")
ASSIGNED = ("scheduled", "dispatched", "accepted")
IN_PROGRESS = ("en_route", "on_site")
# A fix older than this is not "where the technician is now".
POSITION_FRESH = dt.timedelta(hours=2)
PRIORITY = {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}


@dataclass
class Context:
    """What it takes to read a plan back: origin, rows by solver id, the zone."""

    origin: dt.datetime
    zone: ZoneInfo
    orders: dict[str, WorkOrder] = field(default_factory=dict)
    technicians: dict[str, TechnicianRow] = field(default_factory=dict)

    def seconds(self, when: dt.datetime) -> int:
        """Problem seconds of an aware datetime."""
        return int((when - self.origin).total_seconds())

    def at(self, seconds: int) -> dt.datetime:
        """The UTC datetime of problem seconds."""
        return (self.origin + dt.timedelta(seconds=seconds)).astimezone(dt.UTC)


def _days(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    return [date_from + dt.timedelta(days=i) for i in range((date_to - date_from).days + 1)]


def shifts_for(
    row: TechnicianRow, days: Sequence[dt.date], zone: ZoneInfo, ctx: Context
) -> list[Shift]:
    """A technician's weekly shifts made absolute for each planned day."""
    out: list[Shift] = []
    for day in days:
        for s in row.shifts:
            if s.weekday != day.weekday():
                continue
            start = dt.datetime.combine(day, s.start_time, tzinfo=zone)
            end = dt.datetime.combine(day, s.end_time, tzinfo=zone)
            if end <= start:  # a night shift runs past midnight
                end += dt.timedelta(days=1)
            breaks: tuple[Break, ...] = ()
            if s.break_minutes and s.break_start is not None:
                b = dt.datetime.combine(day, s.break_start, tzinfo=zone)
                # The break may slide by an hour so it fits between visits.
                breaks = (Break(ctx.seconds(b), ctx.seconds(b) + 3600, s.break_minutes * 60),)
            out.append(Shift(ctx.seconds(start), ctx.seconds(end), breaks))
    return out


def technician_of(
    row: TechnicianRow,
    shifts: Sequence[Shift],
    ctx: Context,
    now: dt.datetime | None,
    bookings: Iterable[Booking] = (),
) -> Technician | None:
    """The solver's view of one technician, or None without a usable start point."""
    home = point_from_element(row.home_base)
    position = point_from_element(row.last_position)
    fresh = (
        position is not None
        and now is not None
        and row.last_position_at is not None
        and now - row.last_position_at <= POSITION_FRESH
    )
    start = home or position
    if start is None:
        return None
    return Technician(
        id=str(row.id),
        start=start,
        shifts=tuple(shifts),
        skills={ts.skill.code: ts.level for ts in row.skills},
        territories=frozenset(str(t.id) for t in row.territories),
        max_jobs_per_day=row.max_jobs_per_day,
        max_work_s_per_day=row.max_work_minutes_per_day * 60
        if row.max_work_minutes_per_day
        else None,
        bookings=tuple(bookings),
        position=position if fresh else None,
    )


def job_of(
    order: WorkOrder,
    ctx: Context,
    *,
    territory: str | None,
    location: Point,
    max_part_s: int | None,
) -> Job:
    """The solver's view of one order."""
    duration = max(60, order.estimated_duration_minutes * 60)
    windows: tuple[TimeWindow, ...] = ()
    if order.requested_start is not None and order.requested_end is not None:
        windows = (
            TimeWindow(ctx.seconds(order.requested_start), ctx.seconds(order.requested_end)),
        )
    lead = str(order.lead_technician_id) if order.lead_technician_id else None
    assigned = order.status in ASSIGNED and lead is not None
    return Job(
        id=str(order.id),
        location=location,
        duration_s=duration,
        windows=windows,
        skills=tuple(
            SkillNeed(s["skill"], int(s.get("min_level", 1))) for s in order.required_skills or []
        ),
        priority=PRIORITY.get(order.priority, "normal"),
        due_s=ctx.seconds(order.due_at) if order.due_at else None,
        territory=territory,
        pinned_technician=lead if order.pin_technician and lead else None,
        locked_start_s=ctx.seconds(order.scheduled_start)
        if order.lock_schedule and order.scheduled_start
        else None,
        crew_size=max(1, order.crew_size or 1),
        current_technician=lead if assigned else None,
        current_start_s=ctx.seconds(order.scheduled_start)
        if assigned and order.scheduled_start
        else None,
        dispatched=order.status in ("dispatched", "accepted"),
        max_part_s=max_part_s if duration > (max_part_s or duration) else None,
    )


def _window_bounds(
    date_from: dt.date, date_to: dt.date, zone: ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(date_from, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end


def load_technicians(
    session: Session, territory_id: uuid.UUID | None, ids: Sequence[uuid.UUID] | None = None
) -> list[TechnicianRow]:
    """Active technicians, optionally only those covering a territory."""
    stmt = select(TechnicianRow).where(TechnicianRow.active.is_(True))
    if territory_id is not None:
        stmt = stmt.where(
            TechnicianRow.id.in_(
                select(technician_territories.c.technician_id).where(
                    technician_territories.c.territory_id == territory_id
                )
            )
        )
    if ids is not None:
        stmt = stmt.where(TechnicianRow.id.in_(ids))
    return list(session.scalars(stmt.order_by(TechnicianRow.name, TechnicianRow.id)))


def build_problem(
    session: Session,
    *,
    zone: ZoneInfo,
    date_from: dt.date,
    date_to: dt.date,
    territory_id: uuid.UUID | None,
    now: dt.datetime,
    weights: Weights,
) -> tuple[Problem, Context]:
    """Orders and technicians of a territory and date range as one dispatch problem."""
    lo, hi = _window_bounds(date_from, date_to, zone)
    ctx = Context(origin=lo, zone=zone)
    days = _days(date_from, date_to)
    techs = load_technicians(session, territory_id)
    stmt = (
        select(WorkOrder, Site.territory_id)
        .join(Site, Site.id == WorkOrder.site_id)
        .where(WorkOrder.location.is_not(None))
        .where(WorkOrder.status.in_(PLANNABLE + IN_PROGRESS))
        .where(
            or_(
                # Already planned inside the range...
                (WorkOrder.scheduled_start >= lo) & (WorkOrder.scheduled_start < hi),
                # ...or waiting for a plan, wanted inside the range (or any time).
                WorkOrder.status.in_(("new", "triaged", "reopened"))
                & or_(
                    WorkOrder.requested_start.is_(None),
                    (WorkOrder.requested_start < hi) & (WorkOrder.requested_end > lo),
                ),
            )
        )
        .order_by(WorkOrder.created_at, WorkOrder.id)
    )
    if territory_id is not None:
        stmt = stmt.where(Site.territory_id == territory_id)
    rows = session.execute(stmt).all()
    now_s = ctx.seconds(now) if lo <= now < hi else None

    # Work already under way is not replanned: it pins its technician's time and place.
    bookings: dict[str, list[Booking]] = {}
    positions: dict[str, Point] = {}
    jobs: list[Job] = []
    shifts_by_tech = {str(t.id): shifts_for(t, days, zone, ctx) for t in techs}
    longest = max((s.end - s.start for ss in shifts_by_tech.values() for s in ss), default=0)
    for order, territory in rows:
        location = point_from_element(order.location)
        if location is None:
            continue
        if order.status in IN_PROGRESS:
            if order.lead_technician_id is not None and order.scheduled_start is not None:
                lead = str(order.lead_technician_id)
                end = order.scheduled_end or (
                    order.scheduled_start + dt.timedelta(minutes=order.estimated_duration_minutes)
                )
                start_s = ctx.seconds(order.actual_start or order.scheduled_start)
                bookings.setdefault(lead, []).append(
                    Booking(start_s, max(ctx.seconds(end), start_s + 60), order.number)
                )
                positions[lead] = location
            continue
        job = job_of(
            order,
            ctx,
            territory=str(territory) if territory else None,
            location=location,
            max_part_s=longest - 3600 if longest > 7200 else None,
        )
        jobs.append(job)
        ctx.orders[job.id] = order

    technicians: list[Technician] = []
    for row in techs:
        tech = technician_of(
            row, shifts_by_tech[str(row.id)], ctx, now, bookings.get(str(row.id), ())
        )
        if tech is None:
            continue
        ctx.technicians[tech.id] = row
        technicians.append(tech)
    return Problem(tuple(jobs), tuple(technicians), weights, now_s), ctx


def day_routes(
    session: Session,
    *,
    zone: ZoneInfo,
    day: dt.date,
    now: dt.datetime,
    technician_ids: Sequence[uuid.UUID] | None = None,
) -> tuple[list[DayRoute], Context]:
    """Each technician's current plan for one day, for insertion and recommendations."""
    lo, hi = _window_bounds(day, day, zone)
    ctx = Context(origin=lo, zone=zone)
    techs = load_technicians(session, None, technician_ids)
    ids = [t.id for t in techs]
    orders = (
        session.scalars(
            select(WorkOrder)
            .where(WorkOrder.lead_technician_id.in_(ids))
            .where(WorkOrder.scheduled_start >= lo, WorkOrder.scheduled_start < hi)
            .where(WorkOrder.status.in_(ASSIGNED + IN_PROGRESS))
            .where(WorkOrder.location.is_not(None))
            .order_by(WorkOrder.scheduled_start, WorkOrder.id)
        ).all()
        if ids
        else []
    )
    by_lead: dict[uuid.UUID, list[WorkOrder]] = {}
    for order in orders:
        assert order.lead_technician_id is not None
        by_lead.setdefault(order.lead_technician_id, []).append(order)
    routes: list[DayRoute] = []
    for row in techs:
        shifts = shifts_for(row, [day], zone, ctx)
        tech = technician_of(row, shifts, ctx, now)
        if tech is None or not shifts:
            continue
        ctx.technicians[tech.id] = row
        stops = []
        for order in by_lead.get(row.id, []):
            location = point_from_element(order.location)
            assert location is not None and order.scheduled_start is not None
            job = job_of(order, ctx, territory=None, location=location, max_part_s=None)
            start = ctx.seconds(order.scheduled_start)
            end = (
                ctx.seconds(order.scheduled_end) if order.scheduled_end else start + job.duration_s
            )
            if order.status in IN_PROGRESS:
                # Under way: it cannot move, whatever its window says.
                job = Job(job.id, job.location, job.duration_s, locked_start_s=start)
            stops.append(Stop(job, start, end))
            ctx.orders[job.id] = order
        routes.append(DayRoute(tech, shifts[0], tuple(stops)))
    return routes, ctx
