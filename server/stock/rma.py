"""RMA cases: a defective part's way back to the vendor, into repair, or to scrap.

Each step that moves the part posts to the ledger in the same transaction, so the
defective, vendor, scrap and warehouse balances always explain where it is.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from server.errors import Conflict, ValidationFailed
from server.parts.models import Part
from server.stock import service
from server.stock.models import WAREHOUSE, RmaCase, StockLocation

# status -> the statuses it may move to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("shipped", "scrapped"),
    "shipped": ("repaired", "replaced", "credited"),
    "repaired": ("closed",),
    "replaced": ("closed",),
    "credited": ("closed",),
    "scrapped": ("closed",),
    "closed": (),
}


def rma_query(*, filters: dict[str, Any]) -> Select[tuple[RmaCase]]:
    """Cases, newest first, filtered by status, work order or part (tenant-scoped)."""
    stmt = select(RmaCase)
    for key in ("status", "work_order_id", "part_id"):
        if key in filters:
            stmt = stmt.where(getattr(RmaCase, key) == filters[key])
    return stmt.order_by(RmaCase.created_at.desc(), RmaCase.id)


def _warehouse(db_session: Session, location_id: uuid.UUID | None) -> StockLocation:
    location = db_session.get(StockLocation, location_id) if location_id else None
    if location is None or location.kind != WAREHOUSE:
        raise ValidationFailed(
            "warehouse_id must name a warehouse for parts coming back.",
            code="unknown_location",
            errors={"json": {"warehouse_id": ["Not a warehouse of this tenant."]}},
        )
    return location


def transition(
    *,
    db_session: Session,
    case: RmaCase,
    actor_id: uuid.UUID,
    data: dict[str, Any],
) -> RmaCase:
    """Move a case along its lifecycle, posting the part's movement when it travels."""
    to = data["to"]
    if to not in TRANSITIONS.get(case.status, ()):
        raise Conflict(
            f"An RMA case that is {case.status} cannot become {to}.",
            code="invalid_transition",
            current_status=case.status,
            allowed=list(TRANSITIONS.get(case.status, ())),
        )
    part = db_session.get(Part, case.part_id)
    assert part is not None
    serials = [case.serial] if case.serial else None

    def move(source: StockLocation, destination: StockLocation, numbers: Any) -> None:
        service.post(
            db_session,
            part=part,
            source=source,
            destination=destination,
            quantity=case.quantity,
            reason="rma",
            serials=numbers,
            work_order_id=case.work_order_id,
            actor_id=actor_id,
            note=f"{case.number}: {to}",
        )

    if to == "shipped":
        move(
            service.singleton(db_session, "defective"),
            service.singleton(db_session, "vendor"),
            serials,
        )
        case.vendor_reference = data.get("vendor_reference") or case.vendor_reference
    elif to == "scrapped":
        move(
            service.singleton(db_session, "defective"),
            service.singleton(db_session, "scrap"),
            serials,
        )
    elif to == "repaired":
        move(
            service.singleton(db_session, "vendor"),
            _warehouse(db_session, data.get("warehouse_id")),
            serials,
        )
    elif to == "replaced":
        replacement = data.get("new_serial")
        if part.serialized and not replacement:
            raise ValidationFailed(
                "A replacement of a serialised part needs new_serial.", code="serials_required"
            )
        move(
            service.singleton(db_session, "vendor"),
            _warehouse(db_session, data.get("warehouse_id")),
            [replacement] if part.serialized else None,
        )
    if data.get("note"):
        case.note = "\n".join(filter(None, [case.note, data["note"]]))
    case.status = to
    db_session.commit()
    return case
