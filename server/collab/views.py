"""HTTP edge of the collab domain: order comments, subtasks, support tiers and defects."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView

from server.auth.principal import (
    ALL_ROLES,
    OFFICE_ROLES,
    PLANNER_ROLES,
    current,
    roles_required,
)
from server.collab import service
from server.collab.schemas import (
    CommentCreateSchema,
    CommentQueryArgsSchema,
    CommentSchema,
    DefectDetailSchema,
    DefectPatchSchema,
    DefectQueryArgsSchema,
    DefectSchema,
    EscalationSchema,
    PatternQueryArgsSchema,
    PatternSchema,
    RemoteResolutionResultSchema,
    RemoteResolutionSchema,
    SubtaskCreateSchema,
    SubtaskSchema,
)
from server.db import db
from server.http import Blueprint, check_if_match, etag_of, paginate
from server.work_orders.models import WorkOrder
from server.work_orders.schemas import WorkOrderSchema
from server.work_orders.service import get_order

orders_blp = Blueprint(
    "collab_work_orders",
    __name__,
    url_prefix="/work-orders",
    description="Comments, subtasks and support tiers (L1 remote resolution, L3 escalation).",
)
defects_blp = Blueprint(
    "defects",
    __name__,
    url_prefix="/defects",
    description="Defect records grouping orders of one equipment model and symptom.",
)


def _load(order_id: uuid.UUID) -> WorkOrder:
    return get_order(db_session=db.session(), principal=current(), order_id=order_id)


def _load_for_change(order_id: uuid.UUID) -> WorkOrder:
    """The order, honouring an If-Match sent with an action that changes it."""
    order = _load(order_id)
    check_if_match(etag_of(order.version, order.id), required=False)
    return order


@orders_blp.route("/<uuid:order_id>/comments")
class Comments(MethodView):
    """Internal notes and customer-visible comments of an order."""

    @roles_required(*ALL_ROLES)
    @orders_blp.arguments(CommentQueryArgsSchema, location="query")
    @orders_blp.response(200, CommentSchema(many=True))
    @orders_blp.paginate()
    def get(self, args: dict[str, Any], order_id: uuid.UUID, pagination_parameters: Any) -> Any:
        """Comments of the order, oldest first (technicians: their own orders only)."""
        stmt = service.comment_query(order=_load(order_id), visibility=args.get("visibility"))
        return paginate(stmt, pagination_parameters)

    @roles_required(*ALL_ROLES)
    @orders_blp.arguments(CommentCreateSchema)
    @orders_blp.response(201, CommentSchema)
    def post(self, data: dict[str, Any], order_id: uuid.UUID) -> Any:
        """Comment; @mentions notify colleagues (technicians post internal notes only)."""
        return service.add_comment(
            db_session=db.session(), principal=current(), order=_load(order_id), data=data
        )


@orders_blp.route("/<uuid:order_id>/subtasks")
class Subtasks(MethodView):
    """Child orders; a parent with requires_subtasks completes only after them."""

    @roles_required(*ALL_ROLES)
    @orders_blp.response(200, SubtaskSchema(many=True))
    @orders_blp.paginate()
    def get(self, order_id: uuid.UUID, pagination_parameters: Any) -> Any:
        """The order's subtasks with their status (technicians: the ones they work on)."""
        stmt = service.subtask_query(principal=current(), parent=_load(order_id))
        children = paginate(stmt, pagination_parameters)
        for child in children:
            child.open = child.status in service.OPEN_VALUES
        return children

    @roles_required(*OFFICE_ROLES)
    @orders_blp.arguments(SubtaskCreateSchema)
    @orders_blp.response(201, WorkOrderSchema)
    def post(self, data: dict[str, Any], order_id: uuid.UUID) -> Any:
        """Create a subtask (a child order inheriting site, equipment and classification)."""
        child = service.create_subtask(
            db_session=db.session(), principal=current(), parent=_load(order_id), data=data
        )
        headers = {
            "ETag": etag_of(child.version, child.id),
            "Location": url_for("work_orders.WorkOrderById", order_id=child.id),
        }
        return child, 201, headers


@orders_blp.route("/<uuid:order_id>/resolve-remotely")
class ResolveRemotely(MethodView):
    """L1: solved over the phone or by a knowledge-base article."""

    @roles_required(*OFFICE_ROLES)
    @orders_blp.arguments(RemoteResolutionSchema)
    @orders_blp.response(200, RemoteResolutionResultSchema)
    def post(self, data: dict[str, Any], order_id: uuid.UUID) -> Any:
        """Set tier L1 and end the order through the lifecycle, recording the KB links."""
        return service.resolve_remotely(
            db_session=db.session(),
            principal=current(),
            order=_load_for_change(order_id),
            data=data,
        )


@orders_blp.route("/<uuid:order_id>/escalate-l3")
class EscalateL3(MethodView):
    """L3: hand the failure to engineering as part of a defect pattern."""

    @roles_required(*OFFICE_ROLES)
    @orders_blp.arguments(EscalationSchema)
    @orders_blp.response(200, DefectDetailSchema)
    @orders_blp.alt_response(201, schema=DefectDetailSchema, description="A defect was opened.")
    def post(self, data: dict[str, Any], order_id: uuid.UUID) -> Any:
        """Set tier L3 and link the order to the defect of its model and symptom (201 when
        this escalation opened the defect)."""
        result = service.escalate_l3(
            db_session=db.session(),
            principal=current(),
            order=_load_for_change(order_id),
            data=data,
        )
        return result, 201 if result["created"] else 200


@defects_blp.route("")
class Defects(MethodView):
    """The tenant's defect records."""

    @roles_required(*OFFICE_ROLES)
    @defects_blp.arguments(DefectQueryArgsSchema, location="query")
    @defects_blp.response(200, DefectSchema(many=True))
    @defects_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List defects (filter by status, model, symptom), newest first."""
        rows = paginate(service.defect_query(filters=args), pagination_parameters, rows=True)
        for defect, count in rows:
            defect.linked_orders_count = int(count)
        return [defect for defect, _ in rows]


@defects_blp.route("/patterns")
class Patterns(MethodView):
    """Failure patterns: orders per equipment model and category, with or without a defect."""

    @roles_required(*OFFICE_ROLES)
    @defects_blp.arguments(PatternQueryArgsSchema, location="query")
    @defects_blp.response(200, PatternSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Order counts per (model, category) created in the period (default 90 days)."""
        return service.failure_patterns(db_session=db.session(), args=args)


@defects_blp.route("/<uuid:defect_id>")
class DefectById(MethodView):
    """One defect."""

    @roles_required(*OFFICE_ROLES)
    @defects_blp.response(200, DefectDetailSchema)
    def get(self, defect_id: uuid.UUID) -> Any:
        """The defect with its linked orders."""
        defect = service.get_defect(db_session=db.session(), defect_id=defect_id)
        return service.defect_detail(db_session=db.session(), defect=defect)

    @roles_required(*PLANNER_ROLES)
    @defects_blp.arguments(DefectPatchSchema)
    @defects_blp.response(200, DefectDetailSchema)
    def patch(self, data: dict[str, Any], defect_id: uuid.UUID) -> Any:
        """Change status (open, investigating, fixed, closed), title or description."""
        defect = service.get_defect(db_session=db.session(), defect_id=defect_id)
        defect = service.update_defect(db_session=db.session(), defect=defect, data=data)
        return service.defect_detail(db_session=db.session(), defect=defect)


# flask-smorest blueprints served under /api/v1, in documentation order.
BLUEPRINTS: list[Any] = [orders_blp, defects_blp]
