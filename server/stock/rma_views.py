"""RMA cases over HTTP: the office follows defective parts to the vendor and back."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.auth.principal import OFFICE_ROLES, PLANNER_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint, get_or_404, paginate
from server.schemas import ListArgsSchema
from server.stock import rma
from server.stock.models import RMA_STATUSES, RmaCase

blp = Blueprint(
    "stock_rma", __name__, url_prefix="/stock/rma", description="Defective parts (RMA cases)."
)


class RmaCaseSchema(Schema):
    """One RMA case."""

    id = fields.UUID(dump_only=True)
    number = fields.String(dump_only=True)
    part_id = fields.UUID(dump_only=True)
    serial = fields.String(dump_only=True, allow_none=True)
    quantity = fields.Decimal(dump_only=True, as_string=True)
    work_order_id = fields.UUID(dump_only=True, allow_none=True)
    equipment_id = fields.UUID(dump_only=True, allow_none=True)
    movement_id = fields.UUID(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True)
    vendor_reference = fields.String(dump_only=True, allow_none=True)
    note = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class RmaQueryArgsSchema(ListArgsSchema):
    """Filters of the case list."""

    status = fields.String(validate=validate.OneOf(RMA_STATUSES))
    work_order_id = fields.UUID()
    part_id = fields.UUID()


class RmaTransitionSchema(Schema):
    """A step of the case: shipped, scrapped, repaired, replaced, credited or closed."""

    to = fields.String(required=True, validate=validate.OneOf(RMA_STATUSES[1:]))
    warehouse_id = fields.UUID(metadata={"description": "Where a repaired/replaced part goes."})
    new_serial = fields.String(validate=validate.Length(min=1, max=100))
    vendor_reference = fields.String(validate=validate.Length(max=100))
    note = fields.String(validate=validate.Length(max=2000))


@blp.route("")
class RmaCases(MethodView):
    """The RMA case list."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(RmaQueryArgsSchema, location="query")
    @blp.response(200, RmaCaseSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """Cases, newest first; filter by status, work order or part."""
        return paginate(rma.rma_query(filters=args), pagination_parameters)


@blp.route("/<uuid:case_id>")
class RmaCaseItem(MethodView):
    """One RMA case."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, RmaCaseSchema)
    def get(self, case_id: uuid.UUID) -> Any:
        """A case."""
        return get_or_404(RmaCase, case_id, what="RMA case")


@blp.route("/<uuid:case_id>/transitions")
class RmaCaseTransitions(MethodView):
    """Moving a case along: open -> shipped -> repaired/replaced/credited -> closed."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(RmaTransitionSchema)
    @blp.response(200, RmaCaseSchema)
    def post(self, data: dict[str, Any], case_id: uuid.UUID) -> Any:
        """Take the next step; parts that travel are posted to the ledger."""
        case = get_or_404(RmaCase, case_id, what="RMA case")
        return rma.transition(
            db_session=db.session(), case=case, actor_id=current().user_id, data=data
        )
