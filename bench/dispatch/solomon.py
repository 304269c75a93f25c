"""Solomon VRPTW benchmark: our dispatcher vs PyVRP and VROOM under the DIMACS convention.

Every instance of /work/shared/data/vrptw/solomon (56, VRPLIB format) runs through the
product's `dispatch.solver.solve` with objective="distance" at each time limit, then through
PyVRP (same limits, fixed seed) and VROOM (no time limit; default exploration level 5).
All three get the same integer matrix: Euclidean distance truncated to one decimal, x10, used
for both distance and travel time (time windows and service times are scaled x10 too). Every
reported solution is re-checked by bench/dispatch/checker.py, which also computes the
distance itself; gap = 100 * (distance - bks) / bks.

Usage: python bench/dispatch/solomon.py [--limits 10,30] [--instances R101,C101] [--quick]
Prints a table and writes bench/results/solomon.json (solomon.quick.json with --quick).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.dispatch.checker import VrptwInstance, check_vrptw, dimacs_matrix_x10  # noqa: E402
from dispatch.model import Job, Problem, Shift, SolveOptions, Technician, TimeWindow  # noqa: E402
from dispatch.solver import solve  # noqa: E402
from geo.points import Point  # noqa: E402

DATA = Path("/work/shared/data/vrptw")
QUICK_INSTANCES = ("C101", "C201", "R101", "R201", "RC101", "RC201")
SEED = 1
# Issue 4: mean gap to the best known solutions at 10 s and 30 s per instance.
TARGET_GAP_PCT = {10.0: 2.0, 30.0: 1.0}


def load_instance(path: Path) -> VrptwInstance:
    """Parse a VRPLIB CVRPTW file (node 1 = depot) into a VrptwInstance."""
    header: dict[str, str] = {}
    sections: dict[str, list[list[str]]] = {}
    current: str | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("_SECTION"):
            current = line
            sections[current] = []
        elif ":" in line and current is None:
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
        elif current is not None:
            sections[current].append(line.split())
    coords = {
        int(r[0]): (int(float(r[1])), int(float(r[2]))) for r in sections["NODE_COORD_SECTION"]
    }
    demand = {int(r[0]): int(r[1]) for r in sections["DEMAND_SECTION"]}
    windows = {
        int(r[0]): (int(float(r[1])), int(float(r[2]))) for r in sections["TIME_WINDOW_SECTION"]
    }
    depot = int(sections["DEPOT_SECTION"][0][0])
    order = [depot] + sorted(k for k in coords if k != depot)
    svc = int(header.get("SERVICE_TIME", "0"))
    service_sec = {int(r[0]): int(r[1]) for r in sections.get("SERVICE_TIME_SECTION", [])}
    return VrptwInstance(
        name=header.get("NAME", path.stem),
        coords=tuple(coords[k] for k in order),
        demand=tuple(demand[k] for k in order),
        ready=tuple(windows[k][0] for k in order),
        due=tuple(windows[k][1] for k in order),
        service=tuple(0 if k == depot else service_sec.get(k, svc) for k in order),
        capacity=int(header["CAPACITY"]),
        vehicles=int(header["VEHICLES"]),
    )


def load_bks(path: Path = DATA / "solomon_bks.csv") -> dict[str, tuple[int, float]]:
    """Best-known (vehicles, distance) per instance name, DIMACS convention."""
    with path.open() as f:
        return {
            r["instance"]: (int(r["bks_vehicles"]), float(r["bks_distance"]))
            for r in csv.DictReader(f)
        }


@dataclass(frozen=True)
class _M:
    durations_s: np.ndarray
    distances_m: np.ndarray


class DimacsTravel:
    """A travel provider over encoded Solomon points: truncated Euclid x10 for both."""

    def __init__(self, inst: VrptwInstance) -> None:
        self.full = dimacs_matrix_x10(inst)
        self.node_of = {encode(xy): i for i, xy in enumerate(inst.coords)}

    def matrix(self, points: Sequence[Point]) -> _M:
        """Square matrix over points that are encoded instance nodes."""
        idx = np.array([self.node_of[p] for p in points], dtype=np.int64)
        sub = self.full[np.ix_(idx, idx)]
        return _M(sub, sub.copy())


def encode(xy: tuple[int, int]) -> Point:
    """Solomon (x, y) as a Point: latitude y/10, longitude x/10 (lookup key only)."""
    return Point(lat=xy[1] / 10, lon=xy[0] / 10)


def to_problem(inst: VrptwInstance) -> Problem:
    """The instance as a dispatch Problem: one technician per vehicle, depot window = shift."""
    depot = encode(inst.coords[0])
    jobs = tuple(
        Job(
            id=str(c),
            location=encode(inst.coords[c]),
            duration_s=inst.service[c] * 10,
            windows=(TimeWindow(inst.ready[c] * 10, inst.due[c] * 10),),
            demand=inst.demand[c],
        )
        for c in range(1, inst.customers + 1)
    )
    shift = Shift(inst.ready[0] * 10, inst.due[0] * 10)
    techs = tuple(
        Technician(id=f"v{k}", start=depot, shifts=(shift,), capacity=inst.capacity)
        for k in range(inst.vehicles)
    )
    return Problem(jobs=jobs, technicians=techs)


def run_ours(
    inst: VrptwInstance, limit: float, seed: int = SEED, construction: str = "auto"
) -> dict[str, Any]:
    """Our dispatcher, objective=distance, at a wall-clock budget."""
    problem = to_problem(inst)
    travel = DimacsTravel(inst)
    t0 = time.perf_counter()
    options = SolveOptions(
        time_limit_s=limit, seed=seed, objective="distance", construction=construction
    )
    plan = solve(problem, travel, options)
    wall = time.perf_counter() - t0
    routes = [[int(v.job_id) for v in r.visits] for r in plan.routes]
    return {
        "routes": routes,
        "time_s": round(wall, 2),
        "status": plan.status,
        "first_solution_s": plan.first_solution_s,
        "reported_distance": sum(r.distance_m for r in plan.routes) / 10,
        "unassigned": len(plan.unassigned),
    }


def run_pyvrp(inst: VrptwInstance, limit: float, seed: int = SEED) -> dict[str, Any]:
    """PyVRP's ILS with MaxRuntime on explicit DIMACS matrices (all edges given)."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    m = Model()
    locs = [m.add_location(x=float(x), y=float(y)) for x, y in inst.coords]
    depot = m.add_depot(locs[0], tw_early=inst.ready[0] * 10, tw_late=inst.due[0] * 10)
    for c in range(1, inst.customers + 1):
        m.add_client(
            locs[c],
            delivery=[inst.demand[c]],
            service_duration=inst.service[c] * 10,
            tw_early=inst.ready[c] * 10,
            tw_late=inst.due[c] * 10,
            name=str(c),
        )
    m.add_vehicle_type(
        num_available=inst.vehicles,
        capacity=[inst.capacity],
        start_depot=depot,
        end_depot=depot,
        tw_early=inst.ready[0] * 10,
        tw_late=inst.due[0] * 10,
    )
    mat = dimacs_matrix_x10(inst)
    n = len(locs)
    for i in range(n):
        for j in range(n):
            if i != j:
                d = int(mat[i, j])
                m.add_edge(locs[i], locs[j], distance=d, duration=d)
    data = m.data()
    t0 = time.perf_counter()
    result = m.solve(stop=MaxRuntime(limit), seed=seed, display=False, collect_stats=False)
    wall = time.perf_counter() - t0
    names = [int(c.name) for c in data.clients()]
    routes = [[names[a.idx] for a in r if a.is_client()] for r in result.best.routes()]
    return {
        "routes": routes,
        "time_s": round(wall, 2),
        "status": "feasible" if result.is_feasible() else "infeasible",
        "reported_distance": result.best.distance() / 10,
    }


def run_vroom(inst: VrptwInstance, threads: int = 1, level: int = 5) -> dict[str, Any]:
    """VROOM at its default exploration level (5), no time limit; time is recorded."""
    import vroom

    mat = dimacs_matrix_x10(inst).astype(np.uint32)
    problem = vroom.Input()
    problem.set_durations_matrix("car", mat)
    problem.set_costs_matrix("car", mat)
    tw = vroom.TimeWindow(inst.ready[0] * 10, inst.due[0] * 10)
    problem.add_vehicle(
        [
            vroom.Vehicle(k + 1, start=0, end=0, capacity=[inst.capacity], time_window=tw)
            for k in range(inst.vehicles)
        ]
    )
    problem.add_job(
        [
            vroom.Job(
                c,
                location=c,
                default_service=inst.service[c] * 10,
                delivery=vroom.Amount([inst.demand[c]]),
                time_windows=[vroom.TimeWindow(inst.ready[c] * 10, inst.due[c] * 10)],
            )
            for c in range(1, inst.customers + 1)
        ]
    )
    t0 = time.perf_counter()
    sol = problem.solve(exploration_level=level, nb_threads=threads)
    wall = time.perf_counter() - t0
    out = sol.to_dict()
    routes = [[int(s["id"]) for s in r["steps"] if s["type"] == "job"] for r in out["routes"]]
    return {
        "routes": routes,
        "time_s": round(wall, 2),
        "status": f"unassigned={len(out.get('unassigned', []))}",
        "reported_distance": out["summary"]["cost"] / 10,
    }


def evaluate(
    inst: VrptwInstance, bks: float, name: str, run: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run one solver, re-check its routes independently, add distance and gap."""
    try:
        res = run()
    except Exception as exc:  # a baseline failing must not stop the benchmark
        return {"solver": name, "error": f"{type(exc).__name__}: {exc}", "feasible": False}
    check = check_vrptw(inst, res.pop("routes"))
    res.update(
        solver=name,
        feasible=check.feasible,
        violations=check.violations[:10],
        distance=check.distance,
        vehicles=check.routes,
        gap_pct=round(100 * (check.distance - bks) / bks, 2),
    )
    return res


def _cell(r: dict[str, Any]) -> str:
    if "error" in r:
        return "ERROR"
    mark = "" if r["feasible"] else " INFEASIBLE"
    return f"{r['gap_pct']:6.2f}% {r['vehicles']:>2}v{mark}"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the Solomon benchmark and report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limits", default="10,30", help="our and PyVRP's budgets, seconds")
    ap.add_argument("--instances", default="", help="comma-separated filter, e.g. R101,C101")
    ap.add_argument("--quick", action="store_true", help="6 representative instances at 2 s")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--no-pyvrp", action="store_true")
    ap.add_argument(
        "--construction",
        default="auto",
        help="SolveOptions.construction, or several comma-separated (auto, regret, ortools); "
        "the first is reported as ours@limit, the others as ours[name]@limit",
    )
    ap.add_argument("--no-vroom", action="store_true")
    ap.add_argument("--vroom-threads", type=int, default=1, help="1 = same CPU as ours")
    args = ap.parse_args(argv)

    constructions = [c.strip() for c in args.construction.split(",") if c.strip()] or ["auto"]
    limits = [2.0] if args.quick else [float(x) for x in args.limits.split(",") if x]
    names = sorted(p.stem for p in (DATA / "solomon").glob("*.vrp"))
    wanted = [x.strip().upper() for x in args.instances.split(",") if x.strip()]
    if args.quick and not wanted:
        wanted = list(QUICK_INSTANCES)
    if wanted:
        unknown = set(wanted) - set(names)
        if unknown:
            raise SystemExit(f"unknown instances: {sorted(unknown)}")
        names = [n for n in names if n in wanted]
    bks = load_bks()

    rows: list[dict[str, Any]] = []
    for name in names:
        inst = load_instance(DATA / "solomon" / f"{name}.vrp")
        best = bks[name][1]
        row: dict[str, Any] = {"instance": name, "bks": best, "bks_vehicles": bks[name][0]}
        for lim in limits:
            for i, how in enumerate(constructions):
                key = f"ours@{lim:g}" if i == 0 else f"ours[{how}]@{lim:g}"
                row[key] = evaluate(
                    inst, best, "ours", partial(run_ours, inst, lim, args.seed, how)
                )
            if not args.no_pyvrp:
                row[f"pyvrp@{lim:g}"] = evaluate(
                    inst, best, "pyvrp", partial(run_pyvrp, inst, lim, args.seed)
                )
        if not args.no_vroom:
            row["vroom"] = evaluate(
                inst, best, "vroom", partial(run_vroom, inst, args.vroom_threads)
            )
        rows.append(row)
        _print_row(row, first=len(rows) == 1)

    keys = [k for k in rows[0] if "@" in k or k == "vroom"] if rows else []
    summary: dict[str, Any] = {}
    for k in keys:
        ok = [r[k] for r in rows if r[k].get("feasible")]
        summary[k] = {
            "instances": len(rows),
            "feasible": len(ok),
            "mean_gap_pct": round(statistics.mean(x["gap_pct"] for x in ok), 2) if ok else None,
            "max_gap_pct": max((x["gap_pct"] for x in ok), default=None),
            "mean_time_s": round(statistics.mean(r[k].get("time_s", 0) for r in rows), 2),
            "infeasible": [r["instance"] for r in rows if not r[k].get("feasible")],
        }
    print()
    print(f"{'solver@limit':<14} {'feasible':>9} {'mean gap':>9} {'max gap':>8} {'mean s':>7}")
    for k, s in summary.items():
        mean = "-" if s["mean_gap_pct"] is None else f"{s['mean_gap_pct']:.2f}%"
        mx = "-" if s["max_gap_pct"] is None else f"{s['max_gap_pct']:.2f}%"
        print(
            f"{k:<14} {s['feasible']:>4}/{s['instances']:<4} {mean:>9} {mx:>8} "
            f"{s['mean_time_s']:>7.2f}"
        )
    for k, s in summary.items():
        if s["infeasible"]:
            print(f"  {k}: infeasible or failed on {', '.join(s['infeasible'])}")
    # The targets hold for the full set only: a filtered or quick run says nothing.
    if len(rows) == len(load_bks()) and not args.quick:
        for lim, target in TARGET_GAP_PCT.items():
            s = summary.get(f"ours@{lim:g}")
            if s is None:
                continue
            met = not s["infeasible"] and s["mean_gap_pct"] <= target
            s["target_mean_gap_pct"] = target
            s["target_met"] = met
            print(
                f"target ours@{lim:g}: feasible everywhere and mean gap <= {target}%: "
                f"{'met' if met else 'NOT met'}"
            )
    results = {
        "convention": "DIMACS: Euclid truncated to 0.1, distance objective, gap vs BKS",
        "limits_s": limits,
        "quick": args.quick,
        "seed": args.seed,
        "vroom": {"exploration_level": 5, "threads": args.vroom_threads},
        "summary": summary,
        "instances": rows,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("solomon.quick.json" if args.quick else "solomon.json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}")
    return results


def _print_row(row: dict[str, Any], first: bool) -> None:
    keys = [k for k in row if "@" in k or k == "vroom"]
    if first:
        print(f"{'instance':<8} {'bks':>7}  " + "  ".join(f"{k:<18}" for k in keys))
    cells = []
    for k in keys:
        r = row[k]
        t = f" {r['time_s']:.1f}s" if k == "vroom" and "time_s" in r else ""
        cells.append(f"{_cell(r) + t:<18}")
    print(f"{row['instance']:<8} {row['bks']:>7.1f}  " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
