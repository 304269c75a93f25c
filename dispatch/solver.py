"""The one module that imports OR-Tools: Problem in, Plan out, within a wall-clock budget.

One routing vehicle per technician per shift, so shifts, per-day job and hour limits and
multi-day splitting fall out of the model; the time dimension runs on one absolute axis
(problem seconds), so precedence between days is a plain inequality.

Field problems (SolveOptions.construction "auto"/"regret") start from our own regret
insertion (dispatch/construct.py), improve it on a "fast" copy of the model without soft
time bounds (iterated local search: our ruin and recreate with ejection of visits that
make way for jobs left out, then OR-Tools' unchecked descent on the region the round
changed), read the result into the full model and polish it there briefly. The distance objective
(Solomon) keeps OR-Tools' own construction and iterated local search, which do better
there. A budget too short for OR-Tools returns the constructed plan itself.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from ortools.constraint_solver import (
    pywrapcp,
    routing_enums_pb2,
    routing_heuristic_parameters_pb2,
)

from dispatch.construct import Construction, construct, drop_penalty, move_costs
from dispatch.explain import (
    dropped_reason,
    earliest_start,
    eligibility,
    part_durations,
    shift_fits,
)
from dispatch.model import (
    PRIORITY_WEIGHT,
    Kpis,
    Plan,
    Problem,
    ProblemError,
    Route,
    Shift,
    SolveOptions,
    Unassigned,
    UnassignedReason,
    Visit,
)
from geo.points import Point
from geo.travel import TravelTimeProvider

log = logging.getLogger(__name__)
# Reading a plan into the full model: 1-3 ms per node, depending on the load.
READ_S_PER_NODE = 0.002
# Visits taken out per round of our iterated local search on the fast model, and jobs
# from outside the plan offered with them (tuned on 50x500 at 20 s: 3-12 and 20 reached
# 74.9M against 75.3M for 5-30 and 10, and 75.5M without any rounds).
RUIN_MIN, RUIN_MAX = 3, 12
RUIN_EXTRA = 20
# How often a round's ruin centres on a job left out rather than on a visit.
RUIN_OUTSIDE_SHARE = 0.5
# How often a ruin takes strings (runs of consecutive visits, one per nearby route, at
# most STRING_MAX long) rather than the visits nearest the seed, wherever they are.
# 50x500, seeds 7 and 8, 3 runs each at VROOM's time (with the SLA slack below):
# objective -1.6M and -1.2M, travel -0.4 h and -0.9 h; strings only, or up to 10 long,
# did worse than half and half.
RUIN_STRING_SHARE = 0.5
STRING_MAX = 5
# How far past its SLA deadline the fast model lets a job start. A hard cap at the
# deadline forbids what the full objective merely prices (4 per second late, a few
# seconds of travel); half an hour lets the search trade a little lateness for shorter
# routes and room for more jobs; the recreate steps still price it, as does the polish.
# 50x500, 3 runs each of seeds 7 and 8 at VROOM's time: travel -1.7 h and -2.6 h on
# average, objective -0.5M.
SLA_CAP_SLACK_S = 1800
# A round of our iterated local search on the fast model: ruin and recreate (ours, with
# ejection on the days around the ruin only, ~70 ms at 500 jobs where all 50 days took
# ~0.2 s), INNER_STEPS more kept by threshold, then an OR-Tools descent on a region: the
# days the round changed, the days nearest them up to REGION_DAYS in all, and the
# REGION_OUTSIDE jobs left out nearest them (~30 ms; the whole plan takes 1-3 s at 500
# jobs and ~14 s at 1,000, mostly proving that far-away days cannot improve). Only the
# first descent, from the construction, covers the whole plan: a whole one every 20 or
# 40 rounds did no better and, at 1,000 jobs, cost a quarter of a 60 s budget each.
# Counts, not measured times, so a seed's sequence of moves does not depend on the load.
# 50x500, seeds 7 and 8, 4 runs each at 30 s, summed objective: 152.6M before regions
# (4 recreates and a whole descent per round, ~25 rounds); 151.8M with them (~140 rounds);
# 150.4M with the annealing below and kept routes that keep their visits (construct.py,
# _repack). 100x1000 at 60 s, 2 runs: 125.8M before, 121.5M now (5 whole descents then,
# ~100 rounds now).
INNER_STEPS = 1
REGION_DAYS = 10
REGION_OUTSIDE = 30
# The rounds walk from a reference plan that a worse result replaces with the annealing
# probability, at a temperature falling from OUTER_T times the model's (_temperature) to
# a hundredth of that over the budget; the best plan is kept apart. Improvements only:
# 151.8M; factor 1 or 5: 150.3M; 20: 149.5M (the same runs as above).
OUTER_T = 20.0
# Building the full model and reading a plan into it, per node, with room to spare; and
# the construction (1,000 jobs: ~1 s on a loaded machine).
OR_TOOLS_S_PER_NODE = 0.0025
CONSTRUCT_S_PER_NODE = 0.0015
# Checking routes with the construction's schedule and building a plan from them.
VALIDATE_S_PER_NODE = 0.0006
# The part of the budget the full model gets at the end to put soft costs back.
POLISH_SHARE = 0.05
ProgressFn = Callable[[float, int | None], None]
BIG = 2**40
DEFAULT_OPTIONS = SolveOptions()


@dataclass
class _Node:
    job: int  # index into problem.jobs
    part: int
    parts: int
    role: str  # "lead" | "helper"
    duration: int
    allowed: list[int] = field(default_factory=list)  # vehicle indexes


@dataclass
class _Vehicle:
    tech: int
    shift: Shift
    start: Point
    end: Point
    earliest: int


@dataclass
class _Model:
    problem: Problem
    nodes: list[_Node]
    vehicles: list[_Vehicle]
    durations: np.ndarray
    distances: np.ndarray
    unassigned: list[Unassigned]
    eligible_leads: dict[int, tuple[int, ...]]
    # Matrices as nested lists for OR-Tools, converted once per model (see _lists).
    lists: dict[str, list[list[int]]] = field(default_factory=dict)
    # A region's model (_region) prices workload balance against the whole plan's share.
    fair_work: int | None = None


def validate(problem: Problem) -> None:
    """Reject problems that are malformed rather than merely hard (ids, ranges, lengths)."""
    seen: set[str] = set()
    for i, job in enumerate(problem.jobs):
        path = f"jobs[{i}]"
        if job.id in seen:
            raise ProblemError(f"duplicate job id {job.id!r}", path)
        seen.add(job.id)
        if job.duration_s < 0 or job.duration_s > 30 * 86_400:
            raise ProblemError("duration must be 0 .. 30 days", f"{path}.duration_s")
        if job.crew_size < 1 or job.crew_size > 10:
            raise ProblemError("crew size must be 1 .. 10", f"{path}.crew_size")
        if job.max_part_s is not None and job.max_part_s <= 0:
            raise ProblemError("max_part_s must be positive", f"{path}.max_part_s")
        if job.max_part_s is not None and len(part_durations(job)) > 31:
            raise ProblemError("a job may span at most 31 parts", f"{path}.max_part_s")
        for w in job.windows:
            if w.end < w.start:
                raise ProblemError("window ends before it starts", f"{path}.windows")
        if job.priority not in PRIORITY_WEIGHT:
            raise ProblemError(f"unknown priority {job.priority!r}", f"{path}.priority")
    tech_ids: set[str] = set()
    for i, tech in enumerate(problem.technicians):
        if tech.id in tech_ids:
            raise ProblemError(f"duplicate technician id {tech.id!r}", f"technicians[{i}]")
        tech_ids.add(tech.id)
        for s in tech.shifts:
            if s.end < s.start or s.max_overtime_s < 0:
                raise ProblemError("shift ends before it starts", f"technicians[{i}].shifts")


def _build(problem: Problem, travel: TravelTimeProvider) -> _Model:
    validate(problem)
    tech_index = {t.id: i for i, t in enumerate(problem.technicians)}
    vehicles: list[_Vehicle] = []
    for ti, tech in enumerate(problem.technicians):
        for shift in sorted(tech.shifts, key=lambda s: s.start):
            start, earliest = tech.start, shift.start
            if problem.now_s is not None:
                if shift.end + shift.max_overtime_s <= problem.now_s:
                    continue  # a day already over plans nothing
                earliest = max(shift.start, problem.now_s)
                if tech.position is not None and shift.start <= problem.now_s:
                    start = tech.position
            vehicles.append(_Vehicle(ti, shift, start, tech.end or tech.start, earliest))
    tech_vehicles: dict[int, list[int]] = {}
    for vi, veh in enumerate(vehicles):
        tech_vehicles.setdefault(veh.tech, []).append(vi)

    nodes: list[_Node] = []
    unassigned: list[Unassigned] = []
    eligible_leads: dict[int, tuple[int, ...]] = {}
    for ji, job in enumerate(problem.jobs):
        verdict = eligibility(problem, job, tech_index)
        if verdict.unassigned is not None:
            unassigned.append(verdict.unassigned)
            continue
        eligible_leads[ji] = verdict.leads
        part_lengths = part_durations(job)
        for part, dur in enumerate(part_lengths):
            for member in range(job.crew_size):
                role = "lead" if member == 0 else "helper"
                pool = verdict.leads if member == 0 else verdict.helpers
                allowed = [
                    v
                    for t in pool
                    for v in tech_vehicles.get(t, [])
                    if shift_fits(vehicles[v].shift, job, dur, problem.now_s)
                    or len(part_lengths) > 1
                ]
                nodes.append(_Node(ji, part, len(part_lengths), role, dur, allowed))

    points = [problem.jobs[n.job].location for n in nodes]
    points += [v.start for v in vehicles] + [v.end for v in vehicles]
    unique: dict[Point, int] = {}
    loc = np.array([unique.setdefault(p, len(unique)) for p in points], dtype=np.int64)
    if unique:
        m = travel.matrix(list(unique))
        durations = np.asarray(m.durations_s, dtype=np.int64)[np.ix_(loc, loc)]
        distances = np.asarray(m.distances_m, dtype=np.int64)[np.ix_(loc, loc)]
    else:
        durations = distances = np.zeros((0, 0), dtype=np.int64)
    return _Model(problem, nodes, vehicles, durations, distances, unassigned, eligible_leads)


def _first_solution(name: str) -> int:
    return int(getattr(routing_enums_pb2.FirstSolutionStrategy, name))


class _Deadline:
    """A search limit OR-Tools polls often; Python threads cannot interrupt a solve."""

    def __init__(self, budget_s: float, progress: ProgressFn | None) -> None:
        self.t0 = time.monotonic()
        self.deadline = self.t0 + budget_s
        self.budget = budget_s
        self.calls = 0
        self.fired = False
        self.progress = progress
        self.next_report = self.t0 + 0.5
        self.best: int | None = None

    def __call__(self) -> bool:
        self.calls += 1
        if self.calls & 255:
            return False
        now = time.monotonic()
        if self.progress is not None and now >= self.next_report:
            self.next_report = now + 0.5
            self.progress(min(1.0, (now - self.t0) / self.budget), self.best)
        if now >= self.deadline:
            self.fired = True
            return True
        return False


@dataclass
class _Routing:
    manager: pywrapcp.RoutingIndexManager
    routing: pywrapcp.RoutingModel
    tdim: pywrapcp.RoutingDimension
    groups: dict[int, list[int]]


def _lists(model: _Model, options: SolveOptions) -> tuple[list[list[int]], list[list[int]]]:
    """Arc costs and time transits as nested lists, built once however many models use them.

    tolist() of a 1,200-node matrix takes ~70 ms; the fast and the full model and the work
    dimension all read the same two.
    """
    if not model.lists:
        model.lists["cost"] = _cost_matrix(model, options).tolist()
        model.lists["transit"] = _transit(model).tolist()
    return model.lists["cost"], model.lists["transit"]


def _transit(model: _Model) -> np.ndarray:
    """The time dimension's transit per arc: the drive plus the service at its tail."""
    service = np.zeros(len(model.nodes) + 2 * len(model.vehicles), dtype=np.int64)
    service[: len(model.nodes)] = [n.duration for n in model.nodes]
    return model.durations + service[:, None]


def _routing_model(
    model: _Model,
    options: SolveOptions,
    *,
    defer_coupled: bool,
    fast: bool = False,
    sla_caps: dict[int, int] | None = None,
    fixed: dict[int, tuple[int, int]] | None = None,
) -> _Routing:
    """The OR-Tools model; `defer_coupled` leaves crews and multi-day jobs out entirely.

    `fast` states SLA deadlines and overtime without soft bounds: any soft bound on the
    time dimension makes OR-Tools solve a small LP for every route a move touches, which
    cut local search on 50x500 from ~160 moves/s to ~5. Instead a deadline becomes a hard
    cap (`sla_caps`: node -> latest start, the job's current start if that is later) and
    the day ends at shift end; the full model puts the costs back for a final polish.
    Crew and multi-day nodes the construction placed (`fixed`: node -> vehicle, start)
    stay exactly there, so unchecked local search cannot break what ties them together.
    """
    fixed = fixed or {}
    problem = model.problem
    n_nodes, n_veh = len(model.nodes), len(model.vehicles)
    starts = [n_nodes + v for v in range(n_veh)]
    ends = [n_nodes + n_veh + v for v in range(n_veh)]
    manager = pywrapcp.RoutingIndexManager(n_nodes + 2 * n_veh, n_veh, starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()
    w = problem.weights

    service = np.zeros(n_nodes + 2 * n_veh, dtype=np.int64)
    service[:n_nodes] = [n.duration for n in model.nodes]
    cost_list, transit_list = _lists(model, options)
    cost_cb = routing.RegisterTransitMatrix(cost_list)
    routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
    time_cb = routing.RegisterTransitMatrix(transit_list)
    horizon = max(v.shift.end + v.shift.max_overtime_s for v in model.vehicles)
    horizon = max(horizon, max((j.locked_start_s or 0) for j in problem.jobs) + 1)
    routing.AddDimension(time_cb, horizon + 1, horizon + 1, False, "time")
    tdim = routing.GetDimensionOrDie("time")

    for vi, veh in enumerate(model.vehicles):
        tdim.CumulVar(routing.Start(vi)).SetRange(veh.earliest, veh.shift.end)
        tdim.CumulVar(routing.End(vi)).SetRange(
            veh.earliest, veh.shift.end + (0 if fast else veh.shift.max_overtime_s)
        )
        if veh.shift.max_overtime_s and options.objective != "distance" and not fast:
            tdim.SetCumulVarSoftUpperBound(routing.End(vi), veh.shift.end, w.overtime_per_s)
        routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(routing.End(vi)))

    groups: dict[int, list[int]] = {}
    for ni, node in enumerate(model.nodes):
        groups.setdefault(node.job, []).append(ni)
        job = problem.jobs[node.job]
        index = manager.NodeToIndex(ni)
        # SetAllowedVehiclesForIndex's span binding rejects Python lists in OR-Tools 9.15;
        # restricting the vehicle variable is the same constraint (-1 keeps it droppable).
        if len(node.allowed) < n_veh:
            routing.VehicleVar(index).SetValues([-1, *node.allowed])
        cumul = tdim.CumulVar(index)
        if ni in fixed:
            routing.VehicleVar(index).SetValues([-1, fixed[ni][0]])
            cumul.SetRange(fixed[ni][1], fixed[ni][1])
        elif job.locked_start_s is not None and node.part == 0:
            cumul.SetRange(job.locked_start_s, job.locked_start_s)
        elif job.windows and node.part == 0:
            spans = sorted((win.start, win.end) for win in job.windows)
            cumul.SetRange(spans[0][0], max(e for _, e in spans))
            reach = spans[0][1]
            for s, e in spans[1:]:
                if s > reach + 1:
                    cumul.RemoveInterval(reach + 1, s - 1)
                reach = max(reach, e)
        if fast:
            # A deadline no start can meet caps nothing (an empty domain fails the model).
            if sla_caps and ni in sla_caps and sla_caps[ni] >= cumul.Min():
                cumul.SetMax(sla_caps[ni])
        elif job.due_s is not None and options.objective != "distance" and node.role == "lead":
            if node.part == node.parts - 1:
                tdim.SetCumulVarSoftUpperBound(
                    index, max(0, job.due_s - node.duration), w.lateness_per_s
                )
        routing.AddVariableMinimizedByFinalizer(cumul)

    vehicle_tech = [veh.tech for veh in model.vehicles]
    tech_of_vehicle = [-1] + vehicle_tech
    for ji, members in groups.items():
        job = problem.jobs[ji]
        penalty = drop_penalty(job, w.drop_base) if options.objective != "distance" else BIG
        share = max(1, penalty // len(members))
        for ni in members:
            # Unchecked search cannot see that members come and go together; make dropping
            # one of a placed crew dearer than anything else it could gain.
            routing.AddDisjunction(
                [manager.NodeToIndex(ni)], BIG if fast and ni in fixed else share
            )
        if len(members) == 1:
            continue
        head = manager.NodeToIndex(members[0])
        for ni in members[1:]:
            idx = manager.NodeToIndex(ni)
            solver.Add(routing.ActiveVar(idx) == routing.ActiveVar(head))
        by_part: dict[int, list[int]] = {}
        for ni in members:
            by_part.setdefault(model.nodes[ni].part, []).append(manager.NodeToIndex(ni))
        for part_nodes in by_part.values():
            for idx in part_nodes[1:]:
                solver.Add(tdim.CumulVar(idx) == tdim.CumulVar(part_nodes[0]))
        leads = [by_part[p][0] for p in sorted(by_part)]
        for prev, nxt in zip(leads, leads[1:], strict=False):
            prev_dur = model.nodes[manager.IndexToNode(prev)].duration
            solver.Add(tdim.CumulVar(nxt) >= tdim.CumulVar(prev) + prev_dur)
            # One person sees a long job through: same technician on every part.
            a = solver.Element(tech_of_vehicle, (routing.VehicleVar(prev) + 1).Var())
            b = solver.Element(tech_of_vehicle, (routing.VehicleVar(nxt) + 1).Var())
            solver.Add(a == b)

    _add_capacities(routing, manager, model, time_cb, options)
    _add_breaks(routing, manager, model, tdim, service)
    _add_stability(routing, manager, model)

    if defer_coupled:
        # Construction heuristics insert one node at a time; nodes that must be active
        # together make them backtrack for ever, so the first plan is built without them.
        for members in groups.values():
            if len(members) > 1 and members[0] not in fixed:
                for ni in members:
                    routing.ActiveVar(manager.NodeToIndex(ni)).SetValue(0)
                    if fast:
                        # Unchecked local search reads the vehicle domains, not this.
                        routing.VehicleVar(manager.NodeToIndex(ni)).SetValue(-1)
    return _Routing(manager, routing, tdim, groups)


def solve(
    problem: Problem,
    travel: TravelTimeProvider,
    options: SolveOptions = DEFAULT_OPTIONS,
    progress: ProgressFn | None = None,
) -> Plan:
    """Plan as many jobs as possible at the least cost, never past the time budget."""
    if not (0 < options.time_limit_s <= 3600):
        raise ProblemError("time limit must be more than 0 and at most 3600 s", "time_limit_s")
    if options.construction not in ("regret", "ortools", "auto"):
        raise ProblemError("construction must be regret, ortools or auto", "construction")
    t0 = time.monotonic()
    model = _build(problem, travel)
    _dbg("build", t0)
    if not model.nodes or not model.vehicles:
        dropped = _drop_all(model)
        return _plan(model, [], dropped, 0, "empty", time.monotonic() - t0, 0)

    n_nodes = len(model.nodes)
    deadline = _Deadline(options.time_limit_s - (time.monotonic() - t0), progress)
    groups: dict[int, list[int]] = {}
    for ni, node in enumerate(model.nodes):
        groups.setdefault(node.job, []).append(ni)
    coupled = [ji for ji, members in groups.items() if len(members) > 1]
    initial = _initial_routes(model) if options.warm_start else None
    temperature = _temperature(model, options)
    built: Construction | None = None
    built_at = 0.0
    if _use_regret(options):
        ortools_s = OR_TOOLS_S_PER_NODE * n_nodes
        # When the budget cannot hold both the construction and OR-Tools (building its
        # model and reading a plan into it), the construction gets all of it.
        only = deadline.deadline - time.monotonic() < ortools_s + CONSTRUCT_S_PER_NODE * n_nodes
        built = construct(
            problem,
            model.nodes,
            model.vehicles,
            model.durations,
            _cost_matrix(model, options),
            field=options.objective != "distance",
            skip={ni for ji in coupled for ni in groups[ji]},
            groups=[groups[ji] for ji in coupled],
            initial=initial,
            # Stop early rather than overrun: what is placed by then is a valid plan.
            deadline=deadline.deadline - (0.05 * deadline.budget if only else ortools_s),
        )
        built_at = time.monotonic() - t0
        _dbg(f"construct {sum(map(len, built.routes))} fixed {len(built.fixed)}", t0)
        if only or deadline.deadline - time.monotonic() < ortools_s:
            return _constructed_plan(model, built, options, t0, built_at)
    # Crews the construction placed keep their day and start in every model: the route
    # schedulers work one route at a time and would otherwise search for a common start.
    main = _routing_model(
        model, options, defer_coupled=False, fixed=built.fixed if built is not None else None
    )
    _dbg("routing", t0)
    manager, routing, tdim = main.manager, main.routing, main.tdim
    params = _search_parameters(options, n_nodes)
    solutions = [0]
    first: list[float] = []

    def on_solution() -> None:
        solutions[0] += 1
        if not first:
            first.append(time.monotonic() - t0)
        cost = routing.CostVar()
        # Inside iterated local search a callback can fire before the cost is fixed;
        # Value() would abort the process there (a CHECK in OR-Tools), so ask first.
        if cost.Bound():
            deadline.best = int(cost.Value())

    routing.AddAtSolutionCallback(on_solution)
    routing.AddSearchMonitor(routing.solver().CustomLimit(deadline))
    params.time_limit.FromMilliseconds(max(1, int((deadline.deadline - time.monotonic()) * 1000)))

    assignment = None
    start = None
    if built is not None:
        start, tried = _constructed_start(
            model, options, main, built, coupled, deadline, temperature
        )
        if start is None:
            checked = _validated(model, options, tried, built)
            return _constructed_plan(model, checked, options, t0, built_at)
        # The read may have reported a solution already; the plan existed earlier.
        first[:] = [built_at]
    elif initial is not None and sum(map(len, initial)) >= 0.9 * len(groups):
        # A warm start only pays when the current plan covers most jobs: local search
        # inserts missing jobs one move at a time, far slower than a fresh construction.
        start = routing.ReadAssignmentFromRoutes(_indexes(manager, initial), True)
    if start is None and coupled:
        # Crews and multi-day jobs: plan everything else first (a third of the budget), place
        # each group explicitly (checked by the full model), then improve the whole plan.
        pre = _routing_model(model, options, defer_coupled=True)
        pre.routing.AddAtSolutionCallback(on_solution)
        pre.routing.AddSearchMonitor(pre.routing.solver().CustomLimit(deadline))
        first_params = _search_parameters(options, n_nodes, iterated=True, temperature=temperature)
        remaining = deadline.deadline - time.monotonic()
        # Leave most of the budget for placing the groups and improving the whole plan.
        first_params.time_limit.FromMilliseconds(max(1, int(remaining * 350)))
        prebuilt = pre.routing.SolveWithIteratedLocalSearch(first_params)
        if prebuilt is None and time.monotonic() < deadline.deadline:
            # No plan yet after a third of the budget (large days): settle for the first
            # construction, with all the time that is left, rather than give up early.
            once = _search_parameters(options, n_nodes)
            once.solution_limit = 1
            # Construction heuristics look at the clock rarely; aim a little early.
            once.time_limit.FromMilliseconds(
                max(1, int((deadline.deadline - time.monotonic()) * 900))
            )
            prebuilt = pre.routing.SolveWithParameters(once)
        if prebuilt is not None:
            prebuilt_routes = _routes_of(pre.routing, prebuilt, len(model.vehicles))
            start = routing.ReadAssignmentFromRoutes(prebuilt_routes, True)
        if start is not None:
            start = (
                _place_groups(model, routing, manager, start, groups, coupled, deadline) or start
            )
    if start is not None:
        if time.monotonic() < deadline.deadline - 0.02 * deadline.budget:
            polish_ms = max(1, int((deadline.deadline - time.monotonic()) * 1000))
            params.time_limit.FromMilliseconds(polish_ms)
            # Local search restores the start plan, and finalizes every plan it accepts,
            # under lns_time_limit (100 ms by default): all cumuls and breaks, one LP or
            # MIP per route, ~0.4 s at 1,000 jobs. Past the limit the restore fails and the
            # search ends with no plan at all (ROUTING_FAIL after ~0.5 s, the rest of the
            # budget idle). The time limit and the deadline bound the search anyway.
            params.lns_time_limit.FromMilliseconds(polish_ms)
            assignment = routing.SolveFromAssignmentWithParameters(start, params) or start
        else:
            assignment = start
    elif not coupled and time.monotonic() < deadline.deadline:
        ils_params = _search_parameters(options, n_nodes, iterated=True, temperature=temperature)
        ils_params.time_limit.CopyFrom(params.time_limit)
        assignment = routing.SolveWithIteratedLocalSearch(ils_params)
    # else: the budget ran out before any plan existed; say so rather than overrun it.
    elapsed = time.monotonic() - t0
    _dbg("solved", t0)
    if assignment is None:
        late = [
            Unassigned(
                problem.jobs[ji].id,
                UnassignedReason.NOT_PLANNED_IN_TIME,
                "The time limit ended before any plan existed; run again with more time",
                {"time_limit_s": options.time_limit_s},
            )
            for ji in model.eligible_leads
        ]
        return _plan(model, [], model.unassigned + late, 0, "no_solution", elapsed, solutions[0])
    status = "time_limit" if deadline.fired or elapsed >= options.time_limit_s * 0.98 else "done"
    routes = _read_routes(model, routing, manager, tdim, assignment)
    dropped = _explain_dropped(model, routes, routing, manager, assignment)
    return _plan(
        model,
        routes,
        model.unassigned + dropped,
        int(assignment.ObjectiveValue()),
        status,
        time.monotonic() - t0,
        solutions[0],
        first[0] if first else None,
    )


def _use_regret(options: SolveOptions) -> bool:
    """Our construction, unless asked otherwise (see SolveOptions.construction)."""
    if options.construction == "auto":
        return options.objective != "distance"
    return options.construction == "regret"


def _constructed_start(
    model: _Model,
    options: SolveOptions,
    main: _Routing,
    built: Construction,
    coupled: list[int],
    deadline: _Deadline,
    temperature: float,
) -> tuple[pywrapcp.Assignment | None, list[list[int]]]:
    """The constructed routes, improved on the fast model, read into the full model.

    Also returns the routes it tried to read, for the caller to fall back on when the
    read fails (its time is hard to predict on a loaded machine: 1-3 s at 1,000 jobs).
    """
    unplaced = {ni for ji in coupled for ni in main.groups[ji]} - set(built.fixed)
    # Reading the plan into the full model takes time of its own (~1 s at 1,000 jobs), and
    # the full model's polish puts lateness and overtime costs back.
    reserve = READ_S_PER_NODE * len(model.nodes) + POLISH_SHARE * deadline.budget
    fast_until = deadline.deadline - reserve
    routes = built.routes
    if fast_until - time.monotonic() > 0.05 * deadline.budget:
        routes = _improve_fast(model, options, built, unplaced, fast_until, temperature) or routes
        _dbg("fast solve", deadline.t0)
    # The read is a search that the deadline interrupts; stop it early enough to check
    # the routes ourselves and build the plan from them instead.
    saved = deadline.deadline
    deadline.deadline -= VALIDATE_S_PER_NODE * len(model.nodes)
    try:
        start = main.routing.ReadAssignmentFromRoutes(_indexes(main.manager, routes), True)
    finally:
        deadline.deadline = saved
    _dbg(f"read ok={start is not None}", deadline.t0)
    return start, routes


def _validated(
    model: _Model, options: SolveOptions, routes: list[list[int]], built: Construction
) -> Construction:
    """Routes re-checked by the construction's exact schedule; what does not fit is out.

    Unchecked local search answers are trusted only after this (or after OR-Tools read
    them). A crew or multi-day job missing a member goes out whole.
    """
    keep = {ni: at for ni, (_, at) in built.fixed.items()}
    jobs = model.problem.jobs
    skip = {
        ni for ni, node in enumerate(model.nodes) if node.parts > 1 or jobs[node.job].crew_size > 1
    }
    for _ in range(3):
        checked = construct(
            model.problem,
            model.nodes,
            model.vehicles,
            model.durations,
            _cost_matrix(model, options),
            field=options.objective != "distance",
            skip=skip,
            initial=routes,
            keep=keep,
            only=(),
        )
        present = {ni for r in checked.routes for ni in r}
        broken = {model.nodes[ni].job for ni in keep if ni not in present}
        if not broken:
            return checked
        routes = [[ni for ni in r if model.nodes[ni].job not in broken] for r in checked.routes]
        keep = {ni: at for ni, at in keep.items() if model.nodes[ni].job not in broken}
    return construct(
        model.problem,
        model.nodes,
        model.vehicles,
        model.durations,
        _cost_matrix(model, options),
        field=options.objective != "distance",
        skip=skip | set(keep),
        initial=routes,
        only=(),
    )


def _improve_fast(
    model: _Model,
    options: SolveOptions,
    built: Construction,
    skip: set[int],
    until: float,
    temperature: float,
) -> list[list[int]] | None:
    """Iterated local search from the constructed routes on the fast model, until `until`.

    OR-Tools' unchecked local search (filters only, no propagation) makes many more moves
    per second but stops at the first local optimum and cannot start from a perturbed plan
    by itself; so the loop is ours: ruin the jobs around a random visit, re-insert with
    the construction, descend on the region that changed (_region, _sub_model), accept
    by annealing. Every plan is priced by _Estimate, the fast model's objective in numpy.
    The result is checked when it is read into the full model.
    """
    caps = _sla_caps(model, built.starts) if options.objective != "distance" else {}
    fast = _routing_model(
        model, options, defer_coupled=True, fast=True, sla_caps=caps, fixed=built.fixed
    )
    params = _search_parameters(options, len(model.nodes), iterated=True, temperature=temperature)
    fast.routing.CloseModelWithParameters(params)
    coupled = skip | set(built.fixed)
    cost_mat = _cost_matrix(model, options)
    price = _Estimate(model, options, cost_mat)

    def settle(routes: list[list[int]]) -> list[list[int]]:
        # Nothing of a crew or multi-day job the construction did not place, and a placed
        # group whole or not at all (the full model drops it then).
        out = [[ni for ni in r if ni not in skip] for r in routes]
        present = {ni for r in out for ni in r}
        broken = {model.nodes[ni].job for ni in built.fixed if ni not in present}
        return [[ni for ni in r if model.nodes[ni].job not in broken] for r in out]

    def local(routes: list[list[int]], changed: list[int]) -> list[list[int]] | None:
        present = {ni for r in routes for ni in r}
        outside = [ni for ni in range(len(model.nodes)) if ni not in present and ni not in coupled]
        days, members = _region(model, routes, changed, outside)
        sub = _sub_model(model, days, members)
        pos = {ni: k for k, ni in enumerate(members)}
        day = {vi: k for k, vi in enumerate(days)}
        region = _routing_model(
            sub,
            options,
            defer_coupled=True,
            fast=True,
            sla_caps={pos[ni]: at for ni, at in caps.items() if ni in pos},
            fixed={pos[ni]: (day[vi], at) for ni, (vi, at) in built.fixed.items() if ni in pos},
        )
        region.routing.CloseModelWithParameters(params)
        found = _descend(region, params, [[pos[ni] for ni in routes[vi]] for vi in days], until)
        if found is None:
            return None
        out = list(routes)
        for k, vi in enumerate(days):
            out[vi] = [members[x] for x in found[k]]
        return settle(out)

    # The first descent, from the construction, is the only one over the whole plan.
    found = _descend(fast, params, built.routes, until)
    if found is None:
        return None
    rng = random.Random(options.seed)
    best = settle(found)
    best_cost = price(best)

    def recreate(routes: list[list[int]]) -> list[list[int]]:
        present = {ni for r in routes for ni in r}
        keep = {ni: at for ni, (_, at) in built.fixed.items() if ni in present}
        outside = [ni for ni in range(len(model.nodes)) if ni not in present and ni not in coupled]
        ruined, extra = _ruin(model, routes, rng, set(keep), outside)
        gone = present - {ni for r in ruined for ni in r}
        hit = [vi for vi, (a, b) in enumerate(zip(ruined, routes, strict=True)) if a != b]
        eject: bool | list[int] = _region(model, ruined, hit, [])[0] if hit else True
        return construct(
            model.problem,
            model.nodes,
            model.vehicles,
            model.durations,
            cost_mat,
            field=options.objective != "distance",
            skip=coupled,
            initial=ruined,
            keep=keep,
            latest=caps,
            only=gone | set(extra),
            deadline=until,
            eject=eject,
        ).routes

    rounds = inner = 0
    ref, ref_cost = best, best_cost
    began = time.monotonic()
    while time.monotonic() < until - 0.05:
        # Ruin and recreate is ours and cheap; the descent costs as much as several of
        # them. So between descents, recreate a few times and keep what our estimate (the
        # fast model's objective) says is better, or nearly as good.
        current = recreate(ref)
        current_cost = price(current)
        for _ in range(INNER_STEPS):
            if time.monotonic() > until - 0.05:
                break
            trial = recreate(current)
            trial_cost = price(trial)
            inner += 1
            if trial_cost < current_cost + temperature * rng.random():
                current, current_cost = trial, trial_cost
        rounds += 1
        changed = [vi for vi, (a, b) in enumerate(zip(current, ref, strict=True)) if a != b]
        descended = local(current, changed) if changed else current
        if descended is None:
            continue
        # Always our own price: OR-Tools' objective is meaningless for a descent its time
        # limit cut short (INT64_MIN was seen at 1,000 jobs), and a region's covers part.
        cost = price(descended)
        if cost < best_cost:
            best, best_cost = descended, cost
        frac = min(1.0, (time.monotonic() - began) / max(1e-3, until - began))
        heat = OUTER_T * temperature * 0.01**frac
        if cost < ref_cost - heat * math.log(max(1e-12, rng.random())):
            ref, ref_cost = descended, cost
    log.debug("fast model: %d rounds, %d more recreates, cost %d", rounds, inner, best_cost)
    return best


def _descend(
    fast: _Routing, params: Any, routes: list[list[int]], until: float
) -> list[list[int]] | None:
    """OR-Tools' unchecked descent of a fast model from `routes`; the order of the result.

    Cut short by the time limit, it returns its last accepted routes, which are sound,
    but a meaningless objective (INT64_MIN was seen at 1,000 jobs): callers price the
    routes with _Estimate and never read the assignment's objective.
    """
    routing, manager = fast.routing, fast.manager
    remaining = until - time.monotonic()
    if remaining <= 0:
        return None
    # Next values are all unchecked search needs; ReadAssignmentFromRoutes would also fix
    # every time and break by a search of its own (18 s at 1,000 jobs, no LP).
    start = routing.solver().Assignment()
    nexts: dict[int, int] = {}
    owner: dict[int, int] = {}
    for vi, route in enumerate(routes):
        seq = [routing.Start(vi), *(manager.NodeToIndex(ni) for ni in route), routing.End(vi)]
        nexts.update(zip(seq, seq[1:], strict=False))
        owner.update((index, vi) for index in seq)
    for index in range(routing.Size()):
        var = routing.NextVar(index)
        start.Add(var)
        start.SetValue(var, nexts.get(index, index))
    # Vehicle-dependent costs (the stability term) make the operators read these too.
    for index in range(routing.Size() + routing.vehicles()):
        var = routing.VehicleVar(index)
        start.Add(var)
        start.SetValue(var, owner.get(index, -1))
    start.AddObjective(routing.CostVar())
    params.time_limit.FromMilliseconds(max(1, int(remaining * 1000)))
    better = routing.FastSolveFromAssignmentWithParameters(start, params, False)
    if better is None:
        return None
    # Only the order is taken: times are the full model's business.
    return [
        [manager.IndexToNode(i) for i in _route_indexes(routing, better, vi)]
        for vi in range(len(routes))
    ]


def _region(
    model: _Model, routes: list[list[int]], changed: list[int], outside: list[int]
) -> tuple[list[int], list[int]]:
    """The days a round changed and the days nearest them; their visits and nearby jobs.

    Returns vehicle indexes (at most REGION_DAYS) and node indexes: the visits of those
    days, then the REGION_OUTSIDE jobs left out nearest them that one of the days may take.
    """
    days = changed[:REGION_DAYS]
    core = [ni for vi in days for ni in routes[vi]]
    taken = set(days)
    if core and len(days) < REGION_DAYS:
        owner = [(ni, vi) for vi, r in enumerate(routes) if vi not in taken for ni in r]
        if owner:
            others = np.array([ni for ni, _ in owner], dtype=np.int64)
            near = model.durations[np.ix_(others, np.array(core, dtype=np.int64))].min(axis=1)
            for k in np.argsort(near, kind="stable"):
                vi = owner[int(k)][1]
                if vi not in taken:
                    taken.add(vi)
                    days.append(vi)
                    if len(days) >= REGION_DAYS:
                        break
    members = [ni for vi in days for ni in routes[vi]]
    able = [ni for ni in outside if not taken.isdisjoint(model.nodes[ni].allowed)]
    if able and members:
        cand = np.array(able, dtype=np.int64)
        near = model.durations[np.ix_(cand, np.array(members, dtype=np.int64))].min(axis=1)
        members += cand[np.argsort(near, kind="stable")[:REGION_OUTSIDE]].tolist()
    return days, members


def _sub_model(model: _Model, days: list[int], members: list[int]) -> _Model:
    """The model restricted to some vehicles and nodes, renumbered in the given order."""
    index = {vi: k for k, vi in enumerate(days)}
    n, n_veh = len(model.nodes), len(model.vehicles)
    nodes = [
        replace(model.nodes[ni], allowed=[index[v] for v in model.nodes[ni].allowed if v in index])
        for ni in members
    ]
    keep = np.array(
        [*members, *(n + vi for vi in days), *(n + n_veh + vi for vi in days)], dtype=np.int64
    )
    grid = np.ix_(keep, keep)
    return _Model(
        model.problem,
        nodes,
        [model.vehicles[vi] for vi in days],
        model.durations[grid],
        model.distances[grid],
        [],
        {},
        fair_work=_fair_work(model),
    )


class _Estimate:
    """The fast model's objective of some routes: arcs, drops, balance and stability."""

    def __init__(self, model: _Model, options: SolveOptions, cost: np.ndarray) -> None:
        self.model, self.cost = model, cost
        n, n_veh = len(model.nodes), len(model.vehicles)
        problem, w = model.problem, model.problem.weights
        field_objective = options.objective != "distance"
        self.drop = np.array(
            [
                drop_penalty(problem.jobs[node.job], w.drop_base) if field_objective else BIG
                for node in model.nodes
            ],
            dtype=np.float64,
        )
        # Work per arc is the time dimension's transit: the drive plus the service it ends.
        self.work = _transit(model)
        self.balance = w.balance_per_s if field_objective and n_veh > 1 else 0
        self.fair = _fair_work(model)
        # The routing model charges a move on the lead's visit only (_add_stability).
        moved = move_costs(problem, model.nodes, model.vehicles, np.arange(n, dtype=np.int64))
        if moved is not None:
            moved[[node.role != "lead" for node in model.nodes]] = 0.0
            moved = moved.T
        self.moved = moved

    def __call__(self, routes: list[list[int]]) -> float:
        """The objective of `routes`, one node list per vehicle."""
        n, n_veh = len(self.model.nodes), len(self.model.vehicles)
        total = 0.0
        placed = np.zeros(n, dtype=bool)
        for vi, route in enumerate(routes):
            if not route:
                continue
            seq = np.array([n + vi, *route, n + n_veh + vi], dtype=np.int64)
            total += float(self.cost[seq[:-1], seq[1:]].sum())
            if self.balance:
                work = int(self.work[seq[:-1], seq[1:]].sum())
                total += self.balance * max(0, work - self.fair)
            if self.moved is not None:
                total += float(self.moved[vi, route].sum())
            placed[route] = True
        return total + float(self.drop[~placed].sum())


def _ruin(
    model: _Model,
    routes: list[list[int]],
    rng: random.Random,
    keep: set[int],
    outside: list[int],
) -> tuple[list[list[int]], list[int]]:
    """Take out a handful of visits around a seed point; also name outside jobs to offer.

    Re-insert what was taken out and a few jobs from outside the plan, no more: a full
    reconstruction lands far from the optimum the descent found. The seed is a visit or,
    as often, a job left out (weighted by its drop penalty), and the jobs offered are the
    left-out ones nearest the seed: random ones rarely fit the room a local ruin makes,
    and a job left out only gets in when visits near it make way.
    """
    visited = np.array([ni for r in routes for ni in r if ni not in keep], dtype=np.int64)
    if not len(visited):
        return routes, []
    jobs = model.problem.jobs
    if outside and rng.random() < RUIN_OUTSIDE_SHARE:
        weights = [drop_penalty(jobs[model.nodes[ni].job], 1) for ni in outside]
        seed = rng.choices(outside, weights=weights)[0]
    else:
        seed = int(visited[rng.randrange(len(visited))])
    k = rng.randint(RUIN_MIN, max(RUIN_MIN, min(RUIN_MAX, len(visited) // 8)))
    order = visited[np.argsort(model.durations[seed, visited], kind="stable")]
    if rng.random() < RUIN_STRING_SHARE:
        gone = _strings(routes, order.tolist(), k, rng, keep)
    else:
        gone = set(order[:k].tolist())
    extra: list[int] = []
    if outside:
        out = np.array(outside, dtype=np.int64)
        extra = out[np.argsort(model.durations[seed, out], kind="stable")[:RUIN_EXTRA]].tolist()
    return [[ni for ni in r if ni not in gone] for r in routes], extra


def _strings(
    routes: list[list[int]], order: list[int], k: int, rng: random.Random, keep: set[int]
) -> set[int]:
    """About `k` visits taken as strings, one per route, from the routes nearest the seed.

    The plain ruin takes the visits nearest the seed, scattered holes that the recreate
    can only refill one by one. A run of consecutive visits out of each of several nearby
    days frees whole stretches, so the recreate can re-sequence the area across days.
    `order` is the visits (none of `keep`) by distance from the seed.
    """
    where: dict[int, tuple[int, int]] = {}
    for vi, route in enumerate(routes):
        for pos, ni in enumerate(route):
            where[ni] = (vi, pos)
    gone: set[int] = set()
    touched: set[int] = set()
    for ni in order:
        if len(gone) >= k:
            break
        vi, pos = where[ni]
        if vi in touched:
            continue
        touched.add(vi)
        route = routes[vi]
        length = rng.randint(1, min(STRING_MAX, len(route), k - len(gone)))
        first = rng.randint(max(0, pos - length + 1), min(pos, len(route) - length))
        gone.update(x for x in route[first : first + length] if x not in keep)
    return gone


def _indexes(manager: pywrapcp.RoutingIndexManager, routes: list[list[int]]) -> list[list[int]]:
    return [[manager.NodeToIndex(ni) for ni in r] for r in routes]


def _sla_caps(model: _Model, starts: dict[int, int]) -> dict[int, int]:
    """Latest start per SLA node for the fast model: deadline (or later start) plus slack.

    The slack is SLA_CAP_SLACK_S past the deadline, or past the constructed start when
    that is already late.

    Only jobs in the constructed plan are capped; capping the others too (so the fast
    search never buys a job with lateness it cannot see) cost 0.8M of objective and 3 h
    more lateness on 50x500 at 20 s: jobs it could not take on time went to worse places.
    No cap at all cost up to 9 h more lateness than VROOM's on 50x500 (seed 8).
    """
    caps: dict[int, int] = {}
    for ni, start in starts.items():
        node = model.nodes[ni]
        job = model.problem.jobs[node.job]
        if job.due_s is not None and node.role == "lead" and node.part == node.parts - 1:
            caps[ni] = max(job.due_s - node.duration, start) + SLA_CAP_SLACK_S
    return caps


def _dbg(what: str, t0: float) -> None:
    """Phase timings for benchmark diagnosis (logging level DEBUG)."""
    log.debug("%s at %.2f s", what, time.monotonic() - t0)


def _cost_matrix(model: _Model, options: SolveOptions) -> np.ndarray:
    """What one arc costs in the objective: distance, or drive seconds times their weight."""
    if options.objective == "distance":
        return model.distances
    return model.durations * model.problem.weights.travel_per_s


def _routes_of(
    routing: pywrapcp.RoutingModel, assignment: pywrapcp.Assignment, n_veh: int
) -> list[list[int]]:
    return [_route_indexes(routing, assignment, vi) for vi in range(n_veh)]


def _place_groups(
    model: _Model,
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    assignment: pywrapcp.Assignment,
    groups: dict[int, list[int]],
    coupled: list[int],
    deadline: _Deadline,
) -> pywrapcp.Assignment | None:
    """Put unplaced crews and multi-day jobs into routes; the model checks each try."""
    routes = _routes_of(routing, assignment, len(model.vehicles))
    placed = {i for r in routes for i in r}
    jobs = model.problem.jobs
    order = sorted(coupled, key=lambda ji: -drop_penalty(jobs[ji], 1))
    changed = False
    slowest = 0.0
    for ji in order:
        members = [manager.NodeToIndex(ni) for ni in groups[ji]]
        if any(idx in placed for idx in members):
            continue
        for trial in _group_trials(model, manager, routes, groups[ji]):
            # A restore is a small search of its own that no limit interrupts: stop while
            # the slowest one seen so far still fits in the budget.
            began = time.monotonic()
            if began + slowest > deadline.deadline - 0.05 * deadline.budget:
                break
            candidate = [list(r) for r in routes]
            for vi, idx, at_start in trial:
                if at_start:
                    candidate[vi].insert(0, idx)
                else:
                    candidate[vi].append(idx)
            accepted = routing.ReadAssignmentFromRoutes(candidate, True) is not None
            slowest = max(slowest, time.monotonic() - began)
            if accepted:
                routes, changed = candidate, True
                placed.update(members)
                break
    # Each read reuses one assignment object inside the model, and a failed try leaves it
    # half-written: read the accepted routes once more for a clean starting point.
    return routing.ReadAssignmentFromRoutes(routes, True) if changed else None


def _group_trials(
    model: _Model,
    manager: pywrapcp.RoutingIndexManager,
    routes: list[list[int]],
    members: list[int],
) -> list[list[tuple[int, int, bool]]]:
    """Candidate placements for one group, least-loaded days first, bounded in number."""
    by_part: dict[int, list[int]] = {}
    for ni in members:
        by_part.setdefault(model.nodes[ni].part, []).append(ni)
    parts = [by_part[p] for p in sorted(by_part)]
    vehicles = model.vehicles
    trials: list[list[tuple[int, int, bool]]] = []
    for at_start in (True, False):
        if len(parts) == 1:
            crew = parts[0]
            lead = crew[0]
            for lv in sorted(model.nodes[lead].allowed, key=lambda v: len(routes[v]))[:6]:
                day = vehicles[lv].shift.start
                chosen = [(lv, manager.NodeToIndex(lead), at_start)]
                used = {vehicles[lv].tech}
                for helper in crew[1:]:
                    options = [
                        v
                        for v in model.nodes[helper].allowed
                        if vehicles[v].shift.start == day and vehicles[v].tech not in used
                    ]
                    if not options:
                        break
                    hv = min(options, key=lambda v: len(routes[v]))
                    used.add(vehicles[hv].tech)
                    chosen.append((hv, manager.NodeToIndex(helper), at_start))
                if len(chosen) == len(crew):
                    trials.append(chosen)
        else:
            leads = [p[0] for p in parts]
            techs = {vehicles[v].tech for v in model.nodes[leads[0]].allowed}
            for tech in sorted(techs):
                own = sorted(
                    (v for v in range(len(vehicles)) if vehicles[v].tech == tech),
                    key=lambda v: vehicles[v].shift.start,
                )
                for first_day in range(len(own)):
                    # Fill each working day with parts in order, then move to the next day.
                    trial: list[tuple[int, int, bool]] = []
                    day, booked = first_day, 0
                    for ni in leads:
                        dur = model.nodes[ni].duration
                        while day < len(own):
                            shift = vehicles[own[day]].shift
                            if booked + dur <= shift.end - shift.start:
                                break
                            day, booked = day + 1, 0
                        if day >= len(own):
                            break
                        booked += dur
                        trial.append((own[day], manager.NodeToIndex(ni), at_start))
                    if len(trial) == len(leads):
                        # Parts sharing a day must keep their order inside the route.
                        if at_start:
                            trial.reverse()
                        trials.append(trial)
    return trials[:24]


def _add_capacities(
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    model: _Model,
    transit_cb: int,
    options: SolveOptions,
) -> None:
    """Load, jobs per day and work per day; plus the fair-share balance term."""
    techs = model.problem.technicians
    vehicles = model.vehicles
    n_total = len(model.nodes) + 2 * len(vehicles)
    if any(techs[v.tech].capacity is not None for v in vehicles):
        demand = [0] * n_total
        for ni, node in enumerate(model.nodes):
            demand[ni] = model.problem.jobs[node.job].demand if node.role == "lead" else 0
        cb = routing.RegisterUnaryTransitVector(demand)
        caps = [techs[v.tech].capacity or BIG for v in vehicles]
        routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "load")
    if any(techs[v.tech].max_jobs_per_day is not None for v in vehicles):
        ones = [1] * len(model.nodes) + [0] * (n_total - len(model.nodes))
        cb = routing.RegisterUnaryTransitVector(ones)
        caps = [techs[v.tech].max_jobs_per_day or BIG for v in vehicles]
        routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "jobs")
    w = model.problem.weights
    balance = (
        options.objective != "distance"
        and w.balance_per_s > 0
        and (len(vehicles) > 1 or model.fair_work is not None)
    )
    if balance or any(techs[v.tech].max_work_s_per_day is not None for v in vehicles):
        # Work is drive plus service, the time dimension's own transit: same callback.
        caps = [techs[v.tech].max_work_s_per_day or BIG for v in vehicles]
        routing.AddDimensionWithVehicleCapacity(transit_cb, 0, caps, True, "work")
        if balance:
            work = routing.GetDimensionOrDie("work")
            fair = _fair_work(model)
            for vi in range(len(vehicles)):
                work.SetCumulVarSoftUpperBound(routing.End(vi), fair, w.balance_per_s)


def _fair_work(model: _Model) -> int:
    """Each day's fair share of all the work; past it, the balance weight applies."""
    if model.fair_work is not None:
        return model.fair_work
    return sum(n.duration for n in model.nodes) // max(1, len(model.vehicles))


def _add_breaks(
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    model: _Model,
    tdim: pywrapcp.RoutingDimension,
    service: np.ndarray,
) -> None:
    """Shift breaks and fixed bookings become break intervals of each day's route."""
    techs = model.problem.technicians
    visit = [0] * routing.Size()
    for index in range(routing.Size()):
        visit[index] = int(service[manager.IndexToNode(index)])
    solver = routing.solver()
    for vi, veh in enumerate(model.vehicles):
        intervals = []
        for k, brk in enumerate(veh.shift.breaks):
            lo = max(brk.earliest_start, veh.earliest)
            hi = max(brk.latest_start, lo)
            intervals.append(
                solver.FixedDurationIntervalVar(lo, hi, brk.duration_s, False, f"b{vi}_{k}")
            )
        for k, booking in enumerate(techs[veh.tech].bookings):
            if booking.end <= veh.earliest or booking.start >= veh.shift.end:
                continue
            start = max(booking.start, veh.earliest)
            intervals.append(
                solver.FixedDurationIntervalVar(
                    start, start, booking.end - start, False, f"k{vi}_{k}"
                )
            )
        if intervals:
            tdim.SetBreakIntervalsOfVehicle(intervals, vi, visit)


def _add_stability(
    routing: pywrapcp.RoutingModel, manager: pywrapcp.RoutingIndexManager, model: _Model
) -> None:
    """Moving a planned job to someone else costs; a dispatched one costs more."""
    jobs = model.problem.jobs
    techs = model.problem.technicians
    current = [jobs[n.job].current_technician for n in model.nodes]
    if not any(current):
        return
    w = model.problem.weights
    size = len(model.nodes) + 2 * len(model.vehicles)
    callbacks: dict[int, int] = {}
    per_vehicle = []
    for veh in model.vehicles:
        if veh.tech not in callbacks:
            me = techs[veh.tech].id
            costs = [0] * size
            for ni, node in enumerate(model.nodes):
                owner = current[ni]
                if node.role == "lead" and owner is not None and owner != me:
                    costs[ni] = w.move_dispatched if jobs[node.job].dispatched else w.move_planned
            callbacks[veh.tech] = routing.RegisterUnaryTransitVector(costs)
        per_vehicle.append(callbacks[veh.tech])
    routing.AddDimensionWithVehicleTransits(per_vehicle, 0, BIG, True, "moved")
    routing.GetDimensionOrDie("moved").SetSpanCostCoefficientForAllVehicles(1)


# Insertion-based LNS operators cost 200-300 ms per iteration at 100 visits; without them
# iterated local search runs about six times more ruin-and-recreate rounds per second.
_SLOW_OPERATORS = (
    "use_global_cheapest_insertion_path_lns",
    "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns",
    "use_local_cheapest_insertion_visit_types_lns",
    "use_relocate_pair",
    "use_light_relocate_pair",
    "use_exchange_pair",
    "use_lin_kernighan",
    "use_relocate_expensive_chain",
    "use_exchange_subtrip",
    "use_relocate_subtrip",
)
# Only meaningful when jobs may be dropped; with every visit mandatory they are dead weight.
_OPTIONAL_NODE_OPERATORS = (
    "use_make_active",
    "use_make_inactive",
    "use_make_chain_inactive",
    "use_swap_active",
    "use_shortest_path_swap_active",
    "use_swap_active_chain",
)
BOOL_FALSE = 2
_SORT_RANDOM = (
    routing_heuristic_parameters_pb2.LocalCheapestInsertionParameters.SORTING_PROPERTY_RANDOM
)


def _search_parameters(
    options: SolveOptions, n_nodes: int, *, iterated: bool = False, temperature: float = 100.0
) -> Any:
    """Guided local search from a start plan, or iterated local search from scratch.

    The iterated variant (SISR ruin, simulated-annealing acceptance) is what reaches ~1.9%
    mean gap on Solomon at 10 s where guided local search stays near 4.6% (bench/dispatch).
    """
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = _first_solution("PARALLEL_CHEAPEST_INSERTION")
    metaheuristics = routing_enums_pb2.LocalSearchMetaheuristic
    if iterated:
        # ILS runs a plain descent inside each round; a guided search there would spend
        # the whole budget in the first round.
        params.local_search_metaheuristic = metaheuristics.GREEDY_DESCENT
        params.use_iterated_local_search = True
        ils = params.iterated_local_search_parameters
        ruin = ils.ruin_recreate_parameters
        del ruin.ruin_strategies[:]
        sisr = ruin.ruin_strategies.add().sisr
        sisr.bypass_factor = 0.01
        if options.objective == "distance":
            # Tuned on Solomon at 10 s (bench/dispatch/solomon.py, 12 instances, 2 seeds):
            # longer strings and re-inserting in random order rather than by OR-Tools'
            # default properties took the mean gap from 1.95% to 1.28%.
            sisr.max_removed_sequence_size = 15
            sisr.avg_num_removed_visits = 20
            recreate = ruin.recreate_strategy.parameters.local_cheapest_insertion
            recreate.insertion_sorting_properties[:] = [_SORT_RANDOM]
        else:
            sisr.max_removed_sequence_size = 10
            sisr.avg_num_removed_visits = 10
        annealing = ils.reference_solution_acceptance_strategy.simulated_annealing
        annealing.automatic_temperatures = False
        annealing.initial_temperature = temperature
        annealing.final_temperature = temperature / 100
        operators = params.local_search_operators
        slow = _SLOW_OPERATORS + (
            _OPTIONAL_NODE_OPERATORS if options.objective == "distance" else ()
        )
        for name in slow:
            setattr(operators, name, BOOL_FALSE)
    else:
        params.local_search_metaheuristic = metaheuristics.GUIDED_LOCAL_SEARCH
    if n_nodes > 200:
        # Cheapest insertion is quadratic; looking only at near neighbours keeps the first
        # plan of 1,000 jobs within seconds.
        gci = params.global_cheapest_insertion_first_solution_parameters
        gci.neighbors_ratio = min(1.0, 40 / n_nodes)
        gci.min_neighbors = 10
        # Not ls_operator_neighbors_ratio: restricting local-search neighbourhoods the same
        # way cut 50x500 from 26 improving solutions in 20 s to one (bench/dispatch).
    params.sat_parameters.random_seed = options.seed
    return params


def _temperature(model: _Model, options: SolveOptions) -> float:
    """Annealing start temperature in cost units: about one short hop between visits."""
    if options.objective == "distance":
        return 300.0  # tuned on Solomon with distances x10 (bench/dispatch/solomon.py)
    n = len(model.nodes)
    if n < 2:
        return 100.0
    block = model.durations[:n, :n].astype(float) + np.eye(n) * 1e12
    return float(max(10.0, 0.5 * np.median(block.min(axis=1))))


def _initial_routes(model: _Model) -> list[list[int]]:
    """Today's plan as node lists, for a warm start: each planned job on its current day."""
    jobs = model.problem.jobs
    techs = model.problem.technicians
    routes: list[list[tuple[int, int]]] = [[] for _ in model.vehicles]
    for ni, node in enumerate(model.nodes):
        job = jobs[node.job]
        if node.role != "lead" or node.parts > 1 or job.crew_size > 1:
            continue
        if job.current_technician is None or job.current_start_s is None:
            continue
        for vi, veh in enumerate(model.vehicles):
            if (
                techs[veh.tech].id == job.current_technician
                and veh.shift.start <= job.current_start_s < veh.shift.end
                and vi in node.allowed
            ):
                routes[vi].append((job.current_start_s, ni))
                break
    return [[ni for _, ni in sorted(r)] for r in routes]


def _read_routes(
    model: _Model,
    routing: pywrapcp.RoutingModel,
    manager: pywrapcp.RoutingIndexManager,
    tdim: pywrapcp.RoutingDimension,
    assignment: pywrapcp.Assignment,
) -> list[Route]:
    jobs = model.problem.jobs
    techs = model.problem.technicians
    breaks_of: dict[int, list[tuple[int, int]]] = {}
    container = assignment.IntervalVarContainer()
    for k in range(container.Size()):
        element = container.Element(k)
        name = element.Var().Name()
        if element.PerformedValue() and name[:1] in ("b", "k"):
            vi = int(name[1:].split("_")[0])
            start = element.StartValue()
            breaks_of.setdefault(vi, []).append((start, start + element.DurationValue()))
    routes: list[Route] = []
    for vi, veh in enumerate(model.vehicles):
        index = routing.Start(vi)
        if routing.IsEnd(assignment.Value(routing.NextVar(index))):
            continue
        visits: list[Visit] = []
        travel_total = dist_total = work = 0
        prev = manager.IndexToNode(index)
        route_start = assignment.Value(tdim.CumulVar(index))
        index = assignment.Value(routing.NextVar(index))
        while True:
            node_i = manager.IndexToNode(index)
            tr = int(model.durations[prev, node_i])
            di = int(model.distances[prev, node_i])
            travel_total += tr
            dist_total += di
            if routing.IsEnd(index):
                end = assignment.Value(tdim.CumulVar(index))
                break
            node = model.nodes[node_i]
            job = jobs[node.job]
            start = assignment.Value(tdim.CumulVar(index))
            finish = start + node.duration
            late = 0
            if job.due_s is not None and node.part == node.parts - 1:
                late = max(0, finish - job.due_s)
            visits.append(
                Visit(
                    job_id=job.id,
                    technician_id=techs[veh.tech].id,
                    start=start,
                    end=finish,
                    travel_s=tr,
                    distance_m=di,
                    role=node.role,
                    part=node.part,
                    parts=node.parts,
                    late_s=late,
                )
            )
            work += node.duration
            prev = node_i
            index = assignment.Value(routing.NextVar(index))
        routes.append(
            Route(
                technician_id=techs[veh.tech].id,
                shift_start=veh.shift.start,
                shift_end=veh.shift.end,
                start=route_start,
                end=end,
                visits=tuple(visits),
                breaks=tuple(sorted(breaks_of.get(vi, []))),
                travel_s=travel_total,
                distance_m=dist_total,
                work_s=work + travel_total,
                overtime_s=max(0, end - veh.shift.end),
            )
        )
    return routes


def _explain_dropped(
    model: _Model,
    routes: list[Route],
    routing: pywrapcp.RoutingModel | None,
    manager: pywrapcp.RoutingIndexManager | None,
    assignment: pywrapcp.Assignment | None,
) -> list[Unassigned]:
    """Give every eligible job the solver left out a reason from the finished plan."""
    planned = {v.job_id for r in routes for v in r.visits}
    jobs = model.problem.jobs
    techs = model.problem.technicians
    n_nodes, n_veh = len(model.nodes), len(model.vehicles)
    pinned: set[int] = set()
    if assignment is not None and routing is not None and manager is not None:
        for vi, veh in enumerate(model.vehicles):
            route_jobs = [
                jobs[model.nodes[manager.IndexToNode(i)].job]
                for i in _route_indexes(routing, assignment, vi)
            ]
            fixed = sum(
                j.duration_s
                for j in route_jobs
                if j.pinned_technician or j.locked_start_s is not None
            )
            if fixed >= 0.5 * (veh.shift.end - veh.earliest):
                pinned.add(vi)
    first_node: dict[int, int] = {}
    for ni, node in enumerate(model.nodes):
        first_node.setdefault(node.job, ni)
    out: list[Unassigned] = []
    for ji, leads in model.eligible_leads.items():
        job = jobs[ji]
        if job.id in planned:
            continue
        ni = first_node[ji]
        node = model.nodes[ni]
        reachable = False
        for vi in node.allowed:
            veh = model.vehicles[vi]
            there = veh.earliest + int(model.durations[n_nodes + vi, ni])
            start = earliest_start(job, there)
            back = int(model.durations[ni, n_nodes + n_veh + vi])
            if start is not None and start + node.duration + back <= (
                veh.shift.end + veh.shift.max_overtime_s
            ):
                reachable = True
                break
        names = [techs[i].id for i in leads]
        pinned_full = bool(node.allowed) and all(vi in pinned for vi in node.allowed)
        out.append(dropped_reason(job, names, reachable=reachable, pinned_full=pinned_full))
    return out


def _route_indexes(
    routing: pywrapcp.RoutingModel, assignment: pywrapcp.Assignment, vi: int
) -> list[int]:
    out = []
    index = assignment.Value(routing.NextVar(routing.Start(vi)))
    while not routing.IsEnd(index):
        out.append(index)
        index = assignment.Value(routing.NextVar(index))
    return out


def _constructed_plan(
    model: _Model, built: Construction, options: SolveOptions, t0: float, built_at: float
) -> Plan:
    """The construction's own schedule as the plan, when OR-Tools cannot run in time."""
    jobs, techs = model.problem.jobs, model.problem.technicians
    w = model.problem.weights
    n, n_veh = len(model.nodes), len(model.vehicles)
    cost = _cost_matrix(model, options)
    routes: list[Route] = []
    objective = 0
    for vi, nodes in enumerate(built.routes):
        if not nodes:
            continue
        veh = model.vehicles[vi]
        tid = techs[veh.tech].id
        prev = n + vi
        visits: list[Visit] = []
        travel_s = distance = work = late_total = 0
        for ni in nodes:
            node = model.nodes[ni]
            job = jobs[node.job]
            start = built.starts[ni]
            leg, dist = int(model.durations[prev, ni]), int(model.distances[prev, ni])
            objective += int(cost[prev, ni])
            last = node.part == node.parts - 1 and node.role == "lead"
            late = max(0, start + node.duration - job.due_s) if job.due_s and last else 0
            late_total += late
            visits.append(
                Visit(
                    job.id,
                    tid,
                    start,
                    start + node.duration,
                    leg,
                    dist,
                    node.role,
                    node.part,
                    node.parts,
                    late,
                )
            )
            travel_s, distance, work = travel_s + leg, distance + dist, work + node.duration
            prev = ni
        home = n + n_veh + vi
        travel_s += int(model.durations[prev, home])
        distance += int(model.distances[prev, home])
        objective += int(cost[prev, home])
        if options.objective != "distance":
            objective += w.lateness_per_s * late_total
        routes.append(
            Route(
                tid,
                veh.shift.start,
                veh.shift.end,
                veh.earliest,
                built.ends[vi],
                tuple(visits),
                tuple(built.pauses[vi]),
                travel_s,
                distance,
                work + travel_s,
                max(0, built.ends[vi] - veh.shift.end),
            )
        )
    dropped = _explain_dropped(model, routes, None, None, None)
    if built.timed_out:
        # The construction stopped at its deadline with jobs it never tried; "capacity
        # exhausted" would send the dispatcher looking for technicians, not for time.
        dropped = [
            Unassigned(
                u.job_id,
                UnassignedReason.NOT_PLANNED_IN_TIME,
                "The time limit ended before this job could be placed; run again with more time",
                {"time_limit_s": options.time_limit_s},
            )
            for u in dropped
        ]
    by_id = {j.id: j for j in jobs}
    for u in dropped:
        job = by_id[u.job_id]
        objective += drop_penalty(job, w.drop_base) if options.objective != "distance" else BIG
    elapsed = time.monotonic() - t0
    return _plan(
        model, routes, model.unassigned + dropped, objective, "time_limit", elapsed, 1, built_at
    )


def _drop_all(model: _Model) -> list[Unassigned]:
    return model.unassigned + _explain_dropped(model, [], None, None, None)


def _plan(
    model: _Model,
    routes: list[Route],
    unassigned: list[Unassigned],
    objective: int,
    status: str,
    elapsed: float,
    solutions: int,
    first_solution_s: float | None = None,
) -> Plan:
    problem = model.problem
    leads = [v for r in routes for v in r.visits if v.role == "lead" and v.part == v.parts - 1]
    assigned = len({v.job_id for v in leads})
    travel = sum(r.travel_s for r in routes)
    work = sum(r.work_s for r in routes)
    capacity = sum(v.shift.end - v.earliest for v in model.vehicles) or 1
    late = [v.late_s for v in leads]
    current = {j.id: j.current_technician for j in problem.jobs}
    moved = sum(
        1 for v in leads if v.part == 0 and current.get(v.job_id) not in (None, v.technician_id)
    )
    kpis = Kpis(
        jobs_total=len(problem.jobs),
        jobs_assigned=assigned,
        travel_s=travel,
        travel_km=round(sum(r.distance_m for r in routes) / 1000, 3),
        work_s=work,
        utilisation=round(work / capacity, 4),
        on_time_pct=round(100.0 * sum(1 for x in late if x == 0) / len(late), 2) if late else 100.0,
        lateness_s=sum(late),
        overtime_s=sum(r.overtime_s for r in routes),
        moved_jobs=moved,
    )
    unassigned.sort(key=lambda u: u.job_id)
    return Plan(
        tuple(routes),
        tuple(unassigned),
        kpis,
        objective,
        status,
        elapsed,
        solutions,
        first_solution_s,
    )
