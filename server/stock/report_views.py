"""Ledger reports over HTTP (JSON, or CSV with ?format=csv) and min/max levels."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from server.auth.principal import OFFICE_ROLES, PLANNER_ROLES, roles_required
from server.db import db
from server.http import Blueprint, get_or_404
from server.stock import reports
from server.stock.schemas import Quantity
from server.work_orders.models import WorkOrder

blp = Blueprint(
    "stock_reports",
    __name__,
    url_prefix="/stock",
    description="Spare-parts reports (consumption, reorder, costs, turnover) and min/max levels.",
)
FORMAT = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class PeriodArgsSchema(Schema):
    """A period [from, to) and the output format."""

    from_ = fields.AwareDateTime(data_key="from")
    to = fields.AwareDateTime()
    format = FORMAT

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("from_") and data.get("to") and data["to"] <= data["from_"]:
            raise ValidationError("to must be after from.", "to")


class ConsumptionArgsSchema(PeriodArgsSchema):
    """Consumption grouping."""

    group_by = fields.String(load_default="part", validate=validate.OneOf(reports.GROUPS))


class TurnoverArgsSchema(PeriodArgsSchema):
    """Turnover needs a period."""

    from_ = fields.AwareDateTime(data_key="from", required=True)
    to = fields.AwareDateTime(required=True)


class ReorderArgsSchema(Schema):
    """Reorder suggestions for one location or all."""

    location_id = fields.UUID()
    format = FORMAT


class LevelSchema(Schema):
    """Min/max of a part at a location."""

    id = fields.UUID(dump_only=True)
    location_id = fields.UUID(required=True)
    part_id = fields.UUID(required=True)
    # JSON numbers in, exact decimal strings out; the ledger's quantity rule checks values.
    min_quantity = Quantity(required=True, as_string=True, places=3)
    max_quantity = Quantity(required=True, as_string=True, places=3)


def _out(rows: list[dict[str, Any]], args: dict[str, Any], name: str) -> Any:
    if args.get("format") == "csv":
        return Response(
            reports.as_csv(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return rows


@blp.route("/reports/consumption")
class Consumption(MethodView):
    """Parts used in the field."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(ConsumptionArgsSchema, location="query")
    @blp.response(200)
    def get(self, args: dict[str, Any]) -> Any:
        """Quantity, cost and price consumed, by part, equipment model, technician or month."""
        rows = reports.consumption(
            db_session=db.session(),
            group_by=args["group_by"],
            period_from=args.get("from_"),
            period_to=args.get("to"),
        )
        return _out(rows, args, "consumption")


@blp.route("/reports/reorder")
class Reorder(MethodView):
    """What to order."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(ReorderArgsSchema, location="query")
    @blp.response(200)
    def get(self, args: dict[str, Any]) -> Any:
        """Parts whose available stock is below their minimum, with the quantity up to max."""
        rows = reports.reorder(db_session=db.session(), location_id=args.get("location_id"))
        return _out(rows, args, "reorder")


@blp.route("/reports/turnover")
class Turnover(MethodView):
    """How fast stock moves."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(TurnoverArgsSchema, location="query")
    @blp.response(200)
    def get(self, args: dict[str, Any]) -> Any:
        """Per part: consumed in the period divided by the stock held now."""
        rows = reports.turnover(
            db_session=db.session(), period_from=args["from_"], period_to=args["to"]
        )
        return _out(rows, args, "turnover")


@blp.route("/reports/work-orders/<uuid:work_order_id>")
class WorkOrderCosts(MethodView):
    """Parts cost of one job, for settlement."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200)
    def get(self, work_order_id: uuid.UUID) -> Any:
        """Parts consumed on the order (net of reversals), at cost and at price."""
        get_or_404(WorkOrder, work_order_id, what="work order")
        return reports.work_order_costs(db_session=db.session(), work_order_id=work_order_id)


@blp.route("/levels")
class Levels(MethodView):
    """Min/max stock levels."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(LevelSchema)
    @blp.response(200, LevelSchema)
    def put(self, data: dict[str, Any]) -> Any:
        """Set (create or replace) the min/max of a part at a location."""
        return reports.set_level(db_session=db.session(), data=data)
