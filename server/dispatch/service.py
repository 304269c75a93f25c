"""Dispatch use cases: optimisation runs, preview/apply, emergency insertion, manual moves."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.evaluate import current_kpis
from dispatch.explain import has_skills
from dispatch.insertion import DayRoute, InsertionOption, Stop, TravelTable, insertion_options
from dispatch.isolated import SolverCrashed, solve_isolated
from dispatch.model import Job, Plan, ProblemError, SolveOptions, Weights
from dispatch.recommend import recommend
from dispatch.solver import solve
from geo.sql import point_from_element
from geo.travel import TravelTimeProvider, provider_from_config
from server.auth.principal import Principal
from server.db import db, set_tenant, system_scope, utcnow
from server.dispatch.models import OptimizationRun
from server.dispatch.problem import (
    ASSIGNED,
    IN_PROGRESS,
    Context,
    build_problem,
    day_routes,
    job_of,
    load_technicians,
    shifts_for,
    technician_of,
)
from server.errors import Conflict, DomainError, NotFound, ValidationFailed
from server.organization.models import Territory
from server.tenants.service import tenant_zone
from server.work_orders.models import WorkOrder
from server.work_orders.service import apply_transition, apply_update
from workflow.lifecycle import Status

log = logging.getLogger(__name__)
MAX_DAYS = 14
OPEN_STATUSES = ("new", "triaged", "reopened")
_provider_lock = threading.Lock()


def travel_provider(app: Flask | None = None) -> TravelTimeProvider:
    """The process's travel-time provider (OSRM when configured), cached per app."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    with _provider_lock:
        provider = app.extensions.get("travel_provider")
        if provider is None:
            provider = provider_from_config(
                app.config.get("OSRM_URL"),
                float(app.config["TRAVEL_SPEED_KMH"]),
                float(app.config["TRAVEL_DETOUR_FACTOR"]),
            )
            app.extensions["travel_provider"] = provider
        return provider


def _weights(overrides: dict[str, int] | None) -> Weights:
    return dataclasses.replace(Weights(), **(overrides or {}))


# --- optimisation runs ------------------------------------------------------------


def create_run(
    *, db_session: Session, principal: Principal, data: dict[str, Any]
) -> OptimizationRun:
    """Queue an optimisation run; in the embedded mode it starts at once in-process."""
    date_from: dt.date = data["date_from"]
    date_to: dt.date = data.get("date_to") or date_from
    if date_to < date_from:
        raise ValidationFailed(
            "date_to is before date_from.",
            code="invalid_date_range",
            errors={"date_to": ["Before date_from."]},
        )
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"A run covers at most {MAX_DAYS} days.",
            code="date_range_too_long",
            errors={"date_to": [f"At most {MAX_DAYS} days after date_from."]},
        )
    territory_id = data.get("territory_id")
    if territory_id is not None and db_session.get(Territory, territory_id) is None:
        raise ValidationFailed(
            "Unknown territory.",
            code="unknown_territory",
            errors={"territory_id": ["No such territory."]},
        )
    limit = float(data.get("time_limit_s") or current_app.config["DISPATCH_DEFAULT_TIME_LIMIT_S"])
    run = OptimizationRun(
        tenant_id=principal.tenant_id,
        territory_id=territory_id,
        date_from=date_from,
        date_to=date_to,
        time_limit_s=limit,
        params={"weights": data.get("weights") or {}, "seed": data.get("seed", 0)},
        created_by_id=principal.user_id,
    )
    db_session.add(run)
    db_session.commit()
    mode = current_app.config["DISPATCH_RUNNER"]
    if mode == "inline":
        execute_run(db_session, run)
    elif mode == "thread":
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        threading.Thread(
            target=_run_in_thread, args=(app, run.id, run.tenant_id), daemon=True
        ).start()
    return run


def _run_in_thread(app: Flask, run_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    with app.app_context():
        session = db.factory()
        try:
            set_tenant(session, tenant_id)
            run = session.get(OptimizationRun, run_id)
            if run is not None and run.status == "queued":
                execute_run(session, run, progress_session=db.factory)
        finally:
            session.close()


def claim_next_run(session: Session) -> OptimizationRun | None:
    """Take the oldest queued run for this worker (SKIP LOCKED on PostgreSQL)."""
    with system_scope(session):
        stmt = (
            select(OptimizationRun)
            .where(OptimizationRun.status == "queued")
            .order_by(OptimizationRun.created_at)
            .limit(1)
        )
        if db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        run = session.scalars(stmt).first()
        if run is None:
            session.rollback()
            return None
        run.status = "running"
        run.started_at = utcnow()
        session.commit()
    set_tenant(session, run.tenant_id)
    return run


def execute_run(
    session: Session,
    run: OptimizationRun,
    progress_session: Callable[[], Session] | None = None,
) -> None:
    """Build the problem, solve it within the budget, store the plan; never raises."""
    run.status = "running"
    run.started_at = run.started_at or utcnow()
    session.commit()
    run_id = run.id

    def progress(fraction: float, best: int | None) -> None:
        if progress_session is None:
            return
        with progress_session() as side:
            with system_scope(side):
                row = side.get(OptimizationRun, run_id)
                if row is not None:
                    row.progress = round(fraction, 3)
                    row.best_objective = best
                    side.commit()

    try:
        zone = tenant_zone(session, run.tenant_id)
        now = utcnow()
        problem, ctx = build_problem(
            session,
            zone=zone,
            date_from=run.date_from,
            date_to=run.date_to,
            territory_id=run.territory_id,
            now=now,
            weights=_weights(run.params.get("weights")),
        )
        travel = travel_provider()
        baseline = current_kpis(problem, travel)
        snapshot = {oid: order.version for oid, order in ctx.orders.items()}
        # Never hold a transaction through a long solve: on SQLite it would be the write
        # lock (BEGIN IMMEDIATE), on PostgreSQL an idle-in-transaction snapshot.
        session.commit()
        options = SolveOptions(time_limit_s=run.time_limit_s, seed=int(run.params.get("seed", 0)))
        if current_app.config["DISPATCH_ISOLATE"]:
            config = current_app.config
            plan = solve_isolated(
                problem,
                options,
                (
                    config.get("OSRM_URL"),
                    float(config["TRAVEL_SPEED_KMH"]),
                    float(config["TRAVEL_DETOUR_FACTOR"]),
                ),
                progress,
            )
        else:
            plan = solve(problem, travel, options, progress)
        session.refresh(run)
        if run.status == "cancelled":
            return
        run.snapshot = snapshot
        run.result = plan_json(plan, ctx)
        run.kpis = dataclasses.asdict(plan.kpis)
        run.baseline_kpis = dataclasses.asdict(baseline)
        run.best_objective = plan.objective
        run.progress = 1.0
        run.status = "done"
    except SolverCrashed as exc:
        log.error("optimisation run %s: %s", run_id, exc)
        session.rollback()
        run.status, run.error = "failed", f"solver crashed: {exc}"
    except ProblemError as exc:
        session.rollback()
        run.status, run.error = "failed", f"{exc} ({exc.path})" if exc.path else str(exc)
    except Exception:  # a worker must report, never hang or die silently
        log.exception("optimisation run %s failed", run_id)
        session.rollback()
        run.status, run.error = "failed", "internal error while solving; see server log"
    run.finished_at = utcnow()
    session.commit()


def plan_json(plan: Plan, ctx: Context) -> dict[str, Any]:
    """The plan as stored and served: datetimes, order numbers, reasons."""

    def order_info(job_id: str) -> dict[str, Any]:
        order = ctx.orders.get(job_id)
        return {"work_order_id": job_id, "number": order.number if order else None}

    routes = []
    for route in plan.routes:
        tech = ctx.technicians.get(route.technician_id)
        routes.append(
            {
                "technician_id": route.technician_id,
                "technician_name": tech.name if tech else None,
                "shift_start": ctx.at(route.shift_start).isoformat(),
                "shift_end": ctx.at(route.shift_end).isoformat(),
                "start": ctx.at(route.start).isoformat(),
                "end": ctx.at(route.end).isoformat(),
                "travel_s": route.travel_s,
                "distance_m": route.distance_m,
                "overtime_s": route.overtime_s,
                "breaks": [
                    {"start": ctx.at(a).isoformat(), "end": ctx.at(b).isoformat()}
                    for a, b in route.breaks
                ],
                "visits": [
                    {
                        **order_info(v.job_id),
                        "start": ctx.at(v.start).isoformat(),
                        "end": ctx.at(v.end).isoformat(),
                        "travel_s": v.travel_s,
                        "role": v.role,
                        "part": v.part,
                        "parts": v.parts,
                        "late_s": v.late_s,
                    }
                    for v in route.visits
                ],
            }
        )
    return {
        "status": plan.status,
        "elapsed_s": round(plan.elapsed_s, 3),
        "first_solution_s": plan.first_solution_s,
        "objective": plan.objective,
        "routes": routes,
        "unassigned": [
            {
                **order_info(u.job_id),
                "reason": u.reason.value,
                "message": u.message,
                "details": dict(u.details),
            }
            for u in plan.unassigned
        ],
    }


def get_run(*, db_session: Session, run_id: uuid.UUID) -> OptimizationRun:
    """One run of the caller's tenant."""
    run = db_session.get(OptimizationRun, run_id)
    if run is None:
        raise NotFound(f"No optimisation run with id {run_id}.")
    return run


def get_plan(*, db_session: Session, run_id: uuid.UUID) -> dict[str, Any]:
    """The plan a finished run produced; 409 while there is none."""
    run = get_run(db_session=db_session, run_id=run_id)
    if run.result is None:
        raise Conflict(f"The run is {run.status}; no plan yet.", code="run_not_ready")
    return run.result


def cancel_run(*, db_session: Session, run: OptimizationRun) -> OptimizationRun:
    """Stop caring about a queued or running run (its result is discarded)."""
    if run.status not in ("queued", "running"):
        raise Conflict(f"A {run.status} run cannot be cancelled.", code="run_not_cancellable")
    run.status = "cancelled"
    run.finished_at = utcnow()
    db_session.commit()
    return run


def _lead_visits(run: OptimizationRun) -> dict[str, dict[str, Any]]:
    """Per order: technician, first start, last end, and crew helpers."""
    out: dict[str, dict[str, Any]] = {}
    for route in (run.result or {}).get("routes", []):
        for visit in route["visits"]:
            entry = out.setdefault(
                visit["work_order_id"],
                {"technician_id": None, "start": None, "end": None, "helpers": set()},
            )
            if visit["role"] == "helper":
                entry["helpers"].add(route["technician_id"])
                continue
            entry["technician_id"] = route["technician_id"]
            if visit["part"] == 0:
                entry["start"] = visit["start"]
            if visit["part"] == visit["parts"] - 1:
                entry["end"] = visit["end"]
    return out


def preview(*, db_session: Session, run: OptimizationRun) -> dict[str, Any]:
    """What applying would change, order by order, and the KPIs before and after."""
    if run.status not in ("done", "applied"):
        raise Conflict(f"The run is {run.status}; nothing to preview yet.", code="run_not_ready")
    planned = _lead_visits(run)
    ids = [uuid.UUID(i) for i in run.snapshot]
    orders = {
        str(o.id): o for o in db_session.scalars(select(WorkOrder).where(WorkOrder.id.in_(ids)))
    }
    changes = []
    for order_id in sorted(run.snapshot):
        order = orders.get(order_id)
        if order is None:
            continue
        before_lead = str(order.lead_technician_id) if order.lead_technician_id else None
        before_start = order.scheduled_start.isoformat() if order.scheduled_start else None
        target = planned.get(order_id)
        if target is None:
            kind = "unassigned" if before_lead is None else "kept"
            after: dict[str, Any] | None = None
        else:
            after = {
                "technician_id": target["technician_id"],
                "start": target["start"],
                "end": target["end"],
                "helper_ids": sorted(target["helpers"]),
            }
            if before_lead is None:
                kind = "assigned"
            elif before_lead != target["technician_id"]:
                kind = "reassigned"
            elif before_start != target["start"]:
                kind = "retimed"
            else:
                kind = "unchanged"
        changes.append(
            {
                "work_order_id": order_id,
                "number": order.number,
                "change": kind,
                "stale": order.version != run.snapshot[order_id],
                "before": {"technician_id": before_lead, "start": before_start},
                "after": after,
            }
        )
    return {
        "run_id": run.id,
        "kpis": run.kpis,
        "baseline_kpis": run.baseline_kpis,
        "changes": changes,
        "unassigned": (run.result or {}).get("unassigned", []),
    }


def assign(
    *,
    db_session: Session,
    principal: Principal,
    order: WorkOrder,
    technician_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    helper_ids: list[uuid.UUID] | None = None,
    reason: str,
) -> bool:
    """Set lead, schedule and helpers through the lifecycle rules, without committing.

    Returns True when anything changed. Unassigned orders move to `scheduled`; a change of
    lead on a dispatched order resets it to `scheduled` (the new lead has not accepted).
    """
    source = Status(order.status)
    if source.value in OPEN_STATUSES:
        if helper_ids is not None:
            apply_update(
                db_session=db_session,
                principal=principal,
                order=order,
                data={"helper_ids": helper_ids},
                reason=reason,
            )
        apply_transition(
            db_session=db_session,
            principal=principal,
            order=order,
            data={
                "to": "scheduled",
                "lead_technician_id": technician_id,
                "scheduled_start": start,
                "scheduled_end": end,
                "reason": reason,
            },
        )
        return True
    data: dict[str, Any] = {
        "lead_technician_id": technician_id,
        "scheduled_start": start,
        "scheduled_end": end,
    }
    if helper_ids is not None:
        data["helper_ids"] = helper_ids
    try:
        return apply_update(
            db_session=db_session, principal=principal, order=order, data=data, reason=reason
        )
    except DomainError as exc:
        # Name the order: apply touches many, and the dispatcher must know which one.
        raise Conflict(
            f"Order {order.number} cannot be re-planned now: {exc}",
            code=exc.code or "edit_refused",
            work_order_id=str(order.id),
        ) from exc


def apply_run(
    *, db_session: Session, principal: Principal, run: OptimizationRun, force: bool
) -> dict[str, Any]:
    """Write the plan as assignments and schedules in one transaction; refuse stale plans."""
    if run.status != "done":
        raise Conflict(
            f"Only a finished run can be applied (this one is {run.status}).", code="run_not_ready"
        )
    planned = _lead_visits(run)
    ids = [uuid.UUID(i) for i in planned]
    orders = {
        str(o.id): o
        for o in db_session.scalars(
            select(WorkOrder).where(WorkOrder.id.in_(ids)).with_for_update()
            if db.dialect == "postgresql"
            else select(WorkOrder).where(WorkOrder.id.in_(ids))
        )
    }
    stale = sorted(
        oid for oid in planned if oid not in orders or orders[oid].version != run.snapshot.get(oid)
    )
    if stale and not force:
        raise Conflict(
            f"{len(stale)} orders changed since the run started; re-run or apply with force.",
            code="plan_stale",
            work_order_ids=stale,
        )
    changed: list[str] = []
    skipped: list[dict[str, str]] = []
    reason = f"optimization_run:{run.id}"
    for oid, target in planned.items():
        order = orders.get(oid)
        if order is None or target["technician_id"] is None or target["start"] is None:
            continue
        if order.status in IN_PROGRESS or order.status not in OPEN_STATUSES + ASSIGNED:
            skipped.append({"work_order_id": oid, "reason": f"status {order.status}"})
            continue
        if assign(
            db_session=db_session,
            principal=principal,
            order=order,
            technician_id=uuid.UUID(target["technician_id"]),
            start=dt.datetime.fromisoformat(target["start"]),
            end=dt.datetime.fromisoformat(target["end"]),
            helper_ids=[uuid.UUID(h) for h in sorted(target["helpers"])],
            reason=reason,
        ):
            changed.append(oid)
    run.status = "applied"
    run.applied_at = utcnow()
    run.applied_by_id = principal.user_id
    db_session.commit()
    return {"run_id": run.id, "changed": changed, "skipped": skipped, "stale": stale}


# --- emergency insertion, recommendations, manual moves ------------------------------


def _local_day(zone: ZoneInfo, when: dt.datetime) -> dt.date:
    return when.astimezone(zone).date()


def _order_job(order: WorkOrder, ctx: Context) -> Job:
    location = point_from_element(order.location)
    if location is None:
        raise ValidationFailed(
            "The order has no location; give its site a map position first.",
            code="order_without_location",
        )
    return job_of(order, ctx, territory=None, location=location, max_part_s=None)


def _option_json(option: InsertionOption, ctx: Context, now_s: int) -> dict[str, Any]:
    def number(order_id: str) -> str | None:
        order = ctx.orders.get(order_id)
        return order.number if order else None

    return {
        "technician_id": option.technician_id,
        "technician_name": ctx.technicians[option.technician_id].name,
        "position": option.position,
        "start": ctx.at(option.start).isoformat(),
        "end": ctx.at(option.end).isoformat(),
        "eta_minutes": round((option.start - now_s) / 60, 1),
        "added_travel_s": option.added_travel_s,
        "delay_s": option.delay_s,
        "late_s": option.late_s,
        "cost": option.cost,
        "pushed": [
            {"work_order_id": oid, "number": number(oid), "new_start": ctx.at(s).isoformat()}
            for oid, s in option.pushed
        ],
        "load_jobs": option.load_jobs,
    }


def _plan_for_day(
    db_session: Session,
    principal: Principal,
    order: WorkOrder,
    day: dt.date | None,
    now: dt.datetime,
) -> tuple[list[DayRoute], Context, Job]:
    """Everyone's plan for the day, without the order itself, and the order as a job."""
    zone = tenant_zone(db_session, principal.tenant_id)
    routes, ctx = day_routes(
        db_session, zone=zone, day=day or _local_day(zone, order.requested_start or now), now=now
    )
    job = _order_job(order, ctx)
    routes = [
        DayRoute(r.technician, r.shift, tuple(s for s in r.stops if s.job.id != job.id))
        for r in routes
    ]
    return routes, ctx, job


def emergency_options(
    *, db_session: Session, principal: Principal, order: WorkOrder, limit: int
) -> dict[str, Any]:
    """Best placements of one urgent order into today's running plan, cheapest first."""
    if order.status not in OPEN_STATUSES + ASSIGNED:
        raise Conflict(f"A {order.status} order cannot be inserted.", code="order_not_plannable")
    now = utcnow()
    today = _local_day(tenant_zone(db_session, principal.tenant_id), now)
    routes, ctx, job = _plan_for_day(db_session, principal, order, today, now)
    now_s = ctx.seconds(now)
    options = insertion_options(job, routes, travel_provider(), now_s, limit=limit)
    out = [_option_json(option, ctx, now_s) for option in options]
    return {"work_order_id": order.id, "number": order.number, "options": out}


def recommendations(
    *, db_session: Session, principal: Principal, order: WorkOrder, k: int, day: dt.date | None
) -> dict[str, Any]:
    """Top-k technicians for one order on a day (default: today or its requested day)."""
    now = utcnow()
    routes, ctx, job = _plan_for_day(db_session, principal, order, day, now)
    now_s = max(ctx.seconds(now), 0)
    ranked = recommend(job, routes, travel_provider(), now_s, k=k)
    return {
        "work_order_id": order.id,
        "date": ctx.origin.date().isoformat(),
        "recommendations": [
            {
                "technician_id": r.technician_id,
                "technician_name": ctx.technicians[r.technician_id].name,
                "score": r.score,
                "breakdown": r.breakdown,
                "start": ctx.at(r.option.start).isoformat(),
                "eta_minutes": round(max(0, r.option.start - now_s) / 60, 1),
                "added_travel_s": r.option.added_travel_s,
                "late_s": r.option.late_s,
            }
            for r in ranked
        ],
    }


def move(
    *, db_session: Session, principal: Principal, order: WorkOrder, data: dict[str, Any]
) -> dict[str, Any]:
    """A drag on the board: place the order, re-time that technician's later visits.

    Violations (window, skill, shift, lateness) are reported; unless `force` is set they
    stop the change (409 `plan_violations`), so nothing is accepted silently.
    """
    if order.status not in OPEN_STATUSES + ASSIGNED:
        raise Conflict(f"A {order.status} order cannot be moved.", code="order_not_plannable")
    zone = tenant_zone(db_session, principal.tenant_id)
    start: dt.datetime = data["start"]
    rows = load_technicians(db_session, None, [data["technician_id"]])
    if not rows:
        raise ValidationFailed(
            "Unknown or inactive technician.",
            code="unknown_technician",
            errors={"technician_id": ["No such active technician."]},
        )
    day = _local_day(zone, start)
    routes, ctx = day_routes(
        db_session, zone=zone, day=day, now=utcnow(), technician_ids=[rows[0].id]
    )
    job = _order_job(order, ctx)
    row = rows[0]
    tech = technician_of(row, shifts_for(row, [day], zone, ctx), ctx, utcnow())
    if tech is None:
        raise ValidationFailed(
            "The technician has no home base or position.", code="technician_without_location"
        )
    stops = [s for r in routes for s in r.stops if s.job.id != job.id]
    start_s = ctx.seconds(start)
    violations: list[dict[str, Any]] = []
    if not has_skills(tech, job):
        violations.append(
            _violation("missing_skill", order, "The technician lacks a needed skill or level.")
        )
    travel = travel_provider()
    timeline = sorted(
        [*stops, Stop(job, start_s, start_s + job.duration_s)],
        key=lambda s: (s.start, s.job.id != job.id),
    )
    drive = TravelTable(travel, [tech.start, *(s.job.location for s in timeline)])
    retimed: list[dict[str, Any]] = []
    new_starts: dict[str, int] = {}
    prev: Stop | None = None
    for stop in timeline:
        begin = start_s if stop.job.id == job.id else stop.start
        if prev is not None:
            ready = (
                new_starts[prev.job.id]
                + prev.job.duration_s
                + drive(prev.job.location, stop.job.location)
            )
            if ready > begin:
                if stop.job.id == job.id or stop.job.locked_start_s is not None:
                    violations.append(
                        _violation(
                            "overlap",
                            ctx.orders.get(stop.job.id, order),
                            "Starts before the previous visit can end and the drive is done.",
                        )
                    )
                else:
                    begin = ready
        new_starts[stop.job.id] = begin
        if stop.job.id != job.id and begin != stop.start:
            retimed.append(
                {
                    "work_order_id": stop.job.id,
                    "number": ctx.orders[stop.job.id].number,
                    "from": ctx.at(stop.start).isoformat(),
                    "to": ctx.at(begin).isoformat(),
                }
            )
        the_order = order if stop.job.id == job.id else ctx.orders[stop.job.id]
        for w in stop.job.windows[:1]:
            if not (w.start <= begin <= w.end):
                violations.append(
                    _violation(
                        "outside_window",
                        the_order,
                        "Starts outside the customer's requested window.",
                    )
                )
        if stop.job.due_s is not None and begin + stop.job.duration_s > stop.job.due_s:
            violations.append(_violation("sla_late", the_order, "Finishes after the SLA deadline."))
        shifts = tech.shifts
        if not any(s.start <= begin and begin + stop.job.duration_s <= s.end for s in shifts):
            violations.append(
                _violation("outside_shift", the_order, "Outside the technician's shift.")
            )
        prev = stop
    result = {
        "work_order_id": order.id,
        "technician_id": row.id,
        "start": start.isoformat(),
        "retimed": retimed,
        "violations": violations,
        "applied": False,
    }
    if violations and not data.get("force"):
        raise Conflict(
            "The move breaks the plan; send force=true to accept it anyway.",
            code="plan_violations",
            violations=violations,
            retimed=retimed,
        )
    end = start + dt.timedelta(seconds=job.duration_s)
    assign(
        db_session=db_session,
        principal=principal,
        order=order,
        technician_id=row.id,
        start=start,
        end=end,
        reason="board_move",
    )
    for item in retimed:
        other = ctx.orders[item["work_order_id"]]
        new_start = dt.datetime.fromisoformat(item["to"])
        length = (
            (other.scheduled_end - other.scheduled_start)
            if other.scheduled_end and other.scheduled_start
            else dt.timedelta(minutes=other.estimated_duration_minutes)
        )
        assign(
            db_session=db_session,
            principal=principal,
            order=other,
            technician_id=row.id,
            start=new_start,
            end=new_start + length,
            reason="board_move_retime",
        )
    db_session.commit()
    result["applied"] = True
    return result


def _violation(code: str, order: WorkOrder, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "work_order_id": str(order.id),
        "number": order.number,
        "message": message,
    }
