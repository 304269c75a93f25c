"""SLA use cases: calendars, policies, an order's clocks, escalations; each one
transaction. Every check runs before anything is written, so a refused request stores
nothing. The scheduler lives in ``scheduler.py`` (``evaluate_clocks`` is re-exported).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.db import utcnow
from server.errors import Conflict, NotFound, ValidationFailed
from server.http import text_search
from server.sla import clocks as engine
from server.sla import orders
from server.sla.clocks import Calendars, whole_seconds
from server.sla.models import (
    BREACH_ACTIONS,
    METRICS,
    BusinessCalendar,
    SlaClock,
    SlaEscalation,
    SlaPolicy,
)
from server.sla.scheduler import TickReport, evaluate_clocks, run_due
from server.work_orders.models import WorkOrder
from workflow.business_time import WEEKDAYS, Calendar, CalendarError

__all__ = [
    "TickReport",
    "evaluate_clocks",
    "run_due",
]

# A year of minutes: longer targets are typos, and clock seconds stay far inside 32 bits.
MAX_TARGET_MINUTES = 366 * 24 * 60
EARLIEST_HOLIDAY = dt.date(1900, 1, 1)
LATEST_HOLIDAY = dt.date(2199, 12, 31)


def _calendar_error(exc: CalendarError) -> ValidationFailed:
    return ValidationFailed(
        exc.message, code=exc.code, errors={exc.field_name or "calendar": [exc.message]}
    )


# --- calendars ----------------------------------------------------------------------------


def _normalise_calendar(values: dict[str, Any]) -> dict[str, Any]:
    """Check a whole calendar (CalendarError -> 422 with its code); return stored forms."""
    weekly_in: dict[str, Any] = values.get("weekly_hours") or {}
    holidays_in: list[dict[str, Any]] = values.get("holidays") or []
    dates = [h["date"] for h in holidays_in]
    if len(dates) != len(set(dates)):
        raise ValidationFailed(
            "Each holiday date may appear once.",
            code="invalid_holidays",
            errors={"holidays": ["Duplicate date."]},
        )
    if any(not EARLIEST_HOLIDAY <= d <= LATEST_HOLIDAY for d in dates):
        raise ValidationFailed(
            "Holidays must lie between 1900 and 2199.",
            code="invalid_holidays",
            errors={"holidays": ["Out of range."]},
        )
    timezone = values.get("timezone")
    try:
        Calendar.from_spec(
            # Without a zone of its own the calendar takes the site's: any valid zone checks it.
            timezone=timezone if timezone is not None else "UTC",
            weekly_hours={
                day: [(i["start"], i["end"]) for i in intervals]
                for day, intervals in weekly_in.items()
            },
            holidays=dates,
            is_24x7=bool(values.get("is_24x7")),
        )
    except CalendarError as exc:
        raise _calendar_error(exc) from exc
    weekly = {
        day: sorted(
            ({"start": i["start"], "end": i["end"]} for i in weekly_in[day]),
            key=lambda i: i["start"],
        )
        for day in WEEKDAYS
        if weekly_in.get(day)
    }
    holidays = sorted(
        ({"date": h["date"].isoformat(), "name": h.get("name")} for h in holidays_in),
        key=lambda h: h["date"],
    )
    return {
        "name": values["name"],
        "timezone": timezone,
        "is_24x7": bool(values.get("is_24x7")),
        "weekly_hours": weekly,
        "holidays": holidays,
    }


def _stored_calendar_values(row: BusinessCalendar) -> dict[str, Any]:
    return {
        "name": row.name,
        "timezone": row.timezone,
        "is_24x7": row.is_24x7,
        "weekly_hours": row.weekly_hours or {},
        "holidays": [
            {"date": dt.date.fromisoformat(h["date"]), "name": h.get("name")}
            for h in row.holidays or []
        ],
    }


def _check_calendar_name(db_session: Session, name: str, exclude: uuid.UUID | None = None) -> None:
    stmt = select(BusinessCalendar.id).where(BusinessCalendar.name == name)
    if exclude is not None:
        stmt = stmt.where(BusinessCalendar.id != exclude)
    if db_session.scalar(stmt) is not None:
        raise Conflict("A calendar with this name exists.", code="calendar_name_taken")


def calendar_query(*, args: dict[str, Any]) -> Select[Any]:
    """The tenant's calendars by name."""
    stmt = select(BusinessCalendar).order_by(BusinessCalendar.name, BusinessCalendar.id)
    return text_search(stmt, args.get("q"), BusinessCalendar.name)


def get_calendar(*, db_session: Session, calendar_id: uuid.UUID) -> BusinessCalendar:
    """One calendar of the tenant, else 404."""
    row = db_session.get(BusinessCalendar, calendar_id)
    if row is None:
        raise NotFound(f"No calendar with id {calendar_id}.")
    return row


def create_calendar(
    *, db_session: Session, data: dict[str, Any], commit: bool = True
) -> BusinessCalendar:
    """Validate the whole calendar, then store it (``commit=False``: inside a larger
    transaction, e.g. the demo seed)."""
    values = _normalise_calendar(data)
    _check_calendar_name(db_session, values["name"])
    row = BusinessCalendar(**values)
    db_session.add(row)
    if commit:
        db_session.commit()
    else:
        db_session.flush()
    return row


def update_calendar(
    *,
    db_session: Session,
    calendar: BusinessCalendar,
    data: dict[str, Any],
    now: dt.datetime | None = None,
) -> BusinessCalendar:
    """Change a calendar. Running clocks keep what they consumed under the old hours and
    count in the new ones from ``now`` on (their deadlines move accordingly)."""
    merged = {**_stored_calendar_values(calendar), **data}
    values = _normalise_calendar(merged)
    if values["name"] != calendar.name:
        _check_calendar_name(db_session, values["name"], exclude=calendar.id)
    at = whole_seconds(now or utcnow())
    affected = _running_clocks(db_session, calendar.id)
    old = Calendars(db_session)
    for clock in affected:
        engine.checkpoint(clock, old.of(clock), at)
    for key, value in values.items():
        setattr(calendar, key, value)
    db_session.flush()
    new = Calendars(db_session)
    touched: dict[uuid.UUID, WorkOrder] = {}
    for clock in affected:
        engine.schedule(clock, new.of(clock))
        order = db_session.get(WorkOrder, clock.work_order_id)
        if order is not None:
            touched[order.id] = order
    for order in touched.values():
        engine.refresh_summary(order, engine.order_clocks(db_session, order), new, at)
    db_session.commit()
    return calendar


def _running_clocks(db_session: Session, calendar_id: uuid.UUID) -> list[SlaClock]:
    """Unfinished clocks counting in the calendar, their orders locked first (the lock
    order of the work-order service and the scheduler: order, then clocks)."""
    unfinished = select(SlaClock.work_order_id).where(
        SlaClock.calendar_id == calendar_id, SlaClock.outcome.is_(None)
    )
    order_stmt = select(WorkOrder.id).where(WorkOrder.id.in_(unfinished)).order_by(WorkOrder.id)
    postgres = db_session.get_bind().dialect.name == "postgresql"
    if postgres:
        order_stmt = order_stmt.with_for_update(of=WorkOrder)
    order_ids = list(db_session.scalars(order_stmt))
    if not order_ids:
        return []
    stmt = (
        select(SlaClock)
        .where(
            SlaClock.calendar_id == calendar_id,
            SlaClock.outcome.is_(None),
            SlaClock.work_order_id.in_(order_ids),
        )
        .execution_options(populate_existing=True)
    )
    if postgres:
        stmt = stmt.with_for_update()
    return list(db_session.scalars(stmt))


def delete_calendar(*, db_session: Session, calendar: BusinessCalendar) -> None:
    """Delete a calendar no policy and no unfinished clock uses."""
    used_by_policy = db_session.scalar(select(exists().where(SlaPolicy.calendar_id == calendar.id)))
    used_by_clock = db_session.scalar(
        select(exists().where(SlaClock.calendar_id == calendar.id, SlaClock.outcome.is_(None)))
    )
    if used_by_policy or used_by_clock:
        raise Conflict(
            "The calendar is used by a policy or a running clock.", code="calendar_in_use"
        )
    db_session.delete(calendar)
    db_session.commit()


# --- policies ------------------------------------------------------------------------


def _match_key(priority: str, tier: str | None) -> str:
    return f"{priority}:{tier or '*'}"


def _check_policy(db_session: Session, values: dict[str, Any], exclude: uuid.UUID | None) -> None:
    targets = {m: values.get(f"{m}_minutes") for m in METRICS}
    bad = {
        f"{m}_minutes": [f"Must be 1 to {MAX_TARGET_MINUTES} minutes, or null."]
        for m, v in targets.items()
        if v is not None and not 0 < v <= MAX_TARGET_MINUTES
    }
    if bad:
        raise ValidationFailed("SLA targets must be positive.", code="invalid_target", errors=bad)
    if all(v is None for v in targets.values()):
        raise ValidationFailed(
            "Set at least one target (first response, arrival or resolution).",
            code="invalid_target",
            errors={f"{m}_minutes": ["At least one target is required."] for m in METRICS},
        )
    percent = values.get("warn_at_percent")
    if not isinstance(percent, int) or not 1 <= percent <= 99:
        raise ValidationFailed(
            "warn_at_percent must be 1 to 99.",
            code="invalid_warn_percent",
            errors={"warn_at_percent": ["Must be 1 to 99."]},
        )
    if values.get("calendar_id") is not None and (
        db_session.get(BusinessCalendar, values["calendar_id"]) is None
    ):
        raise ValidationFailed(
            "Unknown calendar.", code="unknown_calendar", errors={"calendar_id": ["Unknown."]}
        )
    if values.get("active"):
        stmt = select(SlaPolicy.id).where(
            SlaPolicy.active.is_(True),
            SlaPolicy.match_key == _match_key(values["priority"], values.get("customer_tier")),
        )
        if exclude is not None:
            stmt = stmt.where(SlaPolicy.id != exclude)
        other = db_session.scalar(stmt)
        if other is not None:
            raise Conflict(
                "An active policy for this priority and customer tier exists.",
                code="policy_conflict",
                policy_id=str(other),
            )


def _canonical(values: list[str], order: tuple[str, ...] | list[str]) -> list[str]:
    return [v for v in order if v in set(values)]


POLICY_FIELDS = (
    "name",
    "priority",
    "customer_tier",
    "first_response_minutes",
    "arrival_minutes",
    "resolution_minutes",
    "calendar_id",
    "warn_at_percent",
    "pause_hold_reasons",
    "breach_actions",
    "active",
)


def policy_query(*, args: dict[str, Any]) -> Select[Any]:
    """The tenant's policies, filtered."""
    stmt = select(SlaPolicy).order_by(
        SlaPolicy.priority, SlaPolicy.customer_tier, SlaPolicy.name, SlaPolicy.id
    )
    for key in ("priority", "customer_tier", "calendar_id"):
        if key in args:
            stmt = stmt.where(getattr(SlaPolicy, key) == args[key])
    if "active" in args:
        stmt = stmt.where(SlaPolicy.active.is_(args["active"]))
    return text_search(stmt, args.get("q"), SlaPolicy.name)


def get_policy(*, db_session: Session, policy_id: uuid.UUID) -> SlaPolicy:
    """One policy of the tenant, else 404."""
    row = db_session.get(SlaPolicy, policy_id)
    if row is None:
        raise NotFound(f"No SLA policy with id {policy_id}.")
    return row


def create_policy(*, db_session: Session, data: dict[str, Any], commit: bool = True) -> SlaPolicy:
    """Validate, then store a policy (it applies to orders created or re-targeted later)."""
    values = {
        "customer_tier": None,
        "first_response_minutes": None,
        "arrival_minutes": None,
        "resolution_minutes": None,
        "calendar_id": None,
        "warn_at_percent": 75,
        "pause_hold_reasons": ["customer", "parts"],
        "breach_actions": [],
        "active": True,
        **data,
    }
    _check_policy(db_session, values, exclude=None)
    values["pause_hold_reasons"] = sorted(set(values["pause_hold_reasons"]))
    values["breach_actions"] = _canonical(values["breach_actions"], BREACH_ACTIONS)
    row = SlaPolicy(
        **{k: values[k] for k in POLICY_FIELDS},
        match_key=_match_key(values["priority"], values["customer_tier"]),
    )
    db_session.add(row)
    if commit:
        db_session.commit()
    else:
        db_session.flush()
    return row


def update_policy(*, db_session: Session, policy: SlaPolicy, data: dict[str, Any]) -> SlaPolicy:
    """Change a policy; running clocks keep their targets until re-targeted."""
    values = {k: getattr(policy, k) for k in POLICY_FIELDS}
    values.update(data)
    _check_policy(db_session, values, exclude=policy.id)
    values["pause_hold_reasons"] = sorted(set(values["pause_hold_reasons"] or []))
    values["breach_actions"] = _canonical(values["breach_actions"] or [], BREACH_ACTIONS)
    for key in POLICY_FIELDS:
        if getattr(policy, key) != values[key]:
            setattr(policy, key, values[key])
    policy.match_key = _match_key(values["priority"], values["customer_tier"])
    db_session.commit()
    return policy


# --- an order's clocks ---------------------------------------------------------------------


def order_sla(
    *,
    db_session: Session,
    principal: Principal,
    order_id: uuid.UUID,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The order's clocks as of ``at`` (default now); 404 for orders the caller cannot see."""
    from server.work_orders.service import get_order

    order = get_order(db_session=db_session, principal=principal, order_id=order_id)
    return orders.order_view(db_session, order, at or utcnow())


# --- escalations ---------------------------------------------------------------------------


def escalation_query(*, args: dict[str, Any]) -> Select[Any]:
    """Escalations, newest first."""
    stmt = select(SlaEscalation).order_by(SlaEscalation.created_at.desc(), SlaEscalation.id)
    for key in ("work_order_id", "metric"):
        if key in args:
            stmt = stmt.where(getattr(SlaEscalation, key) == args[key])
    if args.get("acknowledged") is True:
        stmt = stmt.where(SlaEscalation.acknowledged_at.is_not(None))
    elif args.get("acknowledged") is False:
        stmt = stmt.where(SlaEscalation.acknowledged_at.is_(None))
    return text_search(stmt, args.get("q"), SlaEscalation.reason)


def acknowledge(
    *,
    db_session: Session,
    principal: Principal,
    escalation_id: uuid.UUID,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> SlaEscalation:
    """Mark an escalation seen (idempotent: the first acknowledgement is kept)."""
    row = db_session.get(SlaEscalation, escalation_id)
    if row is None:
        raise NotFound(f"No escalation with id {escalation_id}.")
    if row.acknowledged_at is None:
        row.acknowledged_at = now or utcnow()
        row.acknowledged_by_id = principal.user_id
        row.note = note
        db_session.commit()
    return row
