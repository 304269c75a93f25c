"""Field-service benchmark: our dispatcher vs VROOM on generated Shanghai scenarios.

For each scenario (bench/dispatch/scenarios.py, travel = HaversineProvider()):
1. VROOM (pyvroom, default exploration level 5, no time limit): its wall time T.
2. Ours (`dispatch.solver.solve`, field objective) at max(T, 2) s, i.e. an equal budget,
   and at 10 s and 30 s. Time to the first feasible plan is `plan.first_solution_s`.
3. Every plan (ours and VROOM's, converted to a dispatch Plan) is re-checked by
   bench/dispatch/checker.py, which recomputes jobs assigned, travel and lateness.
Then an in-day re-optimisation of our 50x500 plan at 11:00: jobs already started (or being
driven to) are taken out (technician position = that job's site, busy until it ends via a
booking), the rest keep current_technician/current_start_s, and the problem is re-solved with
a warm start and a 60 s budget; KPI deltas and moved jobs are reported.

VROOM encoding: skills with levels as integer ids (a technician with skill s at level L holds
(s, 1..L); a job needing (s, m) requires (s, m)), job windows, vehicle window = shift, the
lunch break, priorities urgent/high/normal/low = 100/60/30/10, service times, the same
duration matrix as costs, max jobs per day as max_tasks, pinned jobs via a skill id unique
to the technician. VROOM cannot model crews (it gets the lead only; reported) nor soft SLA
due times (not encoded; lateness is measured afterwards for both).

Usage: python bench/dispatch/field_bench.py [--sizes 50x500,100x1000] [--budgets 10,30]
[--reopt-budget 60] [--constructions auto,ortools] [--no-reopt] [--quick]. With several
constructions (SolveOptions.construction) each runs every budget; the first one is the one
compared with VROOM and re-optimised. Prints a table, writes bench/results/field_bench.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.dispatch.checker import FieldCheck, check_field_plan  # noqa: E402
from bench.dispatch.scenarios import SEED, SIZES, generate, travel, without_crews  # noqa: E402
from dispatch.model import (  # noqa: E402
    Booking,
    Kpis,
    Plan,
    Problem,
    Route,
    SolveOptions,
    Unassigned,
    UnassignedReason,
    Visit,
)
from dispatch.solver import solve  # noqa: E402
from geo.points import Point  # noqa: E402

VROOM_PRIORITY = {"urgent": 100, "high": 60, "normal": 30, "low": 10}
REOPT_NOW = 11 * 3600
TARGET_FIRST_S = {"10x100": 2.0, "50x500": 2.0, "100x1000": 10.0}


def solve_vroom(
    problem: Problem, provider: object, threads: int = 1, level: int = 5
) -> tuple[Plan, float]:
    """Encode the problem for VROOM, solve, and convert the answer into a dispatch Plan."""
    import vroom

    points: list[Point] = []
    index: dict[Point, int] = {}

    def loc(p: Point) -> int:
        if p not in index:
            index[p] = len(points)
            points.append(p)
        return index[p]

    for j in problem.jobs:
        loc(j.location)
    for t in problem.technicians:
        loc(t.start)
        loc(t.end or t.start)
    m = provider.matrix(points)  # type: ignore[attr-defined]
    dur = np.asarray(m.durations_s, dtype=np.int64)
    dist = np.asarray(m.distances_m, dtype=np.int64)

    skill_ids: dict[tuple[str, int], int] = {}

    def sid(skill: str, level: int) -> int:
        return skill_ids.setdefault((skill, level), len(skill_ids) + 1)

    pin_id = {t.id: 100_000 + k for k, t in enumerate(problem.technicians)}
    inp = vroom.Input()
    inp.set_durations_matrix("car", dur.astype(np.uint32))
    inp.set_costs_matrix("car", dur.astype(np.uint32))
    vehicles = []  # (tech, shift) per VROOM vehicle id - 1
    vlist = []
    for t in problem.technicians:
        skills = {sid(s, lv) for s, top in t.skills.items() for lv in range(1, top + 1)}
        skills.add(pin_id[t.id])
        for shift in t.shifts:
            vid = len(vehicles) + 1
            vehicles.append((t, shift))
            vlist.append(
                vroom.Vehicle(
                    vid,
                    start=loc(t.start),
                    end=loc(t.end or t.start),
                    skills=skills,
                    time_window=vroom.TimeWindow(shift.start, shift.end + shift.max_overtime_s),
                    breaks=[
                        vroom.Break(
                            k + 1,
                            time_windows=[vroom.TimeWindow(b.earliest_start, b.latest_start)],
                            service=b.duration_s,
                        )
                        for k, b in enumerate(shift.breaks)
                    ],
                    max_tasks=t.max_jobs_per_day if t.max_jobs_per_day is not None else 2**32,
                )
            )
    inp.add_vehicle(vlist)
    jlist = []
    for k, j in enumerate(problem.jobs):
        need = {sid(n.skill, n.min_level) for n in j.skills}
        if j.pinned_technician is not None:
            need.add(pin_id[j.pinned_technician])
        windows = [vroom.TimeWindow(w.start, w.end) for w in j.windows]
        if j.locked_start_s is not None:
            windows = [vroom.TimeWindow(j.locked_start_s, j.locked_start_s)]
        jlist.append(
            vroom.Job(
                k + 1,
                location=loc(j.location),
                default_service=j.duration_s,
                skills=need or None,
                priority=VROOM_PRIORITY[j.priority],
                time_windows=windows,
            )
        )
    inp.add_job(jlist)
    t0 = time.perf_counter()
    sol = inp.solve(exploration_level=level, nb_threads=threads)
    elapsed = time.perf_counter() - t0
    out = sol.to_dict()

    routes: list[Route] = []
    for r in out["routes"]:
        tech, shift = vehicles[int(r["vehicle"]) - 1]
        here = loc(tech.start)
        visits: list[Visit] = []
        breaks: list[tuple[int, int]] = []
        start = end = shift.start
        travel_s = dist_m = 0
        for s in r["steps"]:
            at = int(s["arrival"]) + int(s.get("waiting_time", 0))
            if s["type"] == "start":
                start = int(s["arrival"])
            elif s["type"] == "break":
                breaks.append((at, at + int(s["service"])))
            elif s["type"] == "job":
                job = problem.jobs[int(s["id"]) - 1]
                to = loc(job.location)
                leg, d = int(dur[here, to]), int(dist[here, to])
                travel_s += leg
                dist_m += d
                finish = at + job.duration_s
                late = max(0, finish - job.due_s) if job.due_s is not None else 0
                visits.append(Visit(job.id, tech.id, at, finish, leg, d, late_s=late))
                here = to
            elif s["type"] == "end":
                end = int(s["arrival"])
        home = loc(tech.end or tech.start)
        travel_s += int(dur[here, home])
        dist_m += int(dist[here, home])
        routes.append(
            Route(
                tech.id,
                shift.start,
                shift.end,
                start,
                end,
                tuple(visits),
                tuple(sorted(breaks)),
                travel_s,
                dist_m,
                sum(v.end - v.start for v in visits) + travel_s,
                max(0, end - shift.end),
            )
        )
    unassigned = tuple(
        Unassigned(
            problem.jobs[int(u["id"]) - 1].id, UnassignedReason.UNREACHABLE_IN_WINDOW, "vroom"
        )
        for u in out.get("unassigned", [])
    )
    kpis = Kpis(len(problem.jobs), sum(len(r.visits) for r in routes), 0, 0.0, 0, 0, 0, 0, 0, 0)
    plan = Plan(tuple(routes), unassigned, kpis, int(out["summary"]["cost"]), "done", elapsed)
    return plan, elapsed


def run_ours(
    problem: Problem,
    provider: object,
    budget: float,
    seed: int,
    warm: bool = True,
    construction: str = "auto",
) -> tuple[Plan, float]:
    """Our solver at a budget; returns the plan and the wall time around the call."""
    t0 = time.perf_counter()
    options = SolveOptions(
        time_limit_s=budget, seed=seed, warm_start=warm, construction=construction
    )
    plan = solve(problem, provider, options)
    return plan, time.perf_counter() - t0


def row(
    label: str,
    budget: float | None,
    wall: float,
    plan: Plan,
    check: FieldCheck,
    ignore: tuple[str, ...] = (),
    crew_jobs: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """One result line: the checker's KPIs, the violations (minus ignored kinds), timing."""
    kinds = {k: v for k, v in check.kinds().items() if k not in ignore}
    return {
        "solver": label,
        "budget_s": budget,
        "time_s": round(wall, 2),
        "status": plan.status,
        "first_solution_s": None
        if plan.first_solution_s is None
        else round(plan.first_solution_s, 2),
        "solutions_found": plan.solutions_found,
        "feasible": not kinds,
        "violations": kinds,
        "ignored_violations": {k: v for k, v in check.kinds().items() if k in ignore},
        "examples": [v.message for v in check.violations if v.kind not in ignore][:5],
        "jobs_assigned": check.jobs_assigned,
        "assigned_excl_crews": len(check.assigned_ids - crew_jobs),
        "urgent_assigned": check.assigned_by_priority.get("urgent", 0),
        "travel_h": round(check.travel_s / 3600, 2),
        "lateness_h": round(check.lateness_s / 3600, 2),
        "late_jobs": check.late_jobs,
        # Two shared cores: other people's test runs slow everything down; note it.
        "load_1m": round(os.getloadavg()[0], 2),
    }


def in_day_problem(problem: Problem, plan: Plan, now_s: int) -> tuple[Problem, set[str]]:
    """The rest of the day at `now_s`: started jobs out, the others carry their assignment."""
    started: dict[str, tuple[int, int, Point]] = {}  # tech -> last begun (start, end, site)
    gone: set[str] = set()
    current: dict[str, tuple[str, int]] = {}
    jobs = {j.id: j for j in problem.jobs}
    for r in plan.routes:
        prev_end = r.start
        for v in r.visits:
            # When the technician set off for it: drive time plus breaks taken on the way.
            pauses = sum(e - s for s, e in r.breaks if s >= prev_end and e <= v.start)
            left = v.start - v.travel_s - pauses
            prev_end = v.end
            if left < now_s:  # started, or already on the way to it
                gone.add(v.job_id)
                last = started.get(r.technician_id)
                if last is None or v.start > last[0]:
                    started[r.technician_id] = (v.start, v.end, jobs[v.job_id].location)
            elif v.role == "lead" and v.part == 0:
                current[v.job_id] = (r.technician_id, v.start)
    new_jobs = tuple(
        dataclasses.replace(
            j,
            current_technician=current.get(j.id, (None, None))[0],
            current_start_s=current.get(j.id, (None, None))[1],
        )
        for j in problem.jobs
        if j.id not in gone
    )
    techs = []
    for t in problem.technicians:
        last = started.get(t.id)
        if last is None:
            techs.append(t)
            continue
        bookings = t.bookings
        if last[1] > now_s:
            bookings = (*bookings, Booking(now_s, last[1], "in progress"))
        techs.append(dataclasses.replace(t, position=last[2], bookings=bookings))
    return Problem(new_jobs, tuple(techs), problem.weights, now_s), gone


def remaining_plan(plan: Plan, gone: set[str], now_s: int) -> Plan:
    """The original plan from `now_s` on (visits of jobs not yet started), for comparison."""
    routes = []
    for r in plan.routes:
        visits = tuple(v for v in r.visits if v.job_id not in gone)
        if visits:
            breaks = tuple(b for b in r.breaks if b[0] >= now_s)
            routes.append(
                dataclasses.replace(
                    r, start=max(now_s, r.shift_start), visits=visits, breaks=breaks
                )
            )
    planned = {v.job_id for r in routes for v in r.visits}
    unassigned = tuple(u for u in plan.unassigned if u.job_id not in planned)
    return dataclasses.replace(plan, routes=tuple(routes), unassigned=unassigned)


def reoptimise(
    problem: Problem, plan: Plan, provider: object, budget: float, seed: int
) -> dict[str, Any]:
    """Re-solve the rest of the day at 11:00 with a warm start; deltas against the plan."""
    day, gone = in_day_problem(problem, plan, REOPT_NOW)
    before_plan = remaining_plan(plan, gone, REOPT_NOW)
    before = check_field_plan(day, before_plan, provider, complete=False, check_travel_s=False)
    after_plan, wall = run_ours(day, provider, budget, seed, warm=True)
    after = check_field_plan(day, after_plan, provider)
    was = {
        v.job_id: (v.technician_id, v.start)
        for r in before_plan.routes
        for v in r.visits
        if v.role == "lead"
    }
    now = {
        v.job_id: (v.technician_id, v.start)
        for r in after_plan.routes
        for v in r.visits
        if v.role == "lead"
    }
    moved = sum(1 for j, (t, _) in now.items() if j in was and was[j][0] != t)
    retimed = sum(
        1 for j, (t, s) in now.items() if j in was and was[j][0] == t and abs(was[j][1] - s) > 1800
    )
    dropped = sum(1 for j in was if j not in now)
    added = sum(1 for j in now if j not in was)
    res = {
        "now_s": REOPT_NOW,
        "budget_s": budget,
        "time_s": round(wall, 2),
        "status": after_plan.status,
        "jobs_started_before_now": len(gone),
        "jobs_remaining": len(day.jobs),
        "before": before.summary(),
        "after": after.summary(),
        "delta": {
            "jobs_assigned": after.jobs_assigned - before.jobs_assigned,
            "travel_h": round((after.travel_s - before.travel_s) / 3600, 2),
            "lateness_h": round((after.lateness_s - before.lateness_s) / 3600, 2),
        },
        "moved_to_other_technician": moved,
        "kpis_moved_jobs": after_plan.kpis.moved_jobs,
        "retimed_over_30_min": retimed,
        "dropped_from_plan": dropped,
        "newly_planned": added,
    }
    return res


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the field benchmark and report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50x500,100x1000")
    ap.add_argument("--budgets", default="10,30", help="our fixed budgets besides the equal one")
    ap.add_argument("--reopt-budget", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--vroom-threads", type=int, default=1, help="1 = same CPU as ours")
    ap.add_argument(
        "--max-equal-s", type=float, default=0.0, help="cap the equal budget (0 = no cap)"
    )
    ap.add_argument("--no-crews", action="store_true", help="scenarios without crews")
    ap.add_argument("--quick", action="store_true", help="10x100 only, 5 s budgets")
    ap.add_argument(
        "--constructions", default="auto", help="first plans to compare: auto, regret, ortools"
    )
    ap.add_argument("--no-reopt", action="store_true", help="skip the in-day re-optimisation")
    ap.add_argument(
        "--vroom-cache",
        default="",
        help="directory to keep VROOM's plan and time per size and seed (it takes minutes)",
    )
    args = ap.parse_args(argv)
    sizes = ["10x100"] if args.quick else [s for s in args.sizes.split(",") if s]
    budgets = [5.0] if args.quick else [float(b) for b in args.budgets.split(",") if b]
    reopt_budget = 5.0 if args.quick else args.reopt_budget
    provider = travel()

    results: dict[str, Any] = {
        "quick": args.quick,
        "seed": args.seed,
        "crews": not args.no_crews,
        "vroom": {"exploration_level": 5, "threads": args.vroom_threads},
        "constructions": args.constructions,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "scenarios": {},
    }
    for size in sizes:
        if size not in SIZES:
            raise SystemExit(f"unknown size {size}; choose from {sorted(SIZES)}")
        problem = generate(size, args.seed)
        if args.no_crews:
            problem = without_crews(problem)
        crew_jobs = frozenset(j.id for j in problem.jobs if j.crew_size > 1)
        crews = len(crew_jobs)
        rows: list[dict[str, Any]] = []
        vplan, vtime = _vroom_cached(args, size, problem, provider)
        vcheck = check_field_plan(problem, vplan, provider)
        rows.append(row("vroom", None, vtime, vplan, vcheck, ("crew",), crew_jobs))
        equal = max(vtime, 2.0)
        if args.max_equal_s > 0:
            equal = min(equal, args.max_equal_s)
        plans: dict[float, Plan] = {}
        constructions = [c for c in args.constructions.split(",") if c]
        for k, construction in enumerate(constructions):
            for budget in [equal, *budgets]:
                plan, wall = run_ours(
                    problem, provider, budget, args.seed, construction=construction
                )
                label = "ours=vroom" if budget == equal else "ours"
                if len(constructions) > 1:
                    label += f"/{construction}"
                if k == 0:
                    plans[budget] = plan
                check = check_field_plan(problem, plan, provider)
                rows.append(row(label, round(budget, 2), wall, plan, check, (), crew_jobs))
        entry: dict[str, Any] = {"jobs": len(problem.jobs), "crews": crews, "rows": rows}
        firsts = [r["first_solution_s"] for r in rows[1:] if r["first_solution_s"] is not None]
        entry["first_feasible_s"] = min(firsts) if firsts else None
        entry["target_first_s"] = TARGET_FIRST_S.get(size)
        ours_eq = rows[1]
        entry["equal_budget"] = {
            "budget_s": round(equal, 2),
            "assigned_ours_minus_vroom": ours_eq["jobs_assigned"] - rows[0]["jobs_assigned"],
            # VROOM sends one person to a crew job, so also compare without crew jobs.
            "assigned_excl_crews_ours_minus_vroom": ours_eq["assigned_excl_crews"]
            - rows[0]["assigned_excl_crews"],
            "travel_h_ours_minus_vroom": round(ours_eq["travel_h"] - rows[0]["travel_h"], 2),
            "target_met": ours_eq["feasible"]
            and ours_eq["assigned_excl_crews"] >= rows[0]["assigned_excl_crews"]
            and ours_eq["travel_h"] < rows[0]["travel_h"],
        }
        if not args.no_reopt and size in ("50x500", "10x100") and (size == "50x500" or args.quick):
            base = plans[max(plans)]
            entry["reopt"] = reoptimise(problem, base, provider, reopt_budget, args.seed)
        results["scenarios"][size] = entry
        _print_scenario(size, entry)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("field_bench.quick.json" if args.quick else "field_bench.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")
    return results


def _vroom_cached(
    args: argparse.Namespace, size: str, problem: Problem, provider: object
) -> tuple[Plan, float]:
    """VROOM's answer, from the cache directory when one is given and holds it."""
    if not args.vroom_cache:
        return solve_vroom(problem, provider, threads=args.vroom_threads)
    path = Path(args.vroom_cache) / (
        f"vroom_{size}_{args.seed}_{args.vroom_threads}t{'_nocrew' if args.no_crews else ''}.pkl"
    )
    if path.exists():
        with path.open("rb") as f:
            cached: tuple[Plan, float] = pickle.load(f)
        return cached
    result = solve_vroom(problem, provider, threads=args.vroom_threads)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(result, f)
    return result


def _print_scenario(size: str, entry: dict[str, Any]) -> None:
    print(f"\n== {size}: {entry['jobs']} jobs, {entry['crews']} crews (VROOM gets leads only)")
    head = (
        f"{'solver':<11} {'budget':>7} {'time s':>7} {'first s':>8} {'assigned':>8} "
        f"{'no-crew':>7} {'urgent':>6} {'travel h':>8} {'late h':>7} {'load':>5}  checker"
    )
    print(head)
    for r in entry["rows"]:
        budget = "-" if r["budget_s"] is None else f"{r['budget_s']:.1f}"
        first = "-" if r["first_solution_s"] is None else f"{r['first_solution_s']:.2f}"
        verdict = "ok" if r["feasible"] else f"VIOLATIONS {r['violations']}"
        if r["ignored_violations"]:
            verdict += f" (crews not modelled: {r['ignored_violations']})"
        print(
            f"{r['solver']:<18} {budget:>7} {r['time_s']:>7.1f} {first:>8} "
            f"{r['jobs_assigned']:>8} {r['assigned_excl_crews']:>7} {r['urgent_assigned']:>6} "
            f"{r['travel_h']:>8.2f} "
            f"{r['lateness_h']:>7.2f} {r['load_1m']:>5.2f}  {verdict}"
        )
    first = entry["first_feasible_s"]
    target = entry["target_first_s"]
    ok = first is not None and target is not None and first <= target
    print(f"first feasible: {first} s (target <= {target} s: {'met' if ok else 'MISSED'})")
    eq = entry["equal_budget"]
    print(
        f"equal budget {eq['budget_s']} s: assigned ours-vroom {eq['assigned_ours_minus_vroom']:+d}"
        f" (excl. crew jobs {eq['assigned_excl_crews_ours_minus_vroom']:+d}), travel h "
        f"ours-vroom {eq['travel_h_ours_minus_vroom']:+.2f} (target >= jobs and "
        f"less travel: {'met' if eq['target_met'] else 'MISSED'})"
    )
    if "reopt" in entry:
        r = entry["reopt"]
        d = r["delta"]
        # A re-optimisation starts from a feasible plan, so a result with fewer jobs is a
        # failure however fast it came (this once passed with every job dropped).
        ok = r["time_s"] <= 60 and r["after"]["feasible"] and d["jobs_assigned"] >= 0
        print(
            f"re-opt at 11:00 ({r['jobs_remaining']} jobs left, {r['jobs_started_before_now']} "
            f"started): {r['time_s']:.1f} s, {r['status']}; assigned {d['jobs_assigned']:+d}, "
            f"travel {d['travel_h']:+.2f} h, lateness {d['lateness_h']:+.2f} h; moved "
            f"{r['moved_to_other_technician']}, retimed>30min {r['retimed_over_30_min']}, "
            f"dropped {r['dropped_from_plan']}, added {r['newly_planned']}; checker before "
            f"{'ok' if r['before']['feasible'] else r['before']['violations']}, after "
            f"{'ok' if r['after']['feasible'] else r['after']['violations']} "
            f"(target <= 60 s, feasible, no fewer jobs: {'met' if ok else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
