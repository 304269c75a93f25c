"""Parts requisitions (request, approve, ship, receive), job reservations and van returns."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from flask import current_app
from flask.views import MethodView

from server.auth.principal import ALL_ROLES, OFFICE_ROLES, PLANNER_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint, get_or_404, paginate
from server.stock import requisitions
from server.stock.models import Reservation
from server.stock.requisition_schemas import (
    ApproveSchema,
    CancelSchema,
    ReceiveSchema,
    RejectSchema,
    RequisitionCreateSchema,
    RequisitionQueryArgsSchema,
    RequisitionSchema,
    ReservationCreateSchema,
    ReservationQueryArgsSchema,
    ReservationSchema,
    ReturnResultSchema,
    ReturnSchema,
    ShipSchema,
)

blp = Blueprint(
    "stock_requisitions",
    __name__,
    url_prefix="/stock",
    description="Parts requisitions from warehouses to vans, job reservations and returns.",
)


def _auto_approve_limit() -> Decimal:
    return Decimal(str(current_app.config.get("REQUISITION_AUTO_APPROVE_LIMIT", "200")))


@blp.route("/requisitions")
class Requisitions(MethodView):
    """Requests for parts (technicians: their own)."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(RequisitionQueryArgsSchema, location="query")
    @blp.response(200, RequisitionSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List requisitions, newest first; filter by status, technician, order or warehouse."""
        stmt = requisitions.requisition_query(principal=current(), filters=args)
        page = paginate(stmt, pagination_parameters)
        return requisitions.with_lines(db_session=db.session(), requisitions=page)

    @roles_required(*ALL_ROLES)
    @blp.arguments(RequisitionCreateSchema)
    @blp.response(201, RequisitionSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Request parts from a warehouse; small requests are approved and reserved at once."""
        return requisitions.request_parts(
            db_session=db.session(),
            principal=current(),
            data=data,
            auto_approve_limit=_auto_approve_limit(),
        )


@blp.route("/requisitions/<uuid:requisition_id>")
class RequisitionById(MethodView):
    """One requisition."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, RequisitionSchema)
    def get(self, requisition_id: uuid.UUID) -> Any:
        """Get a requisition with its lines (another technician's is 404)."""
        return requisitions.get_requisition(
            db_session=db.session(), principal=current(), requisition_id=requisition_id
        )


@blp.route("/requisitions/<uuid:requisition_id>/approve")
class ApproveRequisition(MethodView):
    """Approve a requisition."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(ApproveSchema)
    @blp.response(200, RequisitionSchema)
    def post(self, data: dict[str, Any], requisition_id: uuid.UUID) -> Any:
        """Approve, optionally less per line, and reserve (409 insufficient_stock, 403 own)."""
        return requisitions.approve(
            db_session=db.session(), principal=current(), requisition_id=requisition_id, data=data
        )


@blp.route("/requisitions/<uuid:requisition_id>/reject")
class RejectRequisition(MethodView):
    """Refuse a requisition."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(RejectSchema)
    @blp.response(200, RequisitionSchema)
    def post(self, data: dict[str, Any], requisition_id: uuid.UUID) -> Any:
        """Reject a requisition waiting for a decision, with a note (403 own_requisition)."""
        return requisitions.reject(
            db_session=db.session(),
            principal=current(),
            requisition_id=requisition_id,
            note=data["note"],
        )


@blp.route("/requisitions/<uuid:requisition_id>/ship")
class ShipRequisition(MethodView):
    """Pick and send parts."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(ShipSchema)
    @blp.response(200, RequisitionSchema)
    def post(self, data: dict[str, Any], requisition_id: uuid.UUID) -> Any:
        """Ship lines (default: all still approved) warehouse -> transit; partial is allowed."""
        return requisitions.ship(
            db_session=db.session(), principal=current(), requisition_id=requisition_id, data=data
        )


@blp.route("/requisitions/<uuid:requisition_id>/receive")
class ReceiveRequisition(MethodView):
    """Confirm parts arrived in the van."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(ReceiveSchema)
    @blp.response(200, RequisitionSchema)
    def post(self, data: dict[str, Any], requisition_id: uuid.UUID) -> Any:
        """Receive lines (default: all shipped, not yet received) transit -> van."""
        return requisitions.receive(
            db_session=db.session(), principal=current(), requisition_id=requisition_id, data=data
        )


@blp.route("/requisitions/<uuid:requisition_id>/cancel")
class CancelRequisition(MethodView):
    """Withdraw a requisition."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(CancelSchema)
    @blp.response(200, RequisitionSchema)
    def post(self, data: dict[str, Any], requisition_id: uuid.UUID) -> Any:
        """Cancel before anything shipped, releasing reservations (409 already_shipped)."""
        return requisitions.cancel(
            db_session=db.session(),
            principal=current(),
            requisition_id=requisition_id,
            note=data.get("note"),
        )


@blp.route("/returns")
class Returns(MethodView):
    """Unused parts back to a warehouse."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(ReturnSchema)
    @blp.response(201, ReturnResultSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Return parts from a van to a warehouse (409 insufficient_stock when it lacks them)."""
        return requisitions.return_parts(db_session=db.session(), principal=current(), data=data)


@blp.route("/reservations")
class Reservations(MethodView):
    """Stock held for scheduled jobs."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(ReservationQueryArgsSchema, location="query")
    @blp.response(200, ReservationSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List reservations, newest first; filter by status, order, location, part."""
        return paginate(requisitions.reservation_query(filters=args), pagination_parameters)

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(ReservationCreateSchema)
    @blp.response(201, ReservationSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Reserve stock at a warehouse or van for a work order (409 insufficient_stock)."""
        return requisitions.reserve(db_session=db.session(), principal=current(), data=data)


@blp.route("/reservations/<uuid:reservation_id>")
class ReservationById(MethodView):
    """One reservation."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, ReservationSchema)
    def get(self, reservation_id: uuid.UUID) -> Any:
        """Get a reservation."""
        return get_or_404(Reservation, reservation_id, what="reservation")


@blp.route("/reservations/<uuid:reservation_id>/release")
class ReleaseReservation(MethodView):
    """Give reserved stock back."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, ReservationSchema)
    def post(self, reservation_id: uuid.UUID) -> Any:
        """Release an active reservation (409 invalid_transition, held_by_requisition)."""
        return requisitions.release(
            db_session=db.session(), principal=current(), reservation_id=reservation_id
        )
