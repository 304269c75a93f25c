"""Solving in a child process: same plan, and a dead or hung solver fails cleanly."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from dispatch.isolated import SolverCrashed, solve_isolated
from dispatch.model import Job, Problem, Shift, SolveOptions, Technician
from geo.points import Point

HOME = Point(31.23, 121.47)
PROBLEM = Problem(
    jobs=(Job("a", Point(31.24, 121.48), 1800), Job("b", Point(31.22, 121.46), 1800)),
    technicians=(Technician("t", HOME, (Shift(8 * 3600, 17 * 3600),)),),
)
TRAVEL = (None, 30.0, 1.3)


def aborting_child(*_: Any) -> None:
    """Stands in for a native CHECK failure inside OR-Tools."""
    os.abort()


def hanging_child(*_: Any) -> None:
    """Stands in for a solver that never answers."""
    time.sleep(60)


def test_isolated_solve_returns_the_plan_and_progress() -> None:
    seen: list[float] = []
    plan = solve_isolated(
        PROBLEM, SolveOptions(time_limit_s=1.0), TRAVEL, lambda f, _: seen.append(f)
    )
    assert plan.kpis.jobs_assigned == 2
    assert {v.job_id for v in plan.visits()} == {"a", "b"}


def test_a_crashing_solver_becomes_an_error_not_a_dead_server() -> None:
    with pytest.raises(SolverCrashed, match="exit code"):
        solve_isolated(PROBLEM, SolveOptions(time_limit_s=1.0), TRAVEL, target=aborting_child)


def test_a_hanging_solver_is_stopped() -> None:
    started = time.monotonic()
    with pytest.raises(SolverCrashed, match="in time"):
        solve_isolated(
            PROBLEM, SolveOptions(time_limit_s=0.5), TRAVEL, grace_s=1.0, target=hanging_child
        )
    assert time.monotonic() - started < 20
