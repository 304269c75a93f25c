"""Calls from the work-order service into collaboration rules."""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.work_orders.models import WorkOrder
from workflow.lifecycle import Status


def check_transition(*, db_session: Session, order: WorkOrder, target: Status) -> None:
    """Raise a domain error when the move is refused (a parent completing with open
    subtasks it requires)."""
    if target is not Status.COMPLETED or not order.requires_subtasks:
        return
    # Imported here: the collab service imports the work-order service, which imports us.
    from server.collab.service import check_subtasks_done

    check_subtasks_done(db_session=db_session, order=order)
