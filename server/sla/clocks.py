"""The clock engine: start, pause, resume, stop and re-target an order's SLA clocks, and
keep the order's SLA summary columns in step.

Rules (the product decisions behind them are in ``server/sla/README.md``):

* Clocks start with the order (its ``created_at``), one per metric the matching policy
  covers. The most specific active policy wins: exact customer tier over any tier.
* first_response stops when the order leaves ``new`` (or on the first customer-visible
  staff answer); arrival stops at ``on_site``; resolution stops at ``completed``;
  ``reopened`` resumes the resolution clock (its time keeps accumulating; a met or
  missed outcome is cleared, a recorded breach stays). ``cancelled`` and ``closed`` stop
  every unfinished clock with outcome ``cancelled`` (closing a completed order changes
  nothing: its clocks are already stopped).
* ``on_hold`` with a hold reason in the policy's pause list pauses every running clock;
  leaving ``on_hold`` resumes them.
* A priority change re-targets to the policy of the new priority, keeping the time
  consumed so far; metrics the new policy does not cover (or every metric, when no
  policy matches) are stopped with outcome ``cancelled``; a metric it newly covers and
  that still matters starts counting from the order's creation. Met and missed clocks
  are history and never change.
* Instants are truncated to whole seconds; consumed time is whole business seconds.
* A running clock is breached once the time is past its ``due_at``; a paused one when
  it consumed more than its target. Stopping decides met/missed the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.customers.models import Customer, Site
from server.db import system_scope
from server.sla.models import METRICS, BusinessCalendar, SlaClock, SlaPolicy
from server.tenants.models import Tenant
from server.work_orders.models import WorkOrder
from workflow.business_time import (
    Calendar,
    CalendarError,
    add_business_seconds,
    business_seconds_between,
    load_zone,
)
from workflow.lifecycle import Status

log = logging.getLogger(__name__)

ONE_SECOND = dt.timedelta(seconds=1)
# Worst first, for the order summary.
SUMMARY_RANK = {"breached": 0, "at_risk": 1, "paused": 2, "ok": 3}
ARRIVAL_PENDING = frozenset(
    {
        Status.NEW.value,
        Status.TRIAGED.value,
        Status.SCHEDULED.value,
        Status.DISPATCHED.value,
        Status.ACCEPTED.value,
        Status.EN_ROUTE.value,
        Status.ON_HOLD.value,
    }
)
RESOLVED = frozenset({Status.COMPLETED.value, Status.CLOSED.value, Status.CANCELLED.value})


def whole_seconds(instant: dt.datetime) -> dt.datetime:
    """The instant in UTC, truncated to the second (clock arithmetic is in seconds)."""
    return instant.astimezone(dt.UTC).replace(microsecond=0)


def warn_seconds(target_seconds: int, percent: int) -> int:
    """Consumed seconds at which ``percent`` of the target has elapsed (rounded up)."""
    return -(-target_seconds * percent // 100)


# --- calendars -----------------------------------------------------------------------


def calendar_from_row(row: BusinessCalendar, timezone: str) -> Calendar:
    """The pure calendar of a stored one; ``timezone`` when the row names none."""
    return Calendar.from_spec(
        timezone=row.timezone or timezone,
        weekly_hours={
            day: [(i["start"], i["end"]) for i in intervals]
            for day, intervals in (row.weekly_hours or {}).items()
        },
        holidays=[h["date"] for h in row.holidays or []],
        is_24x7=row.is_24x7,
    )


class Calendars:
    """Pure calendars of clocks, built once per (calendar, zone) within one use case."""

    def __init__(self, db_session: Session) -> None:
        self.db_session = db_session
        self._cache: dict[tuple[uuid.UUID | None, str], Calendar] = {}

    def get(self, calendar_id: uuid.UUID | None, timezone: str) -> Calendar:
        """The calendar a clock counts in (24x7 without one)."""
        key = (calendar_id, timezone)
        found = self._cache.get(key)
        if found is not None:
            return found
        row = None
        if calendar_id is not None:
            with system_scope(self.db_session):
                row = self.db_session.get(BusinessCalendar, calendar_id)
        try:
            calendar = (
                calendar_from_row(row, timezone)
                if row is not None
                else Calendar.twenty_four_seven(timezone)
            )
        except CalendarError:  # a zone that vanished from tzdata: count every second
            log.warning("calendar %s unusable in %s; counting 24x7 UTC", calendar_id, timezone)
            calendar = Calendar.twenty_four_seven("UTC")
        self._cache[key] = calendar
        return calendar

    def of(self, clock: SlaClock) -> Calendar:
        """The calendar of one clock."""
        return self.get(clock.calendar_id, clock.timezone)

    def forget(self, calendar_id: uuid.UUID) -> None:
        """Drop cached versions of a calendar that was just changed."""
        for key in [k for k in self._cache if k[0] == calendar_id]:
            del self._cache[key]


def order_zone(db_session: Session, order: WorkOrder) -> str:
    """The site's IANA zone (else the tenant's, else UTC) for calendars without one."""
    with system_scope(db_session):
        site = db_session.get(Site, order.site_id)
        tenant = db_session.get(Tenant, order.tenant_id)
    for name in (site.timezone if site else None, tenant.timezone if tenant else None):
        if name:
            try:
                load_zone(name)
                return name
            except CalendarError:
                continue
    return "UTC"


# --- policies ------------------------------------------------------------------------


def customer_tier(db_session: Session, order: WorkOrder) -> str | None:
    """The tier of the order's customer."""
    with system_scope(db_session):
        customer = db_session.get(Customer, order.customer_id)
    return customer.tier if customer is not None else None


def find_policy(
    db_session: Session, *, tenant_id: uuid.UUID, priority: str, tier: str | None
) -> SlaPolicy | None:
    """The most specific active policy: exact tier first, then the any-tier one."""
    stmt = select(SlaPolicy).where(
        SlaPolicy.tenant_id == tenant_id,
        SlaPolicy.active.is_(True),
        SlaPolicy.priority == priority,
    )
    candidates = list(db_session.scalars(stmt))
    exact = [p for p in candidates if tier is not None and p.customer_tier == tier]
    if exact:
        return exact[0]
    generic = [p for p in candidates if p.customer_tier is None]
    return generic[0] if generic else None


def policy_for_order(db_session: Session, order: WorkOrder) -> SlaPolicy | None:
    """The policy that applies to the order as it is now."""
    return find_policy(
        db_session,
        tenant_id=order.tenant_id,
        priority=order.priority,
        tier=customer_tier(db_session, order),
    )


def order_clocks(db_session: Session, order: WorkOrder, *, lock: bool = False) -> list[SlaClock]:
    """The order's clocks in metric order (locked FOR UPDATE on PostgreSQL when asked)."""
    stmt = select(SlaClock).where(
        SlaClock.work_order_id == order.id, SlaClock.tenant_id == order.tenant_id
    )
    if lock and db_session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    stmt = stmt.execution_options(populate_existing=True)
    clocks = list(db_session.scalars(stmt))
    return sorted(clocks, key=lambda c: METRICS.index(c.metric))


# --- one clock -------------------------------------------------------------------------


def consumed_at(clock: SlaClock, calendar: Calendar, at: dt.datetime) -> int:
    """Working seconds the clock has used by ``at``."""
    consumed = clock.consumed_seconds
    if clock.outcome is None and clock.running_since is not None and at > clock.running_since:
        consumed += business_seconds_between(calendar, clock.running_since, at)
    return consumed


def is_overdue(clock: SlaClock, calendar: Calendar, at: dt.datetime) -> bool:
    """Past the deadline at ``at`` (running: past due_at; paused: more than the target)."""
    if clock.running_since is not None:
        return clock.due_at is not None and at > clock.due_at
    return clock.consumed_seconds > clock.target_seconds


def is_at_risk(clock: SlaClock, calendar: Calendar, at: dt.datetime) -> bool:
    """The warning percentage has elapsed by ``at``."""
    threshold = warn_seconds(clock.target_seconds, clock.warn_at_percent)
    return consumed_at(clock, calendar, at) >= threshold


def state_of(clock: SlaClock, calendar: Calendar, at: dt.datetime) -> str:
    """ok, at_risk, breached, paused, met, missed or cancelled."""
    if clock.outcome is not None:
        return clock.outcome
    if clock.breached_at is not None or is_overdue(clock, calendar, at):
        return "breached"
    if clock.running_since is None:
        return "paused"
    if clock.warned_at is not None or is_at_risk(clock, calendar, at):
        return "at_risk"
    return "ok"


def _next_check(clock: SlaClock) -> dt.datetime | None:
    if clock.outcome is not None:
        return None
    if clock.running_since is None:
        # Paused: only a warning or breach that is already due (consumed before the pause).
        due_now = (
            clock.warned_at is None
            and clock.consumed_seconds >= warn_seconds(clock.target_seconds, clock.warn_at_percent)
        ) or (clock.breached_at is None and clock.consumed_seconds > clock.target_seconds)
        return clock.paused_at if due_now else None
    checks = []
    if clock.warned_at is None and clock.warn_due_at is not None:
        checks.append(clock.warn_due_at)
    if clock.breached_at is None and clock.due_at is not None:
        checks.append(clock.due_at + ONE_SECOND)
    return min(checks) if checks else None


def schedule(clock: SlaClock, calendar: Calendar) -> None:
    """Recompute due_at, warn_due_at and next_check_at from the clock's current state."""
    if clock.outcome is None and clock.running_since is not None:
        since = clock.running_since
        left = clock.target_seconds - clock.consumed_seconds
        if left > 0:
            clock.due_at = add_business_seconds(calendar, since, left)
        elif clock.due_at is None or clock.due_at > since:
            clock.due_at = since  # the target was used up before it (re)started
        warn_left = warn_seconds(clock.target_seconds, clock.warn_at_percent)
        warn_left -= clock.consumed_seconds
        clock.warn_due_at = (
            add_business_seconds(calendar, since, warn_left) if warn_left > 0 else since
        )
    clock.next_check_at = _next_check(clock)


def checkpoint(clock: SlaClock, calendar: Calendar, at: dt.datetime) -> None:
    """Fold the working time since ``running_since`` into ``consumed_seconds``."""
    if clock.outcome is None and clock.running_since is not None and at > clock.running_since:
        clock.consumed_seconds += business_seconds_between(calendar, clock.running_since, at)
        clock.running_since = at


def pause(clock: SlaClock, calendar: Calendar, at: dt.datetime) -> bool:
    """Stop the clock from counting; True when it was running."""
    if clock.outcome is not None or clock.running_since is None:
        return False
    at = max(at, clock.running_since)
    checkpoint(clock, calendar, at)
    clock.running_since = None
    clock.paused_at = at
    if clock.consumed_seconds <= clock.target_seconds:
        clock.due_at = None  # no deadline while nothing counts
    clock.warn_due_at = None
    schedule(clock, calendar)
    return True


def resume(clock: SlaClock, calendar: Calendar, at: dt.datetime) -> bool:
    """Count again from ``at``; True when it was paused."""
    if clock.outcome is not None or clock.running_since is not None:
        return False
    if clock.paused_at is not None:
        at = max(at, clock.paused_at)
    clock.running_since = at
    clock.paused_at = None
    schedule(clock, calendar)
    return True


def stop(
    clock: SlaClock, calendar: Calendar, at: dt.datetime, *, outcome: str | None = None
) -> bool:
    """Finish the clock: met or missed by the deadline (or the given outcome)."""
    if clock.outcome is not None:
        return False
    if clock.running_since is not None:
        at = max(at, clock.running_since)
    elif clock.paused_at is not None:
        at = max(at, clock.paused_at)
    if outcome is None:
        missed = clock.breached_at is not None or is_overdue(clock, calendar, at)
        outcome = "missed" if missed else "met"
    checkpoint(clock, calendar, at)
    clock.running_since = None
    clock.paused_at = None
    clock.stopped_at = at
    clock.outcome = outcome
    clock.next_check_at = None
    return True


def reopen(clock: SlaClock, calendar: Calendar, at: dt.datetime) -> bool:
    """Resume a met or missed clock (reopened order): time keeps accumulating."""
    if clock.outcome not in ("met", "missed"):
        return False
    if clock.stopped_at is not None:
        at = max(at, clock.stopped_at)
    clock.outcome = None
    clock.stopped_at = None
    clock.paused_at = None
    clock.running_since = at
    schedule(clock, calendar)
    return True


# --- the order -------------------------------------------------------------------------


def metric_pending(order: WorkOrder, metric: str) -> bool:
    """Whether the metric can still be met or missed for the order as it is now."""
    if metric == "first_response":
        return order.status == Status.NEW.value
    if metric == "arrival":
        return order.status in ARRIVAL_PENDING and order.actual_start is None
    return order.status not in RESOLVED


def pauses(policy: SlaPolicy | None, order: WorkOrder) -> bool:
    """Whether the order's current hold pauses clocks under this policy."""
    return (
        policy is not None
        and order.status == Status.ON_HOLD.value
        and order.hold_reason in (policy.pause_hold_reasons or [])
    )


def new_clock(
    *,
    order: WorkOrder,
    policy: SlaPolicy,
    metric: str,
    timezone: str,
    started_at: dt.datetime,
) -> SlaClock:
    """An unsaved, not yet scheduled clock for one metric."""
    minutes = policy.target_minutes(metric)
    assert minutes is not None
    return SlaClock(
        id=uuid.uuid4(),
        tenant_id=order.tenant_id,
        work_order_id=order.id,
        metric=metric,
        policy_id=policy.id,
        calendar_id=policy.calendar_id,
        timezone=timezone,
        target_seconds=minutes * 60,
        warn_at_percent=policy.warn_at_percent,
        consumed_seconds=0,
        started_at=started_at,
        running_since=started_at,
    )


def summary(
    clocks: Iterable[SlaClock], calendars: Calendars, at: dt.datetime
) -> tuple[str | None, dt.datetime | None]:
    """(sla_state, sla_due_at) of an order from its clocks."""
    clocks = list(clocks)
    unfinished = [c for c in clocks if c.outcome is None]
    if unfinished:
        states = [state_of(c, calendars.of(c), at) for c in unfinished]
        state = min(states, key=lambda s: SUMMARY_RANK[s])
        running = [c.due_at for c in unfinished if c.running_since and c.due_at]
        return state, min(running) if running else None
    outcomes = {c.outcome for c in clocks}
    if "missed" in outcomes:
        return "missed", None
    if "met" in outcomes:
        return "met", None
    return None, None


def refresh_summary(
    order: WorkOrder, clocks: Iterable[SlaClock], calendars: Calendars, at: dt.datetime
) -> None:
    """Write sla_state / sla_due_at on the order, only when they change."""
    state, due = summary(clocks, calendars, at)
    if order.sla_state != state:
        order.sla_state = state
    if order.sla_due_at != due:
        order.sla_due_at = due


@dataclass
class Retarget:
    """What a re-target did, for the order history."""

    from_policy_ids: list[str]
    to_policy_id: str | None
    retargeted: list[str]
    started: list[str]
    cancelled: list[str]

    @property
    def changed(self) -> bool:
        """Whether any clock changed."""
        return bool(self.retargeted or self.started or self.cancelled)

    def payload(self) -> dict[str, Any]:
        """The sla_retargeted event payload."""
        return {
            "from_policy_ids": self.from_policy_ids,
            "to_policy_id": self.to_policy_id,
            "retargeted": self.retargeted,
            "started": self.started,
            "cancelled": self.cancelled,
        }
