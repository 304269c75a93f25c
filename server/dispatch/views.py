"""Dispatch endpoints: optimisation runs, emergency insertion, recommendations, board moves."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from server.auth.principal import PLANNER_ROLES, current, roles_required
from server.db import db
from server.dispatch import service
from server.dispatch.models import OptimizationRun
from server.dispatch.schemas import (
    ApplyResultSchema,
    ApplySchema,
    InsertionRequestSchema,
    InsertionResultSchema,
    MoveResultSchema,
    MoveSchema,
    PlanSchema,
    PreviewSchema,
    RecommendArgsSchema,
    RecommendResultSchema,
    RunCreateSchema,
    RunQueryArgsSchema,
    RunSchema,
)
from server.http import Blueprint, get_or_404, paginate
from server.work_orders.models import WorkOrder

blp = Blueprint(
    "dispatch",
    __name__,
    url_prefix="/dispatch",
    description="Optimisation runs, emergency insertion, recommendations and board moves.",
)


def _order(order_id: uuid.UUID) -> WorkOrder:
    return get_or_404(WorkOrder, order_id, what="work order")


@blp.route("/runs")
class Runs(MethodView):
    """Optimisation runs of the tenant."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(RunQueryArgsSchema, location="query")
    @blp.response(200, RunSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List runs, newest first."""
        stmt = select(OptimizationRun).order_by(
            OptimizationRun.created_at.desc(), OptimizationRun.id
        )
        if args.get("status"):
            stmt = stmt.where(OptimizationRun.status == args["status"])
        return paginate(stmt, pagination_parameters)

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(RunCreateSchema)
    @blp.response(202, RunSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Start a run; poll it for progress, then preview and apply its plan."""
        return service.create_run(db_session=db.session(), principal=current(), data=data)


@blp.route("/runs/<uuid:run_id>")
class RunById(MethodView):
    """One run's status, progress and KPIs."""

    @roles_required(*PLANNER_ROLES)
    @blp.response(200, RunSchema)
    def get(self, run_id: uuid.UUID) -> Any:
        """Status, progress (0..1) and KPIs of a run."""
        return service.get_run(db_session=db.session(), run_id=run_id)


@blp.route("/runs/<uuid:run_id>/plan")
class RunPlan(MethodView):
    """The plan a run produced."""

    @roles_required(*PLANNER_ROLES)
    @blp.response(200, PlanSchema)
    def get(self, run_id: uuid.UUID) -> Any:
        """Routes, visits and unassigned orders with reasons."""
        return service.get_plan(db_session=db.session(), run_id=run_id)


@blp.route("/runs/<uuid:run_id>/preview")
class RunPreview(MethodView):
    """Compare a run's plan with the current one."""

    @roles_required(*PLANNER_ROLES)
    @blp.response(200, PreviewSchema)
    def get(self, run_id: uuid.UUID) -> Any:
        """What applying would change, and KPIs before and after."""
        session = db.session()
        return service.preview(
            db_session=session, run=service.get_run(db_session=session, run_id=run_id)
        )


@blp.route("/runs/<uuid:run_id>/apply")
class RunApply(MethodView):
    """Write a run's plan."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(ApplySchema)
    @blp.response(200, ApplyResultSchema)
    def post(self, data: dict[str, Any], run_id: uuid.UUID) -> Any:
        """Assign and schedule as planned, in one transaction; 409 if orders changed meanwhile."""
        session = db.session()
        run = service.get_run(db_session=session, run_id=run_id)
        return service.apply_run(
            db_session=session, principal=current(), run=run, force=data["force"]
        )


@blp.route("/runs/<uuid:run_id>/cancel")
class RunCancel(MethodView):
    """Cancel a queued or running run."""

    @roles_required(*PLANNER_ROLES)
    @blp.response(200, RunSchema)
    def post(self, run_id: uuid.UUID) -> Any:
        """Discard a run that has not finished."""
        session = db.session()
        return service.cancel_run(
            db_session=session, run=service.get_run(db_session=session, run_id=run_id)
        )


@blp.route("/insertions")
class Insertions(MethodView):
    """Emergency insertion into today's plan."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(InsertionRequestSchema)
    @blp.response(200, InsertionResultSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Best placements of one urgent order, none of which drops another visit."""
        return service.emergency_options(
            db_session=db.session(),
            principal=current(),
            order=_order(data["work_order_id"]),
            limit=data["limit"],
        )


@blp.route("/recommendations")
class Recommendations(MethodView):
    """Who should take this order."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(RecommendArgsSchema, location="query")
    @blp.response(200, RecommendResultSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Top-k technicians with a score breakdown (skill fit, ETA, load, SLA)."""
        return service.recommendations(
            db_session=db.session(),
            principal=current(),
            order=_order(args["work_order_id"]),
            k=args["k"],
            day=args.get("date"),
        )


@blp.route("/moves")
class Moves(MethodView):
    """Drag-and-drop from the board."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(MoveSchema)
    @blp.response(200, MoveResultSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Place an order; later visits are re-timed; violations need force=true."""
        return service.move(
            db_session=db.session(),
            principal=current(),
            order=_order(data["work_order_id"]),
            data=data,
        )
