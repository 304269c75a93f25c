"""Emergency insertion benchmark: latency of `insertion_options` and validity of its answer.

Solves the 50x500 scenario once (20 s), turns the plan into today's `DayRoute`s, sets now to
10:30 and inserts 200 seeded urgent jobs one at a time, each independently into the same
day. Reports p50/p95/max latency per call (target p95 <= 200 ms) and the jobs with no option.
The scenario's days are full, so a second pass lets urgent work run up to 60 minutes past
the shift (`--overtime-min`); the first pass is strict.

Each best option is re-checked independently: the technician's remaining day is re-driven
from where they are at 10:30 with the new job at the chosen position (every stop as early as
its window allows), the lunch break is fitted in where it can be, and
bench/dispatch/checker.py verifies the whole day (windows, shift + overtime, travel,
overlaps, break, crews); violations the re-driven day has even without the new job are not
counted. Also checked: applying the option literally (new job at its start, pushed stops at
their new times, every other stop at its planned time) still gives a consistent day.

Usage: python bench/dispatch/emergency_bench.py [--jobs 200] [--solve-s 20] [--quick]
Prints a table and writes bench/results/emergency_bench.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.dispatch.checker import (  # noqa: E402
    MatrixLookup,
    check_field_plan,
)
from bench.dispatch.scenarios import (  # noqa: E402
    LAT,
    LON,
    SEED,
    SKILLS,
    generate,
    travel,
    without_crews,
)  # noqa: E402
from dispatch.insertion import DayRoute, InsertionOption, Stop, insertion_options  # noqa: E402
from dispatch.model import (  # noqa: E402
    Job,
    Plan,
    Problem,
    Route,
    Shift,
    SkillNeed,
    SolveOptions,
    Technician,
    Visit,
)
from dispatch.solver import solve  # noqa: E402
from geo.points import Point  # noqa: E402

NOW = 10 * 3600 + 1800


def urgent_jobs(n: int, seed: int, now_s: int) -> list[Job]:
    """Seeded urgent jobs anywhere in the extent, SLA 2-4 h from now, 0-1 skill need."""
    rng = random.Random(f"urgent/{seed}")
    out = []
    for k in range(n):
        needs = rng.sample(SKILLS, rng.choice((0, 1, 1)))
        out.append(
            Job(
                id=f"U{k + 1:03d}",
                location=Point(round(rng.uniform(*LAT), 6), round(rng.uniform(*LON), 6)),
                duration_s=rng.choice((30, 45, 60, 90)) * 60,
                skills=tuple(SkillNeed(s, rng.choice((1, 2, 3))) for s in needs),
                priority="urgent",
                due_s=now_s + rng.choice((2, 3, 4)) * 3600,
            )
        )
    return out


def day_routes(problem: Problem, plan: Plan) -> list[DayRoute]:
    """Today's routes for insertion: every technician's shift with its planned stops."""
    jobs = {j.id: j for j in problem.jobs}
    by_tech = {(r.technician_id, r.shift_start): r for r in plan.routes}
    out = []
    for t in problem.technicians:
        for s in t.shifts:
            r = by_tech.get((t.id, s.start))
            stops = tuple(Stop(jobs[v.job_id], v.start, v.end) for v in r.visits) if r else ()
            out.append(DayRoute(t, s, stops))
    return out


def _earliest(job: Job, arrive: int) -> int | None:
    """When service can start at or after `arrive`: wait for a window, never start late."""
    if job.locked_start_s is not None:
        return job.locked_start_s if arrive <= job.locked_start_s else None
    if not job.windows:
        return arrive
    starts = [max(arrive, w.start) for w in job.windows if arrive <= w.end]
    return min(starts) if starts else None


@dataclasses.dataclass
class Redrive:
    """The rest of one technician's day, driven as early as possible."""

    starts: list[int]
    legs: list[tuple[int, int]]
    home_at: int
    brk: tuple[int, int] | None
    ok: bool


def redrive(
    tech: Technician,
    shift: Shift,
    origin: Point,
    free: int,
    seq: list[Job],
    look: MatrixLookup,
    now_s: int,
) -> Redrive:
    """Drive `seq` from `origin` at `free`, fitting a pending break in the first gap it fits.

    When no placement of the break works, the break-less drive is returned with brk=None.
    """
    pending = [b for b in shift.breaks if b.latest_start >= now_s]
    latest = shift.end + shift.max_overtime_s
    home = tech.end or tech.start
    if pending:
        for gap in range(len(seq) + 1):
            for before_leg in (True, False):
                res = _drive(seq, origin, free, home, look, pending[0], gap, before_leg)
                if res.ok and res.home_at <= latest:
                    return res
    plain = _drive(seq, origin, free, home, look, None, None, True)
    plain.ok = plain.ok and plain.home_at <= latest
    return plain


def _drive(
    seq: list[Job],
    origin: Point,
    free: int,
    home: Point,
    look: MatrixLookup,
    brk: Any,
    gap: int | None,
    before_leg: bool,
) -> Redrive:
    t, here, ok = free, origin, True
    starts: list[int] = []
    legs: list[tuple[int, int]] = []
    taken: tuple[int, int] | None = None
    stops: list[tuple[Job | None, Point]] = [(j, j.location) for j in seq] + [(None, home)]
    for k, (job, where) in enumerate(stops):
        leg, dist = look(here, where)
        if brk is not None and gap == k and before_leg:
            b = max(t, brk.earliest_start)
            ok &= b <= brk.latest_start
            taken, t = (b, b + brk.duration_s), b + brk.duration_s
        arrive = t + leg
        if brk is not None and gap == k and not before_leg:
            b = max(arrive, brk.earliest_start)
            ok &= b <= brk.latest_start
            taken, arrive = (b, b + brk.duration_s), b + brk.duration_s
        legs.append((leg, dist))
        if job is None:
            return Redrive(starts, legs, arrive, taken, ok)
        start = _earliest(job, arrive)
        if start is None:
            ok, start = False, arrive
        starts.append(start)
        t, here = start + job.duration_s, where
    raise AssertionError("unreachable")


def anchor(route: DayRoute, now_s: int) -> tuple[Point, int, list[Stop], list[Stop]]:
    """Where and from when the technician is free at now_s; stops done/started and to do."""
    tech = route.technician
    position, free = tech.position or tech.start, max(now_s, route.shift.start)
    fixed = [s for s in route.stops if s.start <= now_s]
    pending = [s for s in route.stops if s.start > now_s]
    for s in fixed:
        if s.end > now_s:
            free, position = max(free, s.end), s.job.location
    if fixed and fixed[-1].end <= now_s and tech.position is None:
        position = fixed[-1].job.location
    return position, free, fixed, pending


def _route(
    tech: Technician,
    shift: Shift,
    fixed: list[Visit],
    seq: list[tuple[Job, int, str]],
    legs: list[tuple[int, int]],
    home_at: int,
    brk: tuple[int, int] | None,
    start: int,
) -> Route:
    visits = list(fixed)
    for (job, at, role), (leg, dist) in zip(seq, legs, strict=False):
        finish = at + job.duration_s
        late = max(0, finish - job.due_s) if job.due_s is not None and role == "lead" else 0
        visits.append(Visit(job.id, tech.id, at, finish, leg, dist, role=role, late_s=late))
    return Route(
        tech.id, shift.start, shift.end, start, home_at, tuple(visits), (brk,) if brk else (), 0, 0
    )


Key = tuple[str, str | None, str | None]


def _keys(check: Any) -> set[Key]:
    return {(v.kind, v.job_id, v.technician_id) for v in check.violations}


def verify(
    problem: Problem,
    plan: Plan,
    route: DayRoute,
    option: InsertionOption,
    job: Job,
    provider: object,
    now_s: int,
    plan_violations: set[Key],
) -> dict[str, Any]:
    """Re-drive the chosen technician's day with the job inserted and check everything."""
    tech, shift = route.technician, route.shift
    home = tech.end or tech.start
    position, free, fixed, pending = anchor(route, now_s)
    p = option.position - len(fixed)
    before_jobs = [s.job for s in pending]
    seq_jobs = before_jobs[:p] + [job] + before_jobs[p:]
    points = [position, tech.start, home, *(j.location for j in seq_jobs)]
    points += [s.job.location for s in fixed]
    look = MatrixLookup(provider, points)
    original = next(
        (r for r in plan.routes if r.technician_id == tech.id and r.shift_start == shift.start),
        None,
    )
    roles = {v.job_id: v.role for v in original.visits} if original else {}
    fixed_visits = [v for v in original.visits if v.start <= now_s] if original else []
    start = original.start if original and fixed_visits else max(now_s, shift.start)
    others = [r for r in plan.routes if r is not original]
    bigger = dataclasses.replace(problem, jobs=(*problem.jobs, job))

    def check(day: Route, prob: Problem = bigger) -> set[Key]:
        trial = dataclasses.replace(plan, routes=(*others, day))
        return _keys(check_field_plan(prob, trial, provider, complete=False, check_travel_s=False))

    def as_route(jobs: list[Job], drive: Redrive) -> Route:
        seq = [(j, at, roles.get(j.id, "lead")) for j, at in zip(jobs, drive.starts, strict=True)]
        return _route(tech, shift, fixed_visits, seq, drive.legs, drive.home_at, drive.brk, start)

    base = redrive(tech, shift, position, free, before_jobs, look, now_s)
    new = redrive(tech, shift, position, free, seq_jobs, look, now_s)
    # Only what the insertion itself breaks: not in the plan, nor in the re-driven day
    # without the new job (re-driving alone can move a crew member, or leave no lunch).
    known = plan_violations | check(as_route(before_jobs, base))
    fresh = sorted(check(as_route(seq_jobs, new)) - known, key=str)

    # Applying the option literally: the new job and the pushed stops move, nothing else.
    pushed = dict(option.pushed)
    literal = [(s.job, pushed.get(s.job.id, s.start), roles.get(s.job.id, "lead")) for s in pending]
    literal.insert(p, (job, option.start, "lead"))
    here = jobs_by_id(problem)[fixed_visits[-1].job_id].location if fixed_visits else position
    legs = []
    for j, _, _ in literal:
        legs.append(look(here, j.location))
        here = j.location
    last_end = max(
        [fixed_visits[-1].end if fixed_visits else start]
        + [at + j.duration_s for j, at, _ in literal]
    )
    home_at = last_end + look(here, home)[0]
    lit_route = _route(tech, shift, fixed_visits, literal, legs, home_at, None, start)
    no_breaks = dataclasses.replace(
        bigger,
        technicians=tuple(
            dataclasses.replace(
                t, shifts=tuple(dataclasses.replace(s, breaks=()) for s in t.shifts)
            )
            if t.id == tech.id
            else t
            for t in bigger.technicians
        ),
    )
    lit_bad = sorted(
        k
        for k in check(lit_route, no_breaks) - plan_violations
        if k[0] in ("travel", "overlap", "window", "shift") and (k[2] in (tech.id, None))
    )
    return {
        "technician": tech.id,
        "violations": fresh,
        "break_fits_before": base.brk is not None or not shift.breaks,
        "break_fits_after": new.brk is not None or not shift.breaks,
        "literal_violations": lit_bad,
    }


def jobs_by_id(problem: Problem) -> dict[str, Job]:
    """Jobs of the problem by id."""
    return {j.id: j for j in problem.jobs}


def with_overtime(problem: Problem, seconds: int) -> Problem:
    """The problem with every shift allowed to run `seconds` late (urgent work only)."""
    techs = tuple(
        dataclasses.replace(
            t, shifts=tuple(dataclasses.replace(s, max_overtime_s=seconds) for s in t.shifts)
        )
        for t in problem.technicians
    )
    return dataclasses.replace(problem, technicians=techs)


def run_mode(
    problem: Problem, plan: Plan, jobs: list[Job], provider: object
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Insert each job independently into the same day; time the calls, check the best."""
    plan_violations = _keys(check_field_plan(problem, plan, provider))
    routes = day_routes(problem, plan)
    by_tech = {r.technician.id: r for r in routes}
    latencies: list[float] = []
    none = 0
    results = []
    for job in jobs:
        t = time.perf_counter()
        options = insertion_options(job, routes, provider, NOW, problem.weights, limit=5)
        latencies.append((time.perf_counter() - t) * 1000)
        if not options:
            none += 1
            continue
        best = options[0]
        res = verify(
            problem, plan, by_tech[best.technician_id], best, job, provider, NOW, plan_violations
        )
        res.update(job=job.id, start=best.start, cost=best.cost, pushed=len(best.pushed))
        results.append(res)
    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    kinds = Counter(k[0] for r in results for k in r["violations"])
    lit_kinds = Counter(k[0] for r in results for k in r["literal_violations"])
    broke_break = sum(1 for r in results if r["break_fits_before"] and not r["break_fits_after"])
    summary = {
        "latency_ms": {
            "p50": round(statistics.median(lat), 2),
            "p95": round(p95, 2),
            "max": round(lat[-1], 2),
            "mean": round(statistics.mean(lat), 2),
        },
        "no_option": none,
        "placed": len(results),
        "placements_with_new_violations": sum(1 for r in results if r["violations"]),
        "new_violations_by_kind": dict(kinds),
        "placements_that_lose_the_lunch_break": broke_break,
        "literal_application_inconsistent": sum(1 for r in results if r["literal_violations"]),
        "literal_violations_by_kind": dict(lit_kinds),
        "examples": {
            "violations": [v for r in results for v in r["violations"]][:5],
            "literal": [v for r in results for v in r["literal_violations"]][:3],
        },
    }
    return summary, results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the emergency insertion benchmark and report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="50x500")
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--solve-s", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--no-crews", action="store_true", help="scenario without crews")
    ap.add_argument(
        "--overtime-min", type=int, default=60, help="second pass allowing this much overtime"
    )
    ap.add_argument("--quick", action="store_true", help="50 jobs on a 12 s plan")
    args = ap.parse_args(argv)
    n_jobs = 50 if args.quick else args.jobs
    solve_s = 12.0 if args.quick else args.solve_s
    provider = travel()
    problem = generate(args.size, args.seed)
    if args.no_crews:
        problem = without_crews(problem)
    t0 = time.perf_counter()
    plan = solve(problem, provider, SolveOptions(time_limit_s=solve_s, seed=args.seed))
    solve_wall = time.perf_counter() - t0
    base_check = check_field_plan(problem, plan, provider)

    modes = {"strict": 0, f"overtime_{args.overtime_min}min": args.overtime_min * 60}
    summary: dict[str, Any] = {
        "size": args.size,
        "crews": not args.no_crews,
        "plan": {
            "solve_s": solve_s,
            "wall_s": round(solve_wall, 2),
            "status": plan.status,
            "jobs_assigned": base_check.jobs_assigned,
            "checker": base_check.kinds() or "ok",
        },
        "now_s": NOW,
        "jobs": n_jobs,
        "target_p95_ms": 200,
        "modes": {},
    }
    placements: dict[str, list[dict[str, Any]]] = {}
    jobs = urgent_jobs(n_jobs, args.seed, NOW)
    for mode, overtime in modes.items():
        day = with_overtime(problem, overtime)
        summary["modes"][mode], placements[mode] = run_mode(day, plan, jobs, provider)
    _print(summary)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("emergency_bench.quick.json" if args.quick else "emergency_bench.json")
    path.write_text(
        json.dumps({**summary, "quick": args.quick, "placements": placements}, indent=2) + "\n"
    )
    print(f"wrote {path}")
    return summary


def _print(s: dict[str, Any]) -> None:
    p = s["plan"]
    print(
        f"base plan {s['size']}: {p['jobs_assigned']} jobs assigned in {p['wall_s']} s "
        f"({p['status']}), checker {p['checker']}; {s['jobs']} urgent jobs at 10:30"
    )
    modes = list(s["modes"])
    cols = [s["modes"][m] for m in modes]

    def lat(m: dict[str, Any]) -> str:
        x = m["latency_ms"]
        return f"{x['p50']:.1f} / {x['p95']:.1f} / {x['max']:.1f}"

    rows = [
        ("latency p50 / p95 / max (ms)", [lat(m) for m in cols]),
        (
            "p95 target <= 200 ms",
            ["met" if m["latency_ms"]["p95"] <= 200 else "MISSED" for m in cols],
        ),
        ("jobs with no option", [str(m["no_option"]) for m in cols]),
        ("placed (best option checked)", [str(m["placed"]) for m in cols]),
        (
            "placements with new violations",
            [str(m["placements_with_new_violations"]) for m in cols],
        ),
        ("  by kind", [str(m["new_violations_by_kind"] or "-") for m in cols]),
        (
            "placements that lose the lunch",
            [str(m["placements_that_lose_the_lunch_break"]) for m in cols],
        ),
        (
            "applied literally: inconsistent",
            [str(m["literal_application_inconsistent"]) for m in cols],
        ),
        ("  by kind", [str(m["literal_violations_by_kind"] or "-") for m in cols]),
    ]
    width = max(len(r[0]) for r in rows)
    cw = max(22, *(len(v) for _, vals in rows for v in vals))
    print(f"{'measure'.ljust(width)}  " + "  ".join(m.ljust(cw) for m in modes))
    for name, values in rows:
        print(f"{name.ljust(width)}  " + "  ".join(v.ljust(cw) for v in values))


if __name__ == "__main__":
    main()
