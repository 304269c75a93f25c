"""The SLA scheduler: warnings when a clock reaches its policy's percentage, breaches when
it passes its deadline, and the policy's escalation actions.

One pass (``evaluate_clocks``) is one transaction over at most ``limit`` orders with a
warning or breach due. It locks those orders first (PostgreSQL: ``FOR UPDATE SKIP
LOCKED``, so two workers split the work and a worker never waits for an order a request
is changing) and then their clocks, the same order the work-order service takes them
in (order row, then clocks), so nothing deadlocks. Each warning and each breach happens
once per clock (``warned_at`` / ``breached_at``); a second pass finds nothing to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.auth.models import User
from server.auth.service_accounts import service_principal
from server.db import SYSTEM_KEY, TENANT_KEY, set_tenant, system_scope, utcnow
from server.errors import DomainError
from server.notifications.models import NotificationOutbox
from server.sla import clocks as engine
from server.sla import orders
from server.sla.clocks import Calendars, whole_seconds
from server.sla.models import BREACH_ACTIONS, SlaClock, SlaEscalation, SlaPolicy
from server.technicians.models import Technician
from server.work_orders.models import PRIORITIES, WorkOrder
from workflow.lifecycle import OPEN, Role, Status

log = logging.getLogger(__name__)

KIND_WARNING = "sla_warning"
KIND_BREACH = "sla_breach"
DEFAULT_BATCH = 100
# One step up per breach; urgent stays urgent.
NEXT_PRIORITY = dict(zip(PRIORITIES, PRIORITIES[1:], strict=False))
# Orders nobody has started on yet: the lead may still be swapped.
REASSIGNABLE = frozenset({Status.SCHEDULED.value, Status.DISPATCHED.value, Status.ACCEPTED.value})
OPEN_STATUSES = frozenset(s.value for s in OPEN)


@dataclass
class TickReport:
    """What one pass did."""

    orders: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    notifications: int = 0


@contextlib.contextmanager
def _as_tenant(db_session: Session, tenant_id: uuid.UUID) -> Iterator[None]:
    """Run as the tenant (scoped queries, stamped rows), then restore the session's mode."""
    saved = {key: db_session.info.get(key) for key in (TENANT_KEY, SYSTEM_KEY)}
    set_tenant(db_session, tenant_id)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                db_session.info.pop(key, None)
            else:
                db_session.info[key] = value


def _claim(db_session: Session, now: dt.datetime, limit: int) -> list[WorkOrder]:
    due = select(SlaClock.work_order_id).where(SlaClock.next_check_at <= now)
    stmt = (
        select(WorkOrder)
        .where(WorkOrder.id.in_(due))
        .order_by(WorkOrder.sla_due_at.asc().nulls_last(), WorkOrder.id)
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if db_session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=WorkOrder, skip_locked=True)
    return list(db_session.scalars(stmt))


def evaluate_clocks(
    *, db_session: Session, now: dt.datetime | None = None, limit: int = DEFAULT_BATCH
) -> TickReport:
    """One pass over orders with a warning or breach due at ``now``; commits."""
    when = whole_seconds(now or utcnow())
    report = TickReport()
    try:
        with system_scope(db_session):
            claimed = _claim(db_session, when, limit)
        for order in claimed:
            with _as_tenant(db_session, order.tenant_id):
                _evaluate_order(db_session, order, when, report)
            report.orders += 1
        db_session.commit()
    except Exception:
        db_session.rollback()
        raise
    return report


def run_due(
    *, db_session: Session, now: dt.datetime | None = None, limit: int = DEFAULT_BATCH
) -> TickReport:
    """Passes until nothing more is due (or what is left is locked by another worker)."""
    total = TickReport()
    while True:
        report = evaluate_clocks(db_session=db_session, now=now, limit=limit)
        for key in vars(total):
            setattr(total, key, getattr(total, key) + getattr(report, key))
        if report.orders < limit:
            return total


def _evaluate_order(
    db_session: Session, order: WorkOrder, now: dt.datetime, report: TickReport
) -> None:
    clocks = engine.order_clocks(db_session, order, lock=True)
    calendars = Calendars(db_session)
    warned: list[SlaClock] = []
    breached: list[SlaClock] = []
    for clock in clocks:
        if clock.outcome is not None or clock.next_check_at is None or clock.next_check_at > now:
            continue
        calendar = calendars.of(clock)
        if clock.breached_at is None and engine.is_overdue(clock, calendar, now):
            clock.breached_at = now
            # A breach found before its warning (a worker that was down) is not warned of.
            clock.warned_at = clock.warned_at or now
            breached.append(clock)
        elif clock.warned_at is None and engine.is_at_risk(clock, calendar, now):
            clock.warned_at = now
            warned.append(clock)
        engine.schedule(clock, calendar)
        if clock.next_check_at is not None and clock.next_check_at <= now:
            # Cannot happen with consistent arithmetic; never spin on such a clock.
            log.warning("sla clock %s still due at %s; not checking it again", clock.id, now)
            clock.next_check_at = None
    for clock in warned:
        _warn(db_session, order, clock, calendars, now, report)
    for clock in breached:
        _breach(db_session, order, clock, calendars, now)
        report.breaches += 1
    if breached:
        _escalate(db_session, order, breached, now, report)
    engine.refresh_summary(order, engine.order_clocks(db_session, order), calendars, now)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _warn(
    db_session: Session,
    order: WorkOrder,
    clock: SlaClock,
    calendars: Calendars,
    now: dt.datetime,
    report: TickReport,
) -> None:
    consumed = engine.consumed_at(clock, calendars.of(clock), now)
    orders.record(
        db_session,
        order,
        "sla_warning",
        {
            "metric": clock.metric,
            "policy_id": str(clock.policy_id),
            "warn_at_percent": clock.warn_at_percent,
            "percent_elapsed": round(100.0 * consumed / clock.target_seconds, 1),
            "remaining_seconds": clock.target_seconds - consumed,
            "due_at": _iso(clock.due_at),
        },
        min(clock.warn_due_at or now, now),
    )
    report.warnings += 1
    recipients = _users(db_session, order.tenant_id, (Role.DISPATCHER,))
    lead_user = _lead_user(db_session, order)
    if lead_user is not None:
        recipients.append(lead_user)
    due = clock.due_at.isoformat() if clock.due_at else "paused"
    report.notifications += _notify(
        db_session,
        order,
        recipients,
        KIND_WARNING,
        metric=clock.metric,
        title=f"SLA at risk: {order.number}",
        body=f"{clock.metric.replace('_', ' ')} due {due}",
    )


def _breach(
    db_session: Session, order: WorkOrder, clock: SlaClock, calendars: Calendars, now: dt.datetime
) -> None:
    running = clock.running_since is not None and clock.due_at is not None
    occurred = clock.due_at if running and clock.due_at is not None else now
    orders.record(
        db_session,
        order,
        "sla_breached",
        {
            "metric": clock.metric,
            "policy_id": str(clock.policy_id),
            "due_at": _iso(clock.due_at),
            "target_seconds": clock.target_seconds,
            "consumed_seconds": engine.consumed_at(clock, calendars.of(clock), now),
        },
        min(occurred, now),
    )


def _escalate(
    db_session: Session,
    order: WorkOrder,
    breached: list[SlaClock],
    now: dt.datetime,
    report: TickReport,
) -> None:
    wanted: set[str] = set()
    for policy_id in {c.policy_id for c in breached}:
        policy = db_session.get(SlaPolicy, policy_id)
        if policy is not None:
            wanted.update(policy.breach_actions or [])
    if not wanted:
        return
    metrics = [c.metric for c in breached]
    results: list[dict[str, Any]] = []
    if "raise_priority" in wanted:
        results.append(_raise_priority(db_session, order, now))
    if "reassign" in wanted:
        results.append(_reassign(db_session, order))
    if "notify_supervisor" in wanted:
        recipients = _users(db_session, order.tenant_id, (Role.ADMIN, Role.DISPATCHER))
        sent = _notify(
            db_session,
            order,
            recipients,
            KIND_BREACH,
            metric=",".join(metrics),
            title=f"SLA breached: {order.number}",
            body=", ".join(m.replace("_", " ") for m in metrics) + " target missed",
        )
        report.notifications += sent
        results.append({"action": "notify_supervisor", "done": sent > 0, "recipients": sent})
    escalation_ids: list[str] = []
    if "open_escalation" in wanted:
        for clock in breached:
            escalation = SlaEscalation(
                id=uuid.uuid4(),
                tenant_id=order.tenant_id,
                work_order_id=order.id,
                clock_id=clock.id,
                metric=clock.metric,
                reason=f"{clock.metric} target missed (due {_iso(clock.due_at) or 'n/a'})",
                actions=list(results),
                created_at=now,
            )
            db_session.add(escalation)
            escalation_ids.append(str(escalation.id))
        report.escalations += len(escalation_ids)
        results.append(
            {"action": "open_escalation", "done": True, "escalation_ids": escalation_ids}
        )
    results.sort(key=lambda r: BREACH_ACTIONS.index(r["action"]))
    orders.record(db_session, order, "escalated", {"metrics": metrics, "actions": results}, now)


def _raise_priority(db_session: Session, order: WorkOrder, now: dt.datetime) -> dict[str, Any]:
    current = order.priority
    higher = NEXT_PRIORITY.get(current)
    if higher is None:
        return {"action": "raise_priority", "done": False, "reason": "already_highest"}
    order.priority = higher
    order.updated_at = utcnow()
    orders.record(
        db_session,
        order,
        "updated",
        {"changes": {"priority": {"from": current, "to": higher}}, "reason": "sla_breach"},
        now,
    )
    # The new priority's policy takes over the clocks (consumed time kept).
    orders.retarget(db_session, order, now)
    return {"action": "raise_priority", "done": True, "from": current, "to": higher}


def _candidate(db_session: Session, order: WorkOrder) -> Technician | None:
    """The least-loaded other active technician holding every required skill level."""
    exclude = {order.lead_technician_id, *order.helper_ids}
    technicians = db_session.scalars(
        select(Technician).where(
            Technician.tenant_id == order.tenant_id, Technician.active.is_(True)
        )
    )
    needed = {r["skill"]: int(r.get("min_level", 1)) for r in order.required_skills or []}
    candidates = []
    for tech in technicians:
        if tech.id in exclude:
            continue
        levels = {s.skill.code: s.level for s in tech.skills}
        if all(levels.get(code, 0) >= level for code, level in needed.items()):
            candidates.append(tech)
    if not candidates:
        return None
    load_rows = db_session.execute(
        select(WorkOrder.lead_technician_id, func.count())
        .where(
            WorkOrder.tenant_id == order.tenant_id,
            WorkOrder.lead_technician_id.in_([t.id for t in candidates]),
            WorkOrder.status.in_(sorted(OPEN_STATUSES)),
        )
        .group_by(WorkOrder.lead_technician_id)
    ).tuples()
    load = {tech_id: count for tech_id, count in load_rows}
    return min(candidates, key=lambda t: (load.get(t.id, 0), t.name, str(t.id)))


def _reassign(db_session: Session, order: WorkOrder) -> dict[str, Any]:
    from server.work_orders.service import apply_update

    if order.status not in REASSIGNABLE:
        return {"action": "reassign", "done": False, "reason": "not_reassignable"}
    candidate = _candidate(db_session, order)
    if candidate is None:
        return {"action": "reassign", "done": False, "reason": "no_candidate"}
    previous = order.lead_technician_id
    principal = service_principal(db_session=db_session, tenant_id=order.tenant_id, kind="sla")
    try:
        with db_session.begin_nested():
            apply_update(
                db_session=db_session,
                principal=principal,
                order=order,
                data={"lead_technician_id": candidate.id},
                acting_role=Role.DISPATCHER,
                reason="sla_breach",
            )
    except DomainError as exc:
        return {"action": "reassign", "done": False, "reason": exc.code}
    return {
        "action": "reassign",
        "done": True,
        "from": str(previous) if previous else None,
        "to": str(candidate.id),
        "status": order.status,
    }


def _users(db_session: Session, tenant_id: uuid.UUID, roles: tuple[Role, ...]) -> list[uuid.UUID]:
    stmt = (
        select(User.id)
        .where(
            User.tenant_id == tenant_id,
            User.role.in_([r.value for r in roles]),
            User.is_active.is_(True),
        )
        .order_by(User.id)
    )
    return list(db_session.scalars(stmt))


def _lead_user(db_session: Session, order: WorkOrder) -> uuid.UUID | None:
    if order.lead_technician_id is None:
        return None
    tech = db_session.get(Technician, order.lead_technician_id)
    return tech.user_id if tech is not None else None


def _notify(
    db_session: Session,
    order: WorkOrder,
    user_ids: list[uuid.UUID],
    kind: str,
    *,
    metric: str,
    title: str,
    body: str,
) -> int:
    """Outbox rows in this transaction; payload values are strings (FCM data)."""
    unique = list(dict.fromkeys(user_ids))
    for user_id in unique:
        db_session.add(
            NotificationOutbox(
                tenant_id=order.tenant_id,
                user_id=user_id,
                kind=kind,
                payload={
                    "type": kind,
                    "work_order_id": str(order.id),
                    "number": order.number,
                    "metric": metric,
                    "title": title,
                    "body": body,
                },
                collapse_key=f"sla-{order.id}",
            )
        )
    return len(unique)
