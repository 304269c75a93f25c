"""The benchmark checkers catch broken solutions (tiny hand-built instances)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from bench.dispatch.checker import (
    VrptwInstance,
    check_field_plan,
    check_vrptw,
    dimacs_distance_x10,
)
from dispatch.model import (
    Break,
    Job,
    Kpis,
    Plan,
    Problem,
    Route,
    Shift,
    SkillNeed,
    Technician,
    TimeWindow,
    Visit,
)
from geo.points import Point

# Depot at the origin; customers on a 3-4-5 triangle and one on a diagonal.
VRP = VrptwInstance(
    name="tiny",
    coords=((0, 0), (3, 4), (6, 8), (1, 1)),
    demand=(0, 5, 5, 5),
    ready=(0, 0, 0, 0),
    due=(100, 50, 50, 50),
    service=(0, 1, 1, 1),
    capacity=10,
    vehicles=2,
)


def test_dimacs_distance_truncates_to_one_decimal() -> None:
    assert dimacs_distance_x10((0, 0), (3, 4)) == 50
    assert dimacs_distance_x10((0, 0), (1, 1)) == 14  # 1.414.. -> 1.4


def test_vrptw_valid_solution_and_its_distance() -> None:
    check = check_vrptw(VRP, [[1, 2], [3]])
    assert check.feasible, check.violations
    # 0-1-2-0: 5 + 5 + 10; 0-3-0: 1.4 + 1.4
    assert check.distance_x10 == 200 + 28
    assert check.routes == 2


def test_vrptw_catches_a_violated_window() -> None:
    late = replace(VRP, due=(100, 50, 5, 50))  # customer 2 is 10 away: cannot start by 5
    check = check_vrptw(late, [[2, 1], [3]])
    assert not check.feasible
    assert any("customer 2 starts" in v for v in check.violations)


def test_vrptw_arrival_may_wait_for_the_window() -> None:
    waits = replace(VRP, ready=(0, 30, 0, 0))
    assert check_vrptw(waits, [[1, 2], [3]]).feasible


def test_vrptw_catches_a_duplicate_and_a_missing_customer() -> None:
    check = check_vrptw(VRP, [[1, 2], [2]])
    assert "customer 2 served 2 times" in check.violations
    assert "customer 3 not served" in check.violations


def test_vrptw_catches_an_overload() -> None:
    check = check_vrptw(VRP, [[1, 2, 3]])
    assert any("exceeds capacity" in v for v in check.violations)


def test_vrptw_catches_a_late_return_and_too_many_routes() -> None:
    short = replace(VRP, due=(12, 50, 50, 50), vehicles=1)
    check = check_vrptw(short, [[1, 2], [3]])
    assert any("returns to depot" in v for v in check.violations)
    assert any("only 1 vehicles" in v for v in check.violations)


# Field plans: every trip between two different points takes 10 minutes.
@dataclass(frozen=True)
class _M:
    durations_s: np.ndarray
    distances_m: np.ndarray


class TenMinutes:
    def matrix(self, points: list[Point]) -> _M:
        n = len(points)
        d = np.full((n, n), 600, dtype=np.int64)
        for i in range(n):
            for j in range(n):
                if points[i] == points[j]:
                    d[i, j] = 0
        return _M(d, d * 10)


HOME, A, B = Point(31.2, 121.4), Point(31.21, 121.41), Point(31.22, 121.42)
H = 3600
TECH = Technician(
    id="t1", start=HOME, shifts=(Shift(8 * H, 17 * H),), skills={"hvac": 2}, max_jobs_per_day=5
)
HELPER = Technician(id="t2", start=HOME, shifts=(Shift(8 * H, 17 * H),), skills={"hvac": 1})
JOB_A = Job(id="a", location=A, duration_s=H, windows=(TimeWindow(9 * H, 10 * H),))
JOB_B = Job(id="b", location=B, duration_s=H, skills=(SkillNeed("hvac", 2),))
PROBLEM = Problem(jobs=(JOB_A, JOB_B), technicians=(TECH, HELPER))
KPIS = Kpis(2, 2, 0, 0.0, 0, 0.0, 100.0, 0, 0, 0)


def _plan(visits: list[Visit], tech: str = "t1") -> Plan:
    travel = sum(v.travel_s for v in visits) + 600
    end = visits[-1].end + 600
    route = Route(tech, 8 * H, 17 * H, 8 * H, end, tuple(visits), (), travel, travel * 10)
    return Plan((route,), (), KPIS, 0, "done", 0.1)


def _visit(job: str, start: int, tech: str = "t1", role: str = "lead") -> Visit:
    return Visit(job, tech, start, start + H, 600, 6000, role=role)


def test_field_valid_plan_passes_and_kpis_are_recomputed() -> None:
    plan = _plan([_visit("a", 9 * H), _visit("b", 10 * H + 600)])
    check = check_field_plan(PROBLEM, plan, TenMinutes())
    assert check.feasible, check.violations
    assert check.jobs_assigned == 2
    assert check.travel_s == 3 * 600


def test_field_catches_a_violated_window() -> None:
    plan = _plan([_visit("b", 9 * H), _visit("a", 10 * H + 600)])  # a must start by 10:00
    kinds = check_field_plan(PROBLEM, plan, TenMinutes()).kinds()
    assert kinds == {"window": 1}


def test_field_catches_a_skill_violation() -> None:
    strict = replace(JOB_B, skills=(SkillNeed("hvac", 3),))
    problem = replace(PROBLEM, jobs=(JOB_A, strict))
    plan = _plan([_visit("a", 9 * H), _visit("b", 10 * H + 600)])
    assert check_field_plan(problem, plan, TenMinutes()).kinds() == {"skill": 1}


def test_field_catches_impossible_travel_and_overlap() -> None:
    plan = _plan([_visit("a", 9 * H), _visit("b", 10 * H + 60)])  # needs 10 min, has 1
    assert "travel" in check_field_plan(PROBLEM, plan, TenMinutes()).kinds()
    plan = _plan([_visit("a", 9 * H), _visit("b", 9 * H + 1800)])
    assert "overlap" in check_field_plan(PROBLEM, plan, TenMinutes()).kinds()


def test_field_catches_a_duplicate_lead_and_a_missing_job() -> None:
    plan = _plan([_visit("a", 9 * H), _visit("a", 10 * H + 600)])
    kinds = check_field_plan(PROBLEM, plan, TenMinutes()).kinds()
    assert kinds.get("duplicate_lead") == 1
    assert kinds.get("missing") == 1  # b is neither planned nor unassigned


def test_field_catches_a_missing_break_and_a_crew_apart() -> None:
    lunch = Shift(8 * H, 17 * H, breaks=(Break(12 * H, 13 * H, 1800),))
    problem = replace(PROBLEM, technicians=(replace(TECH, shifts=(lunch,)), HELPER))
    plan = _plan([_visit("a", 9 * H), _visit("b", 10 * H + 600)])
    assert check_field_plan(problem, plan, TenMinutes()).kinds() == {"break": 1}

    crew = replace(JOB_B, crew_size=2)
    problem = replace(PROBLEM, jobs=(JOB_A, crew))
    lead = _plan([_visit("a", 9 * H), _visit("b", 10 * H + 600)])
    helper = _plan([_visit("b", 11 * H, tech="t2", role="helper")], tech="t2")
    plan = replace(lead, routes=lead.routes + helper.routes)
    kinds = check_field_plan(problem, plan, TenMinutes()).kinds()
    assert kinds == {"crew": 1}
