"""Calls from the work-order service into collaboration rules."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.work_orders.models import WorkOrder
from workflow.lifecycle import Status


def check_transition(*, db_session: Session, order: WorkOrder, target: Status) -> None:
    """Raise a domain error when the move is refused (a parent completing with open
    subtasks it requires)."""
