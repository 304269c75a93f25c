"""Read side of the ledger: the statements behind the list and lookup endpoints.

Tenant scoping is automatic (server.db adds it to every ORM statement); what is added here
is who may see which rows (a technician only their own van) and the filters.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.errors import NotFound
from server.http import apply_sort, text_search
from server.json_lists import json_list_has_any
from server.parts.models import Part
from server.stock.models import (
    VAN,
    SerialUnit,
    StockBalance,
    StockDiscrepancy,
    StockLocation,
    StockMovement,
)

# The ledger's scale (Numeric(14, 3)); kept here so reads do not depend on posting internals.
SCALE = Decimal("0.001")
HALF_UNIT = Decimal("0.0005")

LOCATION_SORTS = {
    "code": StockLocation.code,
    "name": StockLocation.name,
    "kind": StockLocation.kind,
    "created_at": StockLocation.created_at,
}
BALANCE_COLUMNS = (
    "location_id",
    "location_code",
    "location_kind",
    "part_id",
    "sku",
    "name",
    "on_hand",
    "reserved",
    "available",
)


def location_query(*, filters: dict[str, Any]) -> Select[tuple[StockLocation]]:
    """Locations by kind, active flag, technician or text; kind then code by default."""
    stmt = select(StockLocation)
    stmt = text_search(stmt, filters.get("q"), StockLocation.code, StockLocation.name)
    for key in ("kind", "active", "technician_id"):
        if key in filters:
            stmt = stmt.where(getattr(StockLocation, key) == filters[key])
    return apply_sort(
        stmt,
        filters.get("sort"),
        LOCATION_SORTS,
        [StockLocation.kind, StockLocation.code],
        StockLocation.id,
    )


def movement_query(*, filters: dict[str, Any], dialect: str) -> Select[tuple[StockMovement]]:
    """Movements by part, location (either side), order, reason, serial, time; newest first."""
    stmt = select(StockMovement)
    for key in ("part_id", "work_order_id", "reason"):
        if key in filters:
            stmt = stmt.where(getattr(StockMovement, key) == filters[key])
    if "location_id" in filters:
        where = filters["location_id"]
        stmt = stmt.where(
            or_(StockMovement.from_location_id == where, StockMovement.to_location_id == where)
        )
    if "serial" in filters:
        stmt = stmt.where(
            json_list_has_any(StockMovement.serial_numbers, [filters["serial"].strip()], dialect)
        )
    if "recorded_from" in filters:
        stmt = stmt.where(StockMovement.recorded_at >= filters["recorded_from"])
    if "recorded_to" in filters:
        stmt = stmt.where(StockMovement.recorded_at < filters["recorded_to"])
    return stmt.order_by(StockMovement.recorded_at.desc(), StockMovement.id.desc())


def balance_query(*, filters: dict[str, Any], principal: Principal) -> Select[Any]:
    """Balance rows joined with location and part; technicians see their own van only."""
    stmt = (
        select(
            StockLocation.id.label("location_id"),
            StockLocation.code.label("location_code"),
            StockLocation.kind.label("location_kind"),
            Part.id.label("part_id"),
            Part.sku.label("sku"),
            Part.name.label("name"),
            StockBalance.on_hand.label("on_hand"),
            StockBalance.reserved.label("reserved"),
            (StockBalance.on_hand - StockBalance.reserved).label("available"),
        )
        .select_from(StockBalance)
        .join(StockLocation, StockLocation.id == StockBalance.location_id)
        .join(Part, Part.id == StockBalance.part_id)
    )
    if principal.is_technician:
        if principal.technician_id is None:
            stmt = stmt.where(false())
        else:
            stmt = stmt.where(
                StockLocation.kind == VAN, StockLocation.technician_id == principal.technician_id
            )
    if "location_id" in filters:
        stmt = stmt.where(StockBalance.location_id == filters["location_id"])
    if "part_id" in filters:
        stmt = stmt.where(StockBalance.part_id == filters["part_id"])
    if "kind" in filters:
        stmt = stmt.where(StockLocation.kind == filters["kind"])
    if filters.get("nonzero"):
        # Not "!= 0": SQLite keeps NUMERIC as floating point, so a sum back to zero can
        # leave 1e-17 behind; anything under half a thousandth shows (and is) 0.000.
        stmt = stmt.where(
            or_(
                func.abs(StockBalance.on_hand) >= HALF_UNIT,
                func.abs(StockBalance.reserved) >= HALF_UNIT,
            )
        )
    return stmt.order_by(StockLocation.code, Part.sku, StockBalance.id)


def _cell(value: Any) -> str:
    if isinstance(value, Decimal | float | int):
        return str(Decimal(str(value)).quantize(SCALE))
    text = "" if value is None else str(value)
    # A spreadsheet would run "=HYPERLINK(...)" typed into a part name as a formula.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def balances_csv(rows: Iterable[Any]) -> str:
    """Balance rows as CSV with a header row (quantities with three decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(BALANCE_COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in BALANCE_COLUMNS])
    return out.getvalue()


def serial_history(
    *, db_session: Session, part_id: uuid.UUID, serial: str, dialect: str
) -> dict[str, Any]:
    """Where one serial number is now and every movement that carried it, oldest first."""
    serial = serial.strip()
    unit = db_session.scalar(
        select(SerialUnit).where(SerialUnit.part_id == part_id, SerialUnit.serial == serial)
    )
    if unit is None:
        raise NotFound(f"No serial number {serial!r} of part {part_id}.")
    location = db_session.get(StockLocation, unit.location_id)
    part = db_session.get(Part, part_id)
    assert location is not None and part is not None  # foreign keys
    movements = db_session.scalars(
        select(StockMovement)
        .where(
            StockMovement.part_id == part_id,
            json_list_has_any(StockMovement.serial_numbers, [serial], dialect),
        )
        .order_by(StockMovement.recorded_at, StockMovement.id)
    ).all()
    return {
        "serial": unit.serial,
        "part_id": part.id,
        "sku": part.sku,
        "location_id": location.id,
        "location_code": location.code,
        "location_kind": location.kind,
        "updated_at": unit.updated_at,
        "movements": list(movements),
    }


def discrepancy_query(*, filters: dict[str, Any]) -> Select[tuple[StockDiscrepancy]]:
    """Discrepancies by status, location or part; newest first."""
    stmt = select(StockDiscrepancy)
    for key in ("status", "location_id", "part_id"):
        if key in filters:
            stmt = stmt.where(getattr(StockDiscrepancy, key) == filters[key])
    return stmt.order_by(StockDiscrepancy.created_at.desc(), StockDiscrepancy.id)
