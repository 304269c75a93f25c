"""What a technician may see: only work orders they lead or help on, and what hangs off them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, exists, false, or_, select

from server.auth.principal import Principal
from server.work_orders.models import WorkOrder, WorkOrderHelper


def assigned_to(technician_id: uuid.UUID | None) -> ColumnElement[bool]:
    """WorkOrder rows where the technician is the lead or a helper."""
    if technician_id is None:
        return false()
    helper = exists().where(
        WorkOrderHelper.work_order_id == WorkOrder.id,
        WorkOrderHelper.technician_id == technician_id,
    )
    return or_(WorkOrder.lead_technician_id == technician_id, helper)


def visible_orders(principal: Principal) -> ColumnElement[bool] | None:
    """Extra WHERE for work-order queries; None when the role sees every order."""
    return assigned_to(principal.technician_id) if principal.is_technician else None


def linked_ids(principal: Principal, column: Any) -> Any:
    """Subquery of ``column`` values (e.g. WorkOrder.site_id) over the technician's orders."""
    return select(column).where(assigned_to(principal.technician_id)).scalar_subquery()
