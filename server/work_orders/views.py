"""Work-order endpoints: CRUD with ETags, lifecycle transitions, history."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView
from sqlalchemy import select

from server.auth.principal import ALL_ROLES, OFFICE_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint, apply_sort, check_if_match, etag_of, paginate
from server.work_orders import service
from server.work_orders.models import WorkOrder, WorkOrderEvent
from server.work_orders.schemas import (
    AllowedTransitionSchema,
    TransitionSchema,
    WorkOrderCreateSchema,
    WorkOrderEventSchema,
    WorkOrderPatchSchema,
    WorkOrderQueryArgsSchema,
    WorkOrderSchema,
)

blp = Blueprint(
    "work_orders",
    __name__,
    url_prefix="/work-orders",
    description="Work orders and their lifecycle.",
)


def _etag(order: WorkOrder) -> dict[str, str]:
    return {"ETag": etag_of(order.version, order.id)}


def _load(order_id: uuid.UUID) -> WorkOrder:
    return service.get_order(db_session=db.session(), principal=current(), order_id=order_id)


@blp.route("")
class WorkOrders(MethodView):
    """The order list and order creation."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(WorkOrderQueryArgsSchema, location="query")
    @blp.response(200, WorkOrderSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List orders (technicians: only their own). Filters combine with AND."""
        stmt, distance = service.list_query(principal=current(), args=args, dialect=db.dialect)
        if distance is not None and not args.get("sort"):
            stmt = stmt.order_by(distance, WorkOrder.id)
        else:
            stmt = apply_sort(
                stmt,
                args.get("sort"),
                service.SORTABLE,
                [WorkOrder.created_at.desc()],
                WorkOrder.id,
            )
        if distance is None:
            return paginate(stmt, pagination_parameters)
        rows = paginate(
            stmt.add_columns(distance.label("distance_m")), pagination_parameters, rows=True
        )
        for order, metres in rows:
            order.distance_m = round(float(metres), 1)
        return [order for order, _ in rows]

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(WorkOrderCreateSchema)
    @blp.response(201, WorkOrderSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an order (status new); the number is issued by the server."""
        order = service.create_work_order(db_session=db.session(), principal=current(), data=data)
        headers = _etag(order)
        headers["Location"] = url_for("work_orders.WorkOrderById", order_id=order.id)
        return order, 201, headers


@blp.route("/<uuid:order_id>")
class WorkOrderById(MethodView):
    """One order."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, WorkOrderSchema)
    def get(self, order_id: uuid.UUID) -> Any:
        """Read an order; the ETag header is what PATCH's If-Match must echo."""
        order = _load(order_id)
        return order, 200, _etag(order)

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(WorkOrderPatchSchema)
    @blp.response(200, WorkOrderSchema)
    @blp.doc(
        parameters=[
            {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}}
        ]
    )
    def patch(self, data: dict[str, Any], order_id: uuid.UUID) -> Any:
        """Change fields; requires If-Match (412 when stale, 428 when missing)."""
        order = _load(order_id)
        check_if_match(etag_of(order.version, order.id), required=True)
        order = service.update_work_order(
            db_session=db.session(), principal=current(), order=order, data=data
        )
        return order, 200, _etag(order)


@blp.route("/<uuid:order_id>/transitions")
class Transitions(MethodView):
    """Lifecycle moves."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, AllowedTransitionSchema(many=True))
    def get(self, order_id: uuid.UUID) -> Any:
        """Statuses reachable from the current one, for the caller, with missing data."""
        return service.possible_transitions(order=_load(order_id), principal=current())

    @roles_required(*ALL_ROLES)
    @blp.arguments(TransitionSchema)
    @blp.response(200, WorkOrderSchema)
    def post(self, data: dict[str, Any], order_id: uuid.UUID) -> Any:
        """Move the order to another status (409 invalid_transition when illegal)."""
        order = _load(order_id)
        check_if_match(etag_of(order.version, order.id), required=False)
        order = service.transition(
            db_session=db.session(), principal=current(), order=order, data=data
        )
        return order, 200, _etag(order)


@blp.route("/<uuid:order_id>/events")
class Events(MethodView):
    """The append-only history."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, WorkOrderEventSchema(many=True))
    @blp.paginate()
    def get(self, order_id: uuid.UUID, pagination_parameters: Any) -> Any:
        """Every recorded event of the order, oldest first."""
        order = _load(order_id)
        stmt = (
            select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == order.id)
            .order_by(WorkOrderEvent.recorded_at, WorkOrderEvent.occurred_at, WorkOrderEvent.id)
        )
        return paginate(stmt, pagination_parameters)
