"""Shapes of the dispatch API: runs, previews, insertions, recommendations, moves."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.schemas import ListArgsSchema, StrictFloat, StrictInt, Timestamp

WEIGHT_NAMES = (
    "travel_per_s",
    "lateness_per_s",
    "overtime_per_s",
    "balance_per_s",
    "move_planned",
    "move_dispatched",
    "drop_base",
)


class WeightsSchema(Schema):
    """Objective knobs (cost units; one second of travel costs 1)."""

    travel_per_s = StrictInt(validate=validate.Range(0, 1_000))
    lateness_per_s = StrictInt(validate=validate.Range(0, 1_000))
    overtime_per_s = StrictInt(validate=validate.Range(0, 1_000))
    balance_per_s = StrictInt(validate=validate.Range(0, 1_000))
    move_planned = StrictInt(validate=validate.Range(0, 1_000_000))
    move_dispatched = StrictInt(validate=validate.Range(0, 1_000_000))
    drop_base = StrictInt(validate=validate.Range(1, 100_000_000))


class RunCreateSchema(Schema):
    """Start an optimisation run for a territory (or everything) and a date range."""

    territory_id = fields.UUID(allow_none=True)
    date_from = fields.Date(required=True)
    date_to = fields.Date(allow_none=True)
    time_limit_s = StrictFloat(validate=validate.Range(0.5, 600))
    seed = StrictInt(validate=validate.Range(0, 2**31 - 1))
    weights = fields.Nested(WeightsSchema)


class RunSchema(Schema):
    """A run's state, progress and headline numbers (the plan itself is under /plan)."""

    id = fields.UUID()
    territory_id = fields.UUID(allow_none=True)
    date_from = fields.Date()
    date_to = fields.Date()
    status = fields.String()
    progress = fields.Float()
    time_limit_s = fields.Float()
    params = fields.Dict()
    kpis = fields.Dict(allow_none=True)
    baseline_kpis = fields.Dict(allow_none=True)
    best_objective = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    applied_at = fields.AwareDateTime(allow_none=True)


class RunQueryArgsSchema(ListArgsSchema):
    """Filters for the run list."""

    status = fields.String(
        validate=validate.OneOf(("queued", "running", "done", "failed", "cancelled", "applied"))
    )


class PlanSchema(Schema):
    """The stored plan: routes with visits, and each unassigned order with its reason."""

    status = fields.String()
    elapsed_s = fields.Float()
    first_solution_s = fields.Float(allow_none=True)
    objective = fields.Integer()
    routes = fields.List(fields.Dict())
    unassigned = fields.List(fields.Dict())


class PreviewSchema(Schema):
    """Order-by-order changes and KPIs before and after."""

    run_id = fields.UUID()
    kpis = fields.Dict(allow_none=True)
    baseline_kpis = fields.Dict(allow_none=True)
    changes = fields.List(fields.Dict())
    unassigned = fields.List(fields.Dict())


class ApplySchema(Schema):
    """Apply a finished run; `force` accepts orders edited since the run started."""

    force = fields.Boolean(load_default=False)


class ApplyResultSchema(Schema):
    """What apply changed."""

    run_id = fields.UUID()
    changed = fields.List(fields.String())
    skipped = fields.List(fields.Dict())
    stale = fields.List(fields.String())


class InsertionRequestSchema(Schema):
    """Fit one urgent order into today's running plan."""

    work_order_id = fields.UUID(required=True)
    limit = StrictInt(load_default=5, validate=validate.Range(1, 20))


class InsertionResultSchema(Schema):
    """Placements, cheapest first."""

    work_order_id = fields.UUID()
    number = fields.String()
    options = fields.List(fields.Dict())


class RecommendArgsSchema(Schema):
    """Which order, how many candidates, which day."""

    work_order_id = fields.UUID(required=True)
    k = fields.Integer(load_default=5, validate=validate.Range(1, 50))
    date = fields.Date()


class RecommendResultSchema(Schema):
    """Ranked technicians with their score breakdown."""

    work_order_id = fields.UUID()
    date = fields.String()
    recommendations = fields.List(fields.Dict())


class MoveSchema(Schema):
    """A drag on the board: this order, this technician, this start."""

    work_order_id = fields.UUID(required=True)
    technician_id = fields.UUID(required=True)
    start = Timestamp(required=True)
    force = fields.Boolean(load_default=False)


class MoveResultSchema(Schema):
    """Where it went, what moved with it, and what it breaks."""

    work_order_id = fields.UUID()
    technician_id = fields.UUID()
    start = fields.String()
    retimed = fields.List(fields.Dict())
    violations = fields.List(fields.Dict())
    applied = fields.Boolean()
