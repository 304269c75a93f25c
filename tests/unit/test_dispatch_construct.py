"""The regret-insertion construction: never breaks a rule, and spends scarce time well."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from bench.dispatch.checker import check_field_plan
from dispatch.construct import Construction, construct
from dispatch.model import (
    Booking,
    Break,
    Job,
    Kpis,
    Plan,
    Problem,
    Route,
    Shift,
    SkillNeed,
    SolveOptions,
    Technician,
    TimeWindow,
    Visit,
)
from dispatch.solver import _build, _cost_matrix, solve
from geo.points import Point
from geo.travel import HaversineProvider

H = 3600
TRAVEL = HaversineProvider()
SKILLS = ("elevator", "hvac", "fire")


def at(dx: float, dy: float) -> Point:
    """A point dx, dy kilometres-ish east/north of People's Square."""
    return Point(31.23 + dy * 0.009, 121.47 + dx * 0.0105)


def random_problem(seed: int, n_techs: int = 5, n_jobs: int = 40) -> Problem:
    """A small day with every rule the construction must keep, from one seed."""
    rng = random.Random(seed)
    techs = []
    for k in range(n_techs):
        breaks = (Break(11 * H + 1800, 13 * H, 1800),) if rng.random() < 0.8 else ()
        bookings = ()
        if rng.random() < 0.3:
            b = rng.randrange(9, 15) * H
            bookings = (Booking(b, b + rng.choice((1800, 3600)), "training"),)
        techs.append(
            Technician(
                id=f"t{k}",
                start=at(rng.uniform(-8, 8), rng.uniform(-8, 8)),
                shifts=(Shift(8 * H, rng.choice((16, 17, 18)) * H, breaks=breaks),),
                skills={s: rng.randint(1, 4) for s in rng.sample(SKILLS, rng.randint(1, 3))},
                territories=frozenset({"east"}) if k == 0 else frozenset(),
                max_jobs_per_day=rng.choice((None, 4, 6)),
                max_work_s_per_day=rng.choice((None, 6 * H)),
                bookings=bookings,
            )
        )
    jobs = []
    for k in range(n_jobs):
        windows: tuple[TimeWindow, ...] = ()
        r = rng.random()
        if r < 0.4:
            s = rng.randrange(8 * H, 15 * H, 900)
            windows = (TimeWindow(s, s + rng.choice((1, 2, 3)) * H),)
        elif r < 0.5:
            windows = (TimeWindow(8 * H, 10 * H), TimeWindow(14 * H, 16 * H))
        jobs.append(
            Job(
                id=f"j{k}",
                location=at(rng.uniform(-10, 10), rng.uniform(-10, 10)),
                duration_s=rng.choice((1800, 2700, 3600, 5400)),
                windows=windows,
                skills=tuple(
                    SkillNeed(s, rng.randint(1, 3)) for s in rng.sample(SKILLS, rng.randint(0, 1))
                ),
                priority=rng.choice(("low", "normal", "high", "urgent")),
                due_s=rng.randrange(10 * H, 17 * H, 1800) if rng.random() < 0.2 else None,
                territory="east" if rng.random() < 0.1 else None,
                pinned_technician=f"t{rng.randrange(n_techs)}" if rng.random() < 0.05 else None,
                locked_start_s=rng.randrange(9 * H, 15 * H, 1800) if rng.random() < 0.05 else None,
                crew_size=2 if rng.random() < 0.05 else 1,
            )
        )
    return Problem(tuple(jobs), tuple(techs))


def build(problem: Problem) -> tuple[Construction, Plan]:
    """Run the construction on the solver's model; return it and the plan it stands for."""
    model = _build(problem, TRAVEL)
    groups: dict[int, list[int]] = {}
    for ni, node in enumerate(model.nodes):
        groups.setdefault(node.job, []).append(ni)
    coupled = [g for g in groups.values() if len(g) > 1]
    built = construct(
        problem,
        model.nodes,
        model.vehicles,
        model.durations,
        _cost_matrix(model, SolveOptions()),
        skip={ni for g in coupled for ni in g},
        groups=coupled,
    )
    starts = dict(built.starts)
    for ni, (_, start) in built.fixed.items():
        assert starts[ni] == start
    routes = []
    techs = problem.technicians
    for vi, nodes in enumerate(built.routes):
        if not nodes:
            continue
        veh = model.vehicles[vi]
        tech = techs[veh.tech]
        visits = tuple(
            Visit(
                job_id=problem.jobs[model.nodes[ni].job].id,
                technician_id=tech.id,
                start=starts[ni],
                end=starts[ni] + model.nodes[ni].duration,
                travel_s=0,
                distance_m=0,
                role=model.nodes[ni].role,
                late_s=max(0, starts[ni] + model.nodes[ni].duration - due)
                if (due := problem.jobs[model.nodes[ni].job].due_s) is not None
                and model.nodes[ni].role == "lead"
                else 0,
            )
            for ni in nodes
        )
        routes.append(
            Route(
                technician_id=tech.id,
                shift_start=veh.shift.start,
                shift_end=veh.shift.end,
                start=veh.earliest,
                end=built.ends[vi],
                visits=visits,
                breaks=tuple(built.pauses[vi]),
            )
        )
    kpis = Kpis(len(problem.jobs), 0, 0, 0.0, 0, 0.0, 100.0, 0, 0, 0)
    return built, Plan(tuple(routes), (), kpis, 0, "constructed", built.elapsed_s)


@pytest.mark.parametrize("seed", range(12))
def test_construction_keeps_every_rule(seed: int) -> None:
    problem = random_problem(seed)
    built, plan = build(problem)
    check = check_field_plan(problem, plan, TRAVEL, complete=False, check_travel_s=False)
    assert check.feasible, [v.message for v in check.violations[:5]]
    # Never more than the day allows, and nothing assigned twice.
    placed = [ni for r in built.routes for ni in r]
    assert len(placed) == len(set(placed))
    assert check.jobs_assigned > 0


@pytest.mark.parametrize("seed", range(4))
def test_construction_with_live_positions_and_now(seed: int) -> None:
    problem = random_problem(100 + seed, n_techs=3, n_jobs=25)
    techs = tuple(
        Technician(**{**t.__dict__, "position": at(1, 1)})  # type: ignore[arg-type]
        for t in problem.technicians
    )
    problem = Problem(problem.jobs, techs, now_s=12 * H + 600)
    _, plan = build(problem)
    check = check_field_plan(problem, plan, TRAVEL, complete=False, check_travel_s=False)
    assert check.feasible, [v.message for v in check.violations[:5]]


def test_scarce_time_goes_to_priority() -> None:
    # One four-hour day, eight two-hour jobs: two fit, and they must be the urgent ones.
    jobs = [Job(f"low{i}", at(1, i % 3), 2 * H, priority="low") for i in range(6)]
    jobs += [Job(f"urgent{i}", at(-1, i), 2 * H, priority="urgent") for i in range(2)]
    techs = (Technician("t", at(0, 0), (Shift(8 * H, 12 * H + 1200),)),)
    built, _ = build(Problem(tuple(jobs), techs))
    model = _build(Problem(tuple(jobs), techs), TRAVEL)
    ids = {jobs[model.nodes[ni].job].id for r in built.routes for ni in r}
    assert ids == {"urgent0", "urgent1"}


def test_short_jobs_win_when_time_is_short() -> None:
    # Same priority: three half-hour jobs are worth more than one three-hour job.
    jobs = [Job("long", at(1, 0), 3 * H)] + [Job(f"s{i}", at(1, i), 1800) for i in range(3)]
    techs = (Technician("t", at(0, 0), (Shift(8 * H, 11 * H),)),)
    problem = Problem(tuple(jobs), techs)
    built, _ = build(problem)
    model = _build(problem, TRAVEL)
    ids = {jobs[model.nodes[ni].job].id for r in built.routes for ni in r}
    assert ids == {"s0", "s1", "s2"}


def test_crew_gets_one_start_on_two_technicians() -> None:
    jobs = [Job("crew", at(2, 2), 2 * H, crew_size=2)] + [
        Job(f"s{i}", at(i, 0), 1800) for i in range(4)
    ]
    techs = tuple(Technician(f"t{k}", at(k, 0), (Shift(8 * H, 17 * H),)) for k in range(3))
    built, plan = build(Problem(tuple(jobs), techs))
    crew = [v for r in plan.routes for v in r.visits if v.job_id == "crew"]
    assert len(crew) == 2 and crew[0].start == crew[1].start
    assert crew[0].technician_id != crew[1].technician_id
    assert len(built.fixed) == 2


def test_regret_and_ortools_constructions_both_pass_the_checker() -> None:
    problem = random_problem(7, n_techs=4, n_jobs=30)
    for construction in ("regret", "ortools"):
        options = SolveOptions(time_limit_s=1.0, construction=construction)
        plan = solve(problem, TRAVEL, options)
        check = check_field_plan(problem, plan, TRAVEL)
        assert check.feasible, (construction, [v.message for v in check.violations[:5]])
        assert plan.elapsed_s <= 1.05 + 0.2


def test_unknown_construction_is_rejected() -> None:
    from dispatch.model import ProblemError

    with pytest.raises(ProblemError):
        solve(random_problem(1, 1, 2), TRAVEL, SolveOptions(construction="magic"))


def test_a_budget_too_short_for_or_tools_returns_the_constructed_plan() -> None:
    problem = random_problem(11, n_techs=6, n_jobs=60)
    plan = solve(problem, TRAVEL, SolveOptions(time_limit_s=0.1))
    assert plan.status == "time_limit" and plan.first_solution_s is not None
    assert plan.elapsed_s <= 0.1 * 1.05 + 0.05
    check = check_field_plan(problem, plan, TRAVEL)  # complete: every job planned or explained
    assert check.feasible, [v.message for v in check.violations[:5]]
    assert check.jobs_assigned > 0 and plan.kpis.jobs_assigned == check.jobs_assigned


def test_a_failed_read_into_or_tools_falls_back_to_checked_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading a plan into the full model can run out of time on a loaded machine; the
    # improved routes are then re-checked by the construction and returned as they are.
    from ortools.constraint_solver import pywrapcp

    monkeypatch.setattr(
        pywrapcp.RoutingModel, "ReadAssignmentFromRoutes", lambda self, routes, ignore: None
    )
    problem = random_problem(5, n_techs=4, n_jobs=40)
    plan = solve(problem, TRAVEL, SolveOptions(time_limit_s=1.0))
    check = check_field_plan(problem, plan, TRAVEL)
    assert check.feasible, [v.message for v in check.violations[:5]]
    assert check.jobs_assigned > 0 and plan.elapsed_s <= 1.05 + 0.1


def test_ejection_moves_a_visit_to_make_way_for_a_left_out_job() -> None:
    # Only t0 can do the hvac job, and t0's short day is taken by a job anyone can do:
    # that job moves to t1 and the hvac job takes its place.
    jobs = (
        Job("plain", at(1, 0), 3 * H),
        Job("hvac", at(1, 1), 3 * H, skills=(SkillNeed("hvac", 1),)),
    )
    techs = (
        Technician("t0", at(0, 0), (Shift(8 * H, 12 * H),), skills={"hvac": 2}),
        Technician("t1", at(0, 1), (Shift(8 * H, 12 * H),)),
    )
    problem = Problem(jobs, techs)
    model = _build(problem, TRAVEL)
    costs = _cost_matrix(model, SolveOptions())
    args = (problem, model.nodes, model.vehicles, model.durations, costs)
    plain = next(ni for ni, n in enumerate(model.nodes) if jobs[n.job].id == "plain")
    hvac = next(ni for ni, n in enumerate(model.nodes) if jobs[n.job].id == "hvac")
    stuck = construct(*args, initial=[[plain], []], only=())
    assert stuck.routes == [[plain], []]
    built = construct(*args, initial=[[plain], []], only=(), eject=True)
    assert built.routes == [[hvac], [plain]]


@pytest.mark.parametrize("seed", range(6))
def test_ejection_keeps_every_rule(seed: int) -> None:
    # A recreate step after a ruin: half the plan kept, nothing else offered, then ejection.
    problem = random_problem(200 + seed)
    model = _build(problem, TRAVEL)
    groups: dict[int, list[int]] = {}
    for ni, node in enumerate(model.nodes):
        groups.setdefault(node.job, []).append(ni)
    skip = {ni for g in groups.values() if len(g) > 1 for ni in g}
    costs = _cost_matrix(model, SolveOptions())
    args = (problem, model.nodes, model.vehicles, model.durations, costs)
    full = construct(*args, skip=skip)
    half = [r[::2] for r in full.routes]
    built = construct(*args, skip=skip, initial=half, only=(), eject=True)
    placed = [ni for r in built.routes for ni in r]
    assert len(placed) == len(set(placed)) and not set(placed) & skip
    assert len(placed) >= sum(map(len, half))
    # The exact schedule of the ejected routes, rebuilt from scratch, keeps all of them.
    again = construct(*args, skip=skip, initial=built.routes, only=())
    assert again.routes == built.routes


@pytest.mark.parametrize("seed", range(20))
def test_string_ruin_takes_runs_of_consecutive_visits(seed: int) -> None:
    from dispatch.solver import STRING_MAX, _strings

    rng = random.Random(seed)
    routes = [list(range(v * 10, v * 10 + rng.randint(0, 10))) for v in range(6)]
    keep = {3, 24}
    visits = [ni for r in routes for ni in r if ni not in keep]
    order = rng.sample(visits, len(visits))
    k = rng.randint(1, 12)
    gone = _strings(routes, order, k, rng, keep)
    assert gone and not gone & keep
    # At most one run per route, each at most STRING_MAX long, and no more than k in all
    # (kept visits inside a run are skipped, not replaced).
    assert len(gone) <= k
    for route in routes:
        hit = [i for i, ni in enumerate(route) if ni in gone]
        if hit:
            assert hit[-1] - hit[0] < STRING_MAX
            assert all(route[i] in gone or route[i] in keep for i in range(hit[0], hit[-1] + 1))
    # The visit nearest the seed always goes (its route is the first one touched) unless kept.
    assert order[0] in gone


@pytest.mark.parametrize("booking_at", [9 * H, 11 * H + 1800 + 900, 14 * H])
def test_a_booking_before_or_inside_the_break_window_leaves_the_day_usable(
    booking_at: int,
) -> None:
    # Lunch may start 11:30-13:00; a one-hour booking at 09:00, 11:45 or 14:00. Every one
    # of these days holds both pauses and four one-hour jobs around them; pauses kept in
    # a fixed order that put the break first made the 09:00 day unusable.
    tech = Technician(
        id="t0",
        start=at(0, 0),
        shifts=(Shift(8 * H, 18 * H, breaks=(Break(11 * H + 1800, 13 * H, 1800),)),),
        bookings=(Booking(booking_at, booking_at + H, "training"),),
    )
    jobs = tuple(Job(f"j{i}", at(1, i), H) for i in range(4))
    problem = Problem(jobs, (tech,))
    built, plan = build(problem)
    assert sum(map(len, built.routes)) == 4
    check = check_field_plan(problem, plan, TRAVEL, complete=False, check_travel_s=False)
    assert check.feasible, [v.message for v in check.violations[:5]]


def test_in_day_reoptimisation_keeps_a_busy_technician_usable() -> None:
    # At 11:00 the technician is on a job until 11:20 (a booking from now); lunch is still
    # owed. The rest of the day must take the two jobs planned for the afternoon.
    tech = Technician(
        id="t0",
        start=at(0, 0),
        shifts=(Shift(8 * H, 18 * H, breaks=(Break(11 * H + 1800, 13 * H, 1800),)),),
        bookings=(Booking(10 * H, 11 * H + 1200, "in progress"),),
        position=at(0, 1),
    )
    jobs = tuple(
        Job(f"j{i}", at(1, i), H, current_technician="t0", current_start_s=(14 + i) * H)
        for i in range(2)
    )
    problem = Problem(jobs, (tech,), now_s=11 * H)
    plan = solve(problem, TRAVEL, SolveOptions(time_limit_s=2, seed=1, warm_start=True))
    assert {v.job_id for r in plan.routes for v in r.visits} == {"j0", "j1"}


def _singles_with_owners(seed: int) -> Problem:
    """random_problem without crews, some jobs already planned for someone (stability)."""
    problem = random_problem(300 + seed)
    rng = random.Random(seed)
    jobs = tuple(
        dataclasses.replace(
            j,
            crew_size=1,
            current_technician=f"t{rng.randrange(5)}" if rng.random() < 0.3 else None,
            dispatched=rng.random() < 0.5,
        )
        for j in problem.jobs
    )
    return dataclasses.replace(problem, jobs=jobs)


def _constructed_singles(seed: int) -> tuple[Any, SolveOptions, Any, Construction]:
    """The solver's model of _singles_with_owners(seed), its arc costs and a construction."""
    problem = _singles_with_owners(seed)
    model = _build(problem, TRAVEL)
    options = SolveOptions()
    costs = _cost_matrix(model, options)
    return (
        model,
        options,
        costs,
        construct(problem, model.nodes, model.vehicles, model.durations, costs),
    )


@pytest.mark.parametrize("seed", range(4))
def test_our_estimate_is_the_fast_models_objective(seed: int) -> None:
    # Every round of the search is judged by _Estimate, never by OR-Tools; the two must
    # agree on travel, drops, workload balance and the cost of moving a planned job.
    from dispatch.solver import _Estimate, _indexes, _routing_model, _sla_caps

    model, options, costs, built = _constructed_singles(seed)
    fast = _routing_model(
        model, options, defer_coupled=True, fast=True, sla_caps=_sla_caps(model, built.starts)
    )
    read = fast.routing.ReadAssignmentFromRoutes(_indexes(fast.manager, built.routes), True)
    assert read is not None
    assert _Estimate(model, options, costs)(built.routes) == read.ObjectiveValue()


@pytest.mark.parametrize("seed", range(4))
def test_a_regions_objective_changes_as_the_whole_plans_does(seed: int) -> None:
    # A region's descent is accepted by the whole plan's price; the region model must see
    # the same differences (balance against the whole plan's fair share included).
    from dispatch.solver import _Estimate, _region, _sub_model

    model, options, costs, built = _constructed_singles(seed)
    routes = built.routes
    placed = {ni for r in routes for ni in r}
    outside = [ni for ni in range(len(model.nodes)) if ni not in placed]
    changed = [vi for vi, r in enumerate(routes) if r][:2]
    days, members = _region(model, routes, changed, outside)
    assert days[:2] == changed and len(set(days)) == len(days)
    assert {ni for vi in days for ni in routes[vi]} <= set(members)
    sub = _sub_model(model, days, members)
    for k, ni in enumerate(members):
        assert [days[v] for v in sub.nodes[k].allowed] == [
            v for v in model.nodes[ni].allowed if v in days
        ]
    # Some other plan of the region: every day reversed, and one left-out job added where
    # it may go (feasibility is not the point here, only the price).
    other = [list(reversed(routes[vi])) for vi in days]
    for ni in members:
        if ni not in placed:
            first = next((k for k, vi in enumerate(days) if vi in model.nodes[ni].allowed), None)
            if first is not None:
                other[first].append(ni)
                break
    whole_after = list(routes)
    for k, vi in enumerate(days):
        whole_after[vi] = other[k]
    pos = {ni: k for k, ni in enumerate(members)}
    full_price = _Estimate(model, options, costs)
    sub_price = _Estimate(sub, options, _cost_matrix(sub, options))
    sub_before = sub_price([[pos[ni] for ni in routes[vi]] for vi in days])
    sub_after = sub_price([[pos[ni] for ni in r] for r in other])
    assert full_price(whole_after) - full_price(routes) == pytest.approx(sub_after - sub_before)


def test_a_kept_day_takes_lunch_in_an_early_wait_when_later_windows_need_it() -> None:
    # All at one place (no driving). J1 ends 11:30, J2 may start at 11:40: lunch (30 min,
    # from 11:30) taken in that wait delays J2 by 20 min, taken after J2 by 30 min, and
    # J4 must start by 14:00. Lunch deferred kept J4 out of a day that holds all four.
    lunch = Break(11 * H + 1800, 13 * H + 1800, 1800)
    jobs = (
        Job("J1", at(0, 0), 1800, windows=(TimeWindow(11 * H, 11 * H),)),
        Job("J2", at(0, 0), 3600, windows=(TimeWindow(11 * H + 2400, 16 * H),)),
        Job("J3", at(0, 0), 3600),
        Job("J4", at(0, 0), 1800, windows=(TimeWindow(13 * H, 14 * H),)),
    )
    tech = Technician("t", at(0, 0), shifts=(Shift(8 * H, 17 * H, breaks=(lunch,)),))
    problem = Problem(jobs, (tech,))
    model = _build(problem, TRAVEL)
    costs = _cost_matrix(model, SolveOptions())
    args = (problem, model.nodes, model.vehicles, model.durations, costs)
    built = construct(*args, initial=[[0, 1, 2, 3]], only=())
    assert built.routes == [[0, 1, 2, 3]]
    assert list(built.pauses[0]) == [(11 * H + 1800, 12 * H)]
    assert [built.starts[ni] for ni in range(4)] == [11 * H, 12 * H, 13 * H, 14 * H]
