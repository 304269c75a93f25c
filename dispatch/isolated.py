"""Solve in a child process, so a native crash in the solver cannot take the server down.

OR-Tools reports some internal errors by aborting the process (a failed CHECK). In the
embedded mode the optimiser runs beside the web server, so each solve gets its own process;
the parent sees progress through a queue and turns a dead child into a failed run.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import time
from collections.abc import Callable
from typing import Any

from dispatch.model import Plan, Problem, SolveOptions

ProgressFn = Callable[[float, int | None], None]


class SolverCrashed(RuntimeError):
    """The solver process died or hung instead of answering."""


def _child(
    problem: Problem,
    options: SolveOptions,
    travel_args: tuple[str | None, float, float],
    out: Any,
) -> None:
    from dispatch.solver import solve
    from geo.travel import provider_from_config

    def progress(fraction: float, best: int | None) -> None:
        out.put(("progress", fraction, best))

    try:
        plan = solve(problem, provider_from_config(*travel_args), options, progress)
        out.put(("plan", plan))
    except Exception as exc:  # reported to the parent as a value, not a crash
        out.put(("error", exc))


def solve_isolated(
    problem: Problem,
    options: SolveOptions,
    travel_args: tuple[str | None, float, float],
    progress: ProgressFn | None = None,
    grace_s: float = 60.0,
    target: Callable[..., None] | None = None,
) -> Plan:
    """Like ``solve``, in a spawned process; raises SolverCrashed if it dies or hangs."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(
        target=target or _child, args=(problem, options, travel_args, out), daemon=True
    )
    child.start()
    # Spawning and importing OR-Tools take a moment; the budget is the solver's own.
    deadline = time.monotonic() + options.time_limit_s * 1.5 + grace_s
    try:
        while True:
            try:
                message = out.get(timeout=0.5)
            except queue_module.Empty:
                if not child.is_alive():
                    raise SolverCrashed(
                        f"the solver process stopped (exit code {child.exitcode})"
                    ) from None
                if time.monotonic() > deadline:
                    raise SolverCrashed("the solver process did not answer in time") from None
                continue
            kind = message[0]
            if kind == "progress":
                if progress is not None:
                    progress(message[1], message[2])
            elif kind == "plan":
                plan: Plan = message[1]
                return plan
            else:
                raise message[1]
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=5)
