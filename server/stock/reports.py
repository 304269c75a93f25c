"""Ledger reports: consumption, reorder suggestions, parts cost per work order, turnover.

All are read from the movements (the source of truth) and the balance cache; costs use the
catalogue's current unit cost and price (the ledger does not record historical costs yet).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from server.equipment.models import Equipment
from server.errors import ValidationFailed
from server.parts.models import Part
from server.stock.models import (
    CONTROLLED,
    StockBalance,
    StockLevel,
    StockLocation,
    StockMovement,
)
from server.stock.service import quantity_of
from server.technicians.models import Technician
from server.work_orders.models import WorkOrder

SCALE = Decimal("0.001")
GROUPS = ("part", "equipment_model", "technician", "month")


def _consumed(period_from: dt.datetime | None, period_to: dt.datetime | None) -> Any:
    """Consumption movements in the period that were not reversed."""
    reversal = aliased(StockMovement)
    # NOT EXISTS, not an outer join + IS NULL: PostgreSQL estimated the latter at one row
    # and nested-looped a quarter's consumption against every part (seconds at 1M rows).
    undone = exists().where(reversal.reverses_id == StockMovement.id)
    stmt = select(StockMovement).where(StockMovement.reason == "consumption", ~undone)
    if period_from is not None:
        stmt = stmt.where(StockMovement.occurred_at >= period_from)
    if period_to is not None:
        stmt = stmt.where(StockMovement.occurred_at < period_to)
    return stmt.subquery()


def _at_the_time(recorded: Any, catalogue: Any) -> Any:
    """The value recorded on the movement, else (older rows) the catalogue's."""
    return func.coalesce(recorded, catalogue)


def consumption(
    *,
    db_session: Session,
    group_by: str,
    period_from: dt.datetime | None = None,
    period_to: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Quantity and cost consumed in the field, grouped by part, model, technician or month."""
    if group_by not in GROUPS:
        raise ValidationFailed(
            f"group_by must be one of {', '.join(GROUPS)}.", code="invalid_group"
        )
    if period_from and period_to and period_to <= period_from:
        raise ValidationFailed("to must be after from.", code="invalid_date_range")
    used = _consumed(period_from, period_to)
    van = aliased(StockLocation)
    cost = func.sum(used.c.quantity * _at_the_time(used.c.unit_cost, Part.unit_cost))
    price = func.sum(used.c.quantity * _at_the_time(used.c.unit_price, Part.unit_price))
    base = select().select_from(used).join(Part, Part.id == used.c.part_id)
    if group_by == "part":
        stmt = base.add_columns(
            Part.id.label("key"), Part.sku.label("label"), func.sum(used.c.quantity), cost, price
        ).group_by(Part.id, Part.sku)
    elif group_by == "equipment_model":
        model = func.coalesce(Equipment.model, "")
        stmt = (
            base.join(WorkOrder, WorkOrder.id == used.c.work_order_id)
            .outerjoin(Equipment, Equipment.id == WorkOrder.equipment_id)
            .add_columns(
                model.label("key"), model.label("label"), func.sum(used.c.quantity), cost, price
            )
            .group_by(model)
        )
    elif group_by == "technician":
        stmt = (
            base.join(van, van.id == used.c.from_location_id)
            .outerjoin(Technician, Technician.id == van.technician_id)
            .add_columns(
                van.technician_id.label("key"),
                func.coalesce(Technician.name, van.code).label("label"),
                func.sum(used.c.quantity),
                cost,
                price,
            )
            .group_by(van.technician_id, Technician.name, van.code)
        )
    else:
        dialect = db_session.get_bind().dialect.name
        month = (
            func.to_char(used.c.occurred_at, "YYYY-MM")
            if dialect == "postgresql"
            else func.strftime("%Y-%m", used.c.occurred_at)
        )
        stmt = base.add_columns(
            month.label("key"), month.label("label"), func.sum(used.c.quantity), cost, price
        ).group_by(month)
    rows = []
    for key, label, quantity, total_cost, total_price in db_session.execute(stmt):
        rows.append(
            {
                "key": str(key) if key is not None else None,
                "label": label or "",
                "quantity": Decimal(str(quantity)).quantize(SCALE),
                "cost": Decimal(str(total_cost or 0)).quantize(Decimal("0.01")),
                "price": Decimal(str(total_price or 0)).quantize(Decimal("0.01")),
            }
        )
    return sorted(rows, key=lambda r: (-r["cost"], r["label"]))


def work_order_costs(*, db_session: Session, work_order_id: uuid.UUID) -> dict[str, Any]:
    """Parts consumed on one order (net of reversals), at cost and at price, per part."""
    used = _consumed(None, None)
    stmt = (
        select(
            Part.id,
            Part.sku,
            Part.name,
            func.sum(used.c.quantity),
            func.sum(used.c.quantity * _at_the_time(used.c.unit_cost, Part.unit_cost)),
            func.sum(used.c.quantity * _at_the_time(used.c.unit_price, Part.unit_price)),
        )
        .select_from(used)
        .join(Part, Part.id == used.c.part_id)
        .where(used.c.work_order_id == work_order_id)
        .group_by(Part.id, Part.sku, Part.name)
        .order_by(Part.sku)
    )
    lines = []
    for part_id, sku, name, quantity, cost, price in db_session.execute(stmt):
        lines.append(
            {
                "part_id": part_id,
                "sku": sku,
                "name": name,
                "quantity": Decimal(str(quantity)).quantize(SCALE),
                "cost": Decimal(str(cost or 0)).quantize(Decimal("0.01")),
                "price": Decimal(str(price or 0)).quantize(Decimal("0.01")),
            }
        )
    return {
        "work_order_id": work_order_id,
        "lines": lines,
        "cost": sum((line["cost"] for line in lines), Decimal("0.00")),
        "price": sum((line["price"] for line in lines), Decimal("0.00")),
    }


def reorder(*, db_session: Session, location_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Parts below their minimum (available = on hand - reserved): order up to the maximum."""
    on_hand = func.coalesce(StockBalance.on_hand, 0)
    reserved = func.coalesce(StockBalance.reserved, 0)
    stmt: Select[Any] = (
        select(StockLevel, StockLocation.code, Part.sku, on_hand, reserved)
        .join(StockLocation, StockLocation.id == StockLevel.location_id)
        .join(Part, Part.id == StockLevel.part_id)
        .outerjoin(
            StockBalance,
            and_(
                StockBalance.location_id == StockLevel.location_id,
                StockBalance.part_id == StockLevel.part_id,
            ),
        )
        .order_by(StockLocation.code, Part.sku)
    )
    if location_id is not None:
        stmt = stmt.where(StockLevel.location_id == location_id)
    rows = []
    for level, code, sku, have, held in db_session.execute(stmt):
        available = (Decimal(str(have)) - Decimal(str(held))).quantize(SCALE)
        if available < Decimal(level.min_quantity):
            rows.append(
                {
                    "location_id": level.location_id,
                    "location_code": code,
                    "part_id": level.part_id,
                    "sku": sku,
                    "available": available,
                    "min_quantity": Decimal(level.min_quantity).quantize(SCALE),
                    "max_quantity": Decimal(level.max_quantity).quantize(SCALE),
                    "suggested": (Decimal(level.max_quantity) - available).quantize(SCALE),
                }
            )
    return rows


def turnover(
    *, db_session: Session, period_from: dt.datetime, period_to: dt.datetime
) -> list[dict[str, Any]]:
    """Per part: consumed in the period / stock held now in controlled locations."""
    used = _consumed(period_from, period_to)
    consumed: dict[Any, Any] = dict(
        db_session.execute(  # type: ignore[arg-type]
            select(used.c.part_id, func.sum(used.c.quantity)).group_by(used.c.part_id)
        ).all()
    )
    held: dict[Any, Any] = dict(
        db_session.execute(  # type: ignore[arg-type]
            select(StockBalance.part_id, func.sum(StockBalance.on_hand))
            .join(StockLocation, StockLocation.id == StockBalance.location_id)
            .where(StockLocation.kind.in_(CONTROLLED))
            .group_by(StockBalance.part_id)
        ).all()
    )
    parts = {
        p.id: p
        for p in db_session.scalars(select(Part).where(Part.id.in_(set(consumed) | set(held))))
    }
    rows = []
    for part_id, part in parts.items():
        q = Decimal(str(consumed.get(part_id, 0))).quantize(SCALE)
        stock = Decimal(str(held.get(part_id, 0))).quantize(SCALE)
        rows.append(
            {
                "part_id": part_id,
                "sku": part.sku,
                "consumed": q,
                "on_hand": stock,
                "turnover": (q / stock).quantize(Decimal("0.01")) if stock > 0 else None,
            }
        )
    return sorted(rows, key=lambda r: r["sku"])


def set_level(*, db_session: Session, data: dict[str, Any]) -> StockLevel:
    """Create or change the min/max of a part at a location."""
    location = db_session.get(StockLocation, data["location_id"])
    part = db_session.get(Part, data["part_id"])
    if location is None:
        raise ValidationFailed("Unknown location.", code="unknown_location")
    if part is None:
        raise ValidationFailed("Unknown part.", code="unknown_part")
    if data["min_quantity"] < 0:
        raise ValidationFailed("min_quantity may not be negative.", code="invalid_quantity")
    low = Decimal("0") if data["min_quantity"] == 0 else quantity_of(data["min_quantity"])
    high = quantity_of(data["max_quantity"])
    if high < low:
        raise ValidationFailed("max_quantity must be at least min_quantity.", code="invalid_levels")
    level = db_session.scalar(
        select(StockLevel).where(
            StockLevel.location_id == location.id, StockLevel.part_id == part.id
        )
    )
    if level is None:
        level = StockLevel(location_id=location.id, part_id=part.id)
        db_session.add(level)
    level.min_quantity, level.max_quantity = low, high
    db_session.commit()
    return level


def as_csv(rows: list[dict[str, Any]]) -> str:
    """Rows of a report as CSV with a header line (empty report: header only if known)."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
