"""Calls from the work-order service into SLA clocks; the only SLA entry points it uses."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from server.work_orders.models import WorkOrder
from workflow.lifecycle import Status


def on_order_created(*, db_session: Session, order: WorkOrder, now: dt.datetime) -> None:
    """Start the order's clocks (flushed order, same transaction)."""
    from server.sla import orders

    orders.start_clocks(db_session, order, now)


def on_order_changed(
    *, db_session: Session, order: WorkOrder, changed: set[str], now: dt.datetime
) -> None:
    """Re-target clocks when fields an SLA policy depends on (priority) changed."""
    if "priority" not in changed:
        return
    from server.sla import orders

    orders.retarget(db_session, order, now)


def on_order_transition(
    *,
    db_session: Session,
    order: WorkOrder,
    source: Status,
    target: Status,
    occurred_at: dt.datetime,
) -> None:
    """Stop, pause or resume clocks on a status change."""
    from server.sla import orders

    orders.transition(db_session, order, source, target, occurred_at)


def on_first_response(*, db_session: Session, order: WorkOrder, at: dt.datetime) -> None:
    """A staff member answered the customer (customer-visible comment)."""
    from server.sla import orders

    orders.first_response(db_session, order, at)
