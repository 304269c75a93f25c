"""Rows <-> WatermelonDB raw records: ids as strings, times as epoch milliseconds, JSON as
strings, positions as lat/lon numbers. The column list comes from sync.policy."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from geo.sql import point_from_element
from server.checklists.models import ChecklistTemplate
from server.customers.models import Customer, Site
from server.equipment.models import Equipment
from server.field.models import CheckIn, StatusEvent, WorkOrderNote, WorkOrderPhoto
from server.kb.models import KbArticle
from server.parts.models import Part, PartUsage
from server.stock.models import StockBalance
from server.work_orders.models import WorkOrder
from sync.policy import POLICIES, ColumnType

MODELS: dict[str, type[Any]] = {
    "work_orders": WorkOrder,
    "customers": Customer,
    "sites": Site,
    "equipment": Equipment,
    "parts": Part,
    "part_usages": PartUsage,
    "work_order_notes": WorkOrderNote,
    "status_events": StatusEvent,
    "check_ins": CheckIn,
    "work_order_photos": WorkOrderPhoto,
    "checklist_templates": ChecklistTemplate,
    "kb_articles": KbArticle,
    "van_stock": StockBalance,
}
# Columns that hold ids of other rows: parsed as UUIDs when a device writes them.
ID_COLUMNS = {
    "work_order_id",
    "part_id",
    "equipment_id",
    "corrects_id",
    "created_by_id",
    "technician_id",
    "lead_technician_id",
    "customer_id",
    "site_id",
    "parent_id",
    "checklist_template_id",
}


def ms(value: dt.datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(value.timestamp() * 1000)


def from_ms(value: float) -> dt.datetime:
    """Aware UTC datetime from epoch milliseconds."""
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return ms(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def to_wire(table: str, obj: Any) -> dict[str, Any]:
    """The device-visible record of one row."""
    policy = POLICIES[table]
    point = None
    if hasattr(obj, "location"):
        point = point_from_element(obj.location)
    out: dict[str, Any] = {"id": str(obj.id)}
    for name, spec in policy.columns.items():
        if name in ("lat", "lon") and point is not None and not hasattr(type(obj), name):
            value: Any = getattr(point, name)
        elif name in ("lat", "lon") and not hasattr(type(obj), name):
            value = None
        elif name == "helper_ids":
            value = sorted(str(h) for h in obj.helper_ids)
        else:
            value = getattr(obj, name, None)
        if spec.type is ColumnType.JSON:
            out[name] = (
                None
                if value is None
                else json.dumps(_jsonable(value), sort_keys=True, ensure_ascii=False)
            )
        elif spec.type is ColumnType.TIMESTAMP:
            out[name] = None if value is None else ms(value)
        elif spec.type is ColumnType.NUMBER and isinstance(value, Decimal):
            out[name] = float(value)  # quantities are exact in the DB, numbers on the wire
        else:
            out[name] = _plain(value)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return _plain(value)


def from_wire(table: str, column: str, value: Any) -> Any:
    """A device value as the model attribute expects it (raises ValueError when malformed)."""
    if value is None:
        return None
    spec = POLICIES[table].columns[column]
    if spec.type is ColumnType.TIMESTAMP:
        return from_ms(value)
    if spec.type is ColumnType.JSON:
        return json.loads(value)
    if column in ID_COLUMNS:
        return uuid.UUID(value)
    if spec.type is ColumnType.NUMBER and column in ("quantity", "removed_quantity"):
        return Decimal(str(value))
    return value
