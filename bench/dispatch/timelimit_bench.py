"""Time-limit benchmark: does `dispatch.solver.solve` return within its budget?

Budgets 1, 3 and 10 s on the 100x1000 and 50x500 field scenarios and on three Solomon
instances (R101, C201, RC105; objective=distance). Reports the wall time around the call
(which includes building the model and the matrix), the solver's own `elapsed_s`, the ratio
wall/budget (target <= 1.05), status, and whether a plan was found; each plan is re-checked.

Usage: python bench/dispatch/timelimit_bench.py [--budgets 1,3,10] [--quick]
Prints a table and writes bench/results/timelimit_bench.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.dispatch.checker import check_field_plan, check_vrptw  # noqa: E402
from bench.dispatch.scenarios import SEED, generate, travel  # noqa: E402
from bench.dispatch.solomon import DATA, DimacsTravel, load_instance, to_problem  # noqa: E402
from dispatch.model import SolveOptions  # noqa: E402
from dispatch.solver import solve  # noqa: E402

SOLOMON = ("R101", "C201", "RC105")
TARGET_RATIO = 1.05


def measure(name: str, budget: float, seed: int) -> dict[str, Any]:
    """Solve one problem at one budget and time it from outside."""
    if name in SOLOMON:
        inst = load_instance(DATA / "solomon" / f"{name}.vrp")
        problem, provider = to_problem(inst), DimacsTravel(inst)
        options = SolveOptions(time_limit_s=budget, seed=seed, objective="distance")
    else:
        problem, provider = generate(name, seed), travel()
        options = SolveOptions(time_limit_s=budget, seed=seed)
    t0 = time.perf_counter()
    plan = solve(problem, provider, options)
    wall = time.perf_counter() - t0
    if name in SOLOMON:
        vr = check_vrptw(inst, [[int(v.job_id) for v in r.visits] for r in plan.routes])
        feasible, assigned = (
            vr.feasible,
            inst.customers - sum(1 for v in vr.violations if "not served" in v),
        )
    else:
        fc = check_field_plan(problem, plan, provider)
        feasible, assigned = fc.feasible, fc.jobs_assigned
    return {
        "problem": name,
        "budget_s": budget,
        "wall_s": round(wall, 3),
        "elapsed_s": round(plan.elapsed_s, 3),
        "ratio": round(wall / budget, 3),
        "status": plan.status,
        "first_solution_s": None
        if plan.first_solution_s is None
        else round(plan.first_solution_s, 2),
        "jobs_assigned": assigned,
        "checker_ok": feasible,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every budget on every problem and report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="1,3,10")
    ap.add_argument("--problems", default="100x1000,50x500," + ",".join(SOLOMON))
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--quick", action="store_true", help="budgets 1 and 3 s on 50x500 and R101")
    args = ap.parse_args(argv)
    budgets = [1.0, 3.0] if args.quick else [float(b) for b in args.budgets.split(",") if b]
    problems = ["50x500", "R101"] if args.quick else [p for p in args.problems.split(",") if p]
    rows = []
    print(
        f"{'problem':<9} {'budget':>6} {'wall s':>7} {'ratio':>6} {'status':<11} "
        f"{'first s':>7} {'assigned':>8}  verdict"
    )
    for name in problems:
        for budget in budgets:
            r = measure(name, budget, args.seed)
            rows.append(r)
            first = "-" if r["first_solution_s"] is None else f"{r['first_solution_s']:.2f}"
            verdict = "ok" if r["ratio"] <= TARGET_RATIO else "OVER BUDGET"
            if not r["checker_ok"]:
                verdict += ", CHECKER FAILED"
            print(
                f"{name:<9} {budget:>6.0f} {r['wall_s']:>7.2f} {r['ratio']:>6.2f} "
                f"{r['status']:<11} {first:>7} {r['jobs_assigned']:>8}  {verdict}",
                flush=True,
            )
    worst = max(rows, key=lambda r: r["ratio"])
    over = [f"{r['problem']}@{r['budget_s']:g}" for r in rows if r["ratio"] > TARGET_RATIO]
    print(
        f"worst ratio {worst['ratio']:.2f} ({worst['problem']} at {worst['budget_s']:g} s); "
        f"target <= {TARGET_RATIO}: {'met' if not over else 'MISSED on ' + ', '.join(over)}"
    )
    results = {
        "quick": args.quick,
        "target_ratio": TARGET_RATIO,
        "rows": rows,
        "over_budget": over,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("timelimit_bench.quick.json" if args.quick else "timelimit_bench.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
