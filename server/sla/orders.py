"""Order-level SLA use cases behind the hooks: start, transition, re-target, first
response; and the per-order SLA view. None of them commits: they run inside the
work-order service's transaction (or the scheduler's)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from server.auth.service_accounts import service_principal
from server.sla import clocks as engine
from server.sla.clocks import Calendars, Retarget, whole_seconds
from server.sla.models import METRICS, SlaClock, SlaPolicy
from server.work_orders.models import WorkOrder
from workflow.business_time import business_seconds_between
from workflow.lifecycle import Status


def record(
    db_session: Session,
    order: WorkOrder,
    event_type: str,
    payload: dict[str, Any],
    occurred_at: dt.datetime,
) -> None:
    """An SLA entry in the order history, authored by the tenant's SLA service account."""
    from server.work_orders.service import record_event

    principal = service_principal(db_session=db_session, tenant_id=order.tenant_id, kind="sla")
    record_event(
        db_session=db_session,
        order=order,
        principal=principal,
        event_type=event_type,
        payload=payload,
        occurred_at=occurred_at,
    )


def _late_breach(db_session: Session, order: WorkOrder, clock: SlaClock) -> None:
    """A clock stopped as missed before the scheduler saw the breach: record it now."""
    if clock.outcome != "missed" or clock.breached_at is not None:
        return
    assert clock.stopped_at is not None
    clock.breached_at = clock.stopped_at
    when = clock.due_at if clock.due_at is not None else clock.stopped_at
    record(
        db_session,
        order,
        "sla_breached",
        {
            "metric": clock.metric,
            "policy_id": str(clock.policy_id),
            "due_at": clock.due_at.isoformat() if clock.due_at else None,
            "target_seconds": clock.target_seconds,
            "consumed_seconds": clock.consumed_seconds,
            "detected": "on_stop",
        },
        min(when, clock.stopped_at),
    )


def start_clocks(db_session: Session, order: WorkOrder, now: dt.datetime) -> list[SlaClock]:
    """One clock per metric the order's policy covers, counting from its creation."""
    policy = engine.policy_for_order(db_session, order)
    if policy is None:
        return []
    started_at = whole_seconds(order.created_at or now)
    zone = engine.order_zone(db_session, order)
    calendars = Calendars(db_session)
    clocks = []
    for metric in METRICS:
        if policy.target_minutes(metric) is None:
            continue
        clock = engine.new_clock(
            order=order, policy=policy, metric=metric, timezone=zone, started_at=started_at
        )
        engine.schedule(clock, calendars.of(clock))
        db_session.add(clock)
        clocks.append(clock)
    engine.refresh_summary(order, clocks, calendars, max(whole_seconds(now), started_at))
    return clocks


def _policies(db_session: Session, clocks: list[SlaClock]) -> dict[uuid.UUID, SlaPolicy]:
    found: dict[uuid.UUID, SlaPolicy] = {}
    for policy_id in {c.policy_id for c in clocks}:
        policy = db_session.get(SlaPolicy, policy_id)
        if policy is not None:
            found[policy_id] = policy
    return found


def transition(
    db_session: Session,
    order: WorkOrder,
    source: Status,
    target: Status,
    occurred_at: dt.datetime,
) -> None:
    """Stop, pause or resume the order's clocks for one status change."""
    clocks = engine.order_clocks(db_session, order)
    if not clocks:
        return
    at = whole_seconds(occurred_at)
    calendars = Calendars(db_session)
    stopped: list[SlaClock] = []
    by_metric = {c.metric: c for c in clocks}

    def finish(metric: str) -> None:
        clock = by_metric.get(metric)
        if clock is not None and engine.stop(clock, calendars.of(clock), at):
            stopped.append(clock)

    if target in (Status.CANCELLED, Status.CLOSED):
        for clock in clocks:
            engine.stop(clock, calendars.of(clock), at, outcome="cancelled")
    else:
        if source is Status.ON_HOLD:
            for clock in clocks:
                engine.resume(clock, calendars.of(clock), at)
        if source is Status.NEW:
            finish("first_response")
        if target is Status.ON_SITE:
            finish("arrival")
        if target is Status.COMPLETED:
            for metric in METRICS:
                finish(metric)
        if target is Status.REOPENED and "resolution" in by_metric:
            clock = by_metric["resolution"]
            engine.reopen(clock, calendars.of(clock), at)
        if target is Status.ON_HOLD:
            policies = _policies(db_session, clocks)
            for clock in clocks:
                if engine.pauses(policies.get(clock.policy_id), order):
                    engine.pause(clock, calendars.of(clock), at)
    for clock in stopped:
        _late_breach(db_session, order, clock)
    engine.refresh_summary(order, clocks, calendars, at)


def first_response(db_session: Session, order: WorkOrder, at: dt.datetime) -> None:
    """Stop the first-response clock (idempotent)."""
    clocks = engine.order_clocks(db_session, order)
    clock = next((c for c in clocks if c.metric == "first_response"), None)
    if clock is None or clock.outcome is not None:
        return
    calendars = Calendars(db_session)
    when = whole_seconds(at)
    engine.stop(clock, calendars.of(clock), when)
    _late_breach(db_session, order, clock)
    engine.refresh_summary(order, clocks, calendars, when)


def retarget(db_session: Session, order: WorkOrder, now: dt.datetime) -> Retarget:
    """Move the order's clocks to the policy of its current priority (see clocks.py)."""
    at = whole_seconds(now)
    clocks = engine.order_clocks(db_session, order)
    by_metric = {c.metric: c for c in clocks}
    unfinished = [c for c in clocks if c.outcome is None]
    policy = engine.policy_for_order(db_session, order)
    result = Retarget(
        from_policy_ids=sorted({str(c.policy_id) for c in unfinished}),
        to_policy_id=str(policy.id) if policy else None,
        retargeted=[],
        started=[],
        cancelled=[],
    )
    calendars = Calendars(db_session)
    zone: str | None = None
    for metric in METRICS:
        clock = by_metric.get(metric)
        if clock is not None and clock.outcome in ("met", "missed"):
            continue  # history
        minutes = policy.target_minutes(metric) if policy is not None else None
        if minutes is None:
            if clock is not None and engine.stop(
                clock, calendars.of(clock), at, outcome="cancelled"
            ):
                result.cancelled.append(metric)
            continue
        assert policy is not None
        zone = zone or engine.order_zone(db_session, order)
        if clock is None or clock.outcome == "cancelled":
            if not engine.metric_pending(order, metric):
                continue
            started_at = whole_seconds(order.created_at or now)
            fresh = engine.new_clock(
                order=order, policy=policy, metric=metric, timezone=zone, started_at=started_at
            )
            calendar = calendars.of(fresh)
            fresh.consumed_seconds = business_seconds_between(
                calendar, started_at, max(at, started_at)
            )
            fresh.running_since = max(at, started_at)
            if clock is None:
                clock = fresh
                db_session.add(clock)
                clocks.append(clock)
            else:  # a clock an earlier re-target cancelled: reuse its row
                for key in (
                    "policy_id",
                    "calendar_id",
                    "timezone",
                    "target_seconds",
                    "warn_at_percent",
                    "consumed_seconds",
                    "started_at",
                    "running_since",
                ):
                    setattr(clock, key, getattr(fresh, key))
                for key in ("paused_at", "due_at", "warn_due_at", "warned_at", "breached_at"):
                    setattr(clock, key, None)
                clock.stopped_at = clock.outcome = None
            if engine.pauses(policy, order):
                engine.pause(clock, calendar, clock.running_since or at)
            else:
                engine.schedule(clock, calendar)
            result.started.append(metric)
            continue
        if clock.policy_id == policy.id:
            continue
        engine.checkpoint(clock, calendars.of(clock), at)
        clock.policy_id = policy.id
        clock.calendar_id = policy.calendar_id
        clock.timezone = zone
        clock.target_seconds = minutes * 60
        clock.warn_at_percent = policy.warn_at_percent
        clock.due_at = clock.warn_due_at = None
        # Flags follow the new target: a breach or warning it relieves can happen again.
        if clock.breached_at is not None and clock.consumed_seconds <= clock.target_seconds:
            clock.breached_at = None
        threshold = engine.warn_seconds(clock.target_seconds, clock.warn_at_percent)
        if clock.warned_at is not None and clock.consumed_seconds < threshold:
            clock.warned_at = None
        engine.schedule(clock, calendars.of(clock))
        result.retargeted.append(metric)
    if result.changed:
        record(db_session, order, "sla_retargeted", result.payload(), at)
    engine.refresh_summary(order, clocks, calendars, at)
    return result


def clock_view(clock: SlaClock, calendars: Calendars, at: dt.datetime) -> dict[str, Any]:
    """One clock as the API shows it, evaluated at ``at``."""
    calendar = calendars.of(clock)
    consumed = engine.consumed_at(clock, calendar, at)
    running = clock.outcome is None and clock.running_since is not None
    return {
        "metric": clock.metric,
        "state": engine.state_of(clock, calendar, at),
        "policy_id": clock.policy_id,
        "calendar_id": clock.calendar_id,
        "timezone": clock.timezone,
        "target_seconds": clock.target_seconds,
        "consumed_seconds": consumed,
        "remaining_seconds": clock.target_seconds - consumed,
        "percent_elapsed": round(100.0 * consumed / clock.target_seconds, 1),
        "warn_at_percent": clock.warn_at_percent,
        "running": running,
        "paused": clock.outcome is None and clock.running_since is None,
        "started_at": clock.started_at,
        "due_at": clock.due_at,
        "warned_at": clock.warned_at,
        "breached_at": clock.breached_at,
        "stopped_at": clock.stopped_at,
        "outcome": clock.outcome,
    }


def order_view(db_session: Session, order: WorkOrder, at: dt.datetime) -> dict[str, Any]:
    """The order's SLA: summary and every clock, evaluated at ``at``."""
    when = whole_seconds(at)
    clocks = engine.order_clocks(db_session, order)
    calendars = Calendars(db_session)
    state, due = engine.summary(clocks, calendars, when)
    return {
        "work_order_id": order.id,
        "number": order.number,
        "priority": order.priority,
        "status": order.status,
        "evaluated_at": when,
        "sla_state": state,
        "sla_due_at": due,
        "clocks": [clock_view(c, calendars, when) for c in clocks],
    }
