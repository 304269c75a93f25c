"""Use cases of the ledger's REST API: resolve ids, apply the rule, commit (one each).

Posting itself (stock policy, balances, serials) is ``server.stock.service.post``; this
module turns request data into its arguments and owns the transaction, so a refused
posting leaves nothing behind (the service may already have inserted a zero balance row
or moved a balance before it found the problem).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.db import utcnow
from server.errors import Conflict, NotFound, ValidationFailed
from server.parts.models import Part
from server.stock import service
from server.stock.models import (
    ADJUSTMENT,
    SINGLETONS,
    SUPPLIER,
    VAN,
    VENDOR,
    WAREHOUSE,
    StockBalance,
    StockDiscrepancy,
    StockLocation,
    StockMovement,
)
from server.technicians.models import Technician
from server.work_orders.models import WorkOrder

CLOCK_SKEW = dt.timedelta(minutes=5)
# Codes the ledger gives its own locations (service.singleton, van_for, site_location):
# a warehouse holding one of them would make creating that location fail later.
RESERVED_CODES = frozenset(kind.upper() for kind in SINGLETONS)
SITE_PREFIX, VAN_PREFIX = "SITE-", "VAN-"
# Half a thousandth, not zero: SQLite sums NUMERIC in floating point.


# --- locations ---------------------------------------------------------------------------


def _check_code(db_session: Session, code: str, *, kind: str) -> None:
    upper = code.upper()
    reserved = (
        upper in RESERVED_CODES
        or upper.startswith(SITE_PREFIX)
        or (kind != VAN and upper.startswith(VAN_PREFIX))
    )
    if reserved:
        raise ValidationFailed(
            f"Code '{code}' is reserved for locations the ledger creates.",
            code="reserved_code",
            errors={"json": {"code": ["Reserved."]}},
        )
    if db_session.scalar(select(StockLocation.id).where(StockLocation.code == code)):
        raise Conflict(f"A stock location with code '{code}' exists.", code="duplicate_code")


def _home_warehouse(db_session: Session, warehouse_id: uuid.UUID | None) -> uuid.UUID | None:
    if warehouse_id is None:
        return None
    found = db_session.get(StockLocation, warehouse_id)
    if found is None:
        raise service.unknown_reference(
            "warehouse_id", f"No stock location with id {warehouse_id}.", "unknown_location"
        )
    if found.kind != WAREHOUSE:
        raise ValidationFailed(
            f"{found.code} is a {found.kind}, not a warehouse.",
            code="not_a_warehouse",
            errors={"json": {"warehouse_id": ["Not a warehouse."]}},
        )
    return found.id


def create_location(*, db_session: Session, data: dict[str, Any]) -> StockLocation:
    """Add a warehouse, or the van of a technician (one each; codes unique in the tenant)."""
    with service.transaction(db_session):
        if data["kind"] == WAREHOUSE:
            code, name = data["code"], data["name"].strip()
            location = StockLocation(kind=WAREHOUSE, code=code, name=name)
        else:
            technician = db_session.get(Technician, data["technician_id"])
            if technician is None:
                raise service.unknown_reference(
                    "technician_id",
                    f"No technician with id {data['technician_id']}.",
                    "unknown_technician",
                )
            has_van = select(StockLocation.id).where(StockLocation.technician_id == technician.id)
            if db_session.scalar(has_van):
                raise Conflict(f"{technician.name} already has a van.", code="duplicate_van")
            # The same default code as service.van_for, so it does not matter which came first.
            code = data.get("code") or f"{VAN_PREFIX}{str(technician.id)[:8].upper()}"
            name = (data.get("name") or f"Van {technician.name}").strip()[:200]
            location = StockLocation(
                kind=VAN,
                code=code,
                name=name,
                technician_id=technician.id,
                warehouse_id=_home_warehouse(db_session, data.get("warehouse_id")),
            )
        _check_code(db_session, code, kind=location.kind)
        db_session.add(location)
    return location


def _holds_stock(db_session: Session, location: StockLocation) -> bool:
    stmt = select(func.count()).where(
        StockBalance.location_id == location.id,
        (func.abs(StockBalance.on_hand) >= service.HALF_UNIT)
        | (func.abs(StockBalance.reserved) >= service.HALF_UNIT),
    )
    return bool(db_session.scalar(stmt))


def update_location(
    *, db_session: Session, location: StockLocation, data: dict[str, Any]
) -> StockLocation:
    """Rename, (de)activate or re-home a warehouse or van; others belong to the ledger."""
    with service.transaction(db_session):
        if location.kind not in (WAREHOUSE, VAN):
            raise Conflict(
                f"{location.code} is managed by the ledger and cannot be changed.",
                code="system_location",
            )
        if "warehouse_id" in data:
            if location.kind != VAN:
                raise ValidationFailed(
                    "Only a van has a home warehouse.",
                    code="not_a_van",
                    errors={"json": {"warehouse_id": ["Only vans have this."]}},
                )
            location.warehouse_id = _home_warehouse(db_session, data["warehouse_id"])
        if data.get("active") is False and location.active and _holds_stock(db_session, location):
            raise Conflict(
                f"{location.code} still holds stock: move it out before deactivating.",
                code="location_not_empty",
            )
        if "active" in data:
            location.active = data["active"]
        if "name" in data:
            location.name = data["name"].strip()
    return location


# --- movements ---------------------------------------------------------------------------


def _location(db_session: Session, field: str, ident: uuid.UUID) -> StockLocation:
    found = db_session.get(StockLocation, ident)
    if found is None:
        raise service.unknown_reference(
            field, f"No stock location with id {ident}.", "unknown_location"
        )
    return found


def _missing(field: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field} is required for a {reason}.",
        code="missing_location",
        errors={"json": {field: [f"Required for a {reason}."]}},
    )


def _sides(db_session: Session, data: dict[str, Any]) -> tuple[StockLocation, StockLocation]:
    """The two locations, with the tenant's outside accounts filling an omitted side."""
    reason = data["reason"]
    given = {
        key: _location(db_session, key, data[key])
        for key in ("from_location_id", "to_location_id")
        if data.get(key) is not None
    }
    source, destination = given.get("from_location_id"), given.get("to_location_id")
    if reason == "adjustment" and source is None and destination is None:
        raise ValidationFailed(
            "An adjustment needs from_location_id (a loss) or to_location_id (a find).",
            code="missing_location",
            errors={"json": {"to_location_id": ["Send this or from_location_id."]}},
        )
    if source is None:
        if reason == "receipt":
            source = service.singleton(db_session, SUPPLIER)
        elif reason == "adjustment":
            source = service.singleton(db_session, ADJUSTMENT)
        else:
            raise _missing("from_location_id", reason)
    if destination is None:
        if reason == "adjustment":
            destination = service.singleton(db_session, ADJUSTMENT)
        elif reason == "rma":
            destination = service.singleton(db_session, VENDOR)
        else:
            raise _missing("to_location_id", reason)
    return source, destination


def post_movement(
    *, db_session: Session, principal: Principal, data: dict[str, Any]
) -> StockMovement:
    """Post one manual movement (receipt, transfer, return, adjustment, rma) and commit."""
    quantity = service.quantity_of(data["quantity"])
    occurred_at: dt.datetime | None = data.get("occurred_at")
    if occurred_at is not None and occurred_at > utcnow() + CLOCK_SKEW:
        raise ValidationFailed(
            "occurred_at is in the future.",
            code="occurred_at_in_future",
            errors={"json": {"occurred_at": ["Later than the server clock allows."]}},
        )
    with service.transaction(db_session):
        part = db_session.get(Part, data["part_id"])
        if part is None:
            raise service.unknown_reference(
                "part_id", f"No part with id {data['part_id']}.", "unknown_part"
            )
        work_order_id = data.get("work_order_id")
        if work_order_id is not None and db_session.get(WorkOrder, work_order_id) is None:
            raise service.unknown_reference(
                "work_order_id", f"No work order with id {work_order_id}.", "unknown_work_order"
            )
        source, destination = _sides(db_session, data)
        movement = service.post(
            db_session,
            part=part,
            source=source,
            destination=destination,
            quantity=quantity,
            reason=data["reason"],
            serials=data.get("serial_numbers"),
            work_order_id=work_order_id,
            actor_id=principal.user_id,
            origin="api",
            occurred_at=occurred_at,
            note=data.get("note"),
        )
    return movement


def reverse_movement(
    *,
    db_session: Session,
    principal: Principal,
    movement: StockMovement,
    note: str | None,
) -> StockMovement:
    """Undo a movement with its mirror image (once) and commit."""
    with service.transaction(db_session):
        reversal = service.reverse(
            db_session, movement=movement, actor_id=principal.user_id, note=note
        )
    return reversal


# --- discrepancies -----------------------------------------------------------------------


def resolve_discrepancy(
    *,
    db_session: Session,
    principal: Principal,
    discrepancy_id: uuid.UUID,
    resolution: str,
) -> StockDiscrepancy:
    """Settle an open discrepancy (once) and commit."""
    with service.transaction(db_session):
        # Locked and re-read: of two people resolving at once, the second gets 409.
        found = db_session.scalar(
            select(StockDiscrepancy)
            .where(StockDiscrepancy.id == discrepancy_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if found is None:
            raise NotFound(f"No discrepancy with id {discrepancy_id}.")
        if found.status == "resolved":
            raise Conflict("This discrepancy is already resolved.", code="already_resolved")
        found.status = "resolved"
        found.resolution = resolution.strip()
        found.resolved_by_id = principal.user_id
        found.resolved_at = utcnow()
    return found
