"""Independent feasibility checkers for benchmark solutions (never imports dispatch.solver).

Two checkers, both recomputing everything from the instance data rather than trusting what a
solver reports:

- `check_vrptw`: a Solomon/VRPLIB instance and routes given as lists of customer ids
  (depot = 0). Verifies each customer is served exactly once, vehicle count, capacity, time
  windows (arrival may wait, service must start by the due time, return to the depot by its
  due time), and computes the DIMACS distance (Euclidean truncated to one decimal) with
  integer arithmetic.
- `check_field_plan`: a `dispatch.model.Problem` and a `Plan` (ours, or a baseline's
  converted to one). Verifies windows, locked starts, skills and levels, pinned technician,
  territory, shifts (+ overtime), breaks and bookings, no overlapping visits, travel times
  and gaps against the matrix, crews, at most one lead per job part, per-day limits,
  capacity and reported lateness; and recomputes the KPIs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatch.model import Job, Plan, Problem, Route, Shift, Technician
from geo.points import Point

# --------------------------------------------------------------------------------------
# VRPTW (Solomon, DIMACS convention)


@dataclass(frozen=True)
class VrptwInstance:
    """A Solomon-style instance; index 0 is the depot, 1..n the customers."""

    name: str
    coords: tuple[tuple[int, int], ...]
    demand: tuple[int, ...]
    ready: tuple[int, ...]
    due: tuple[int, ...]
    service: tuple[int, ...]
    capacity: int
    vehicles: int

    @property
    def customers(self) -> int:
        """Number of customers (nodes other than the depot)."""
        return len(self.coords) - 1


def dimacs_distance_x10(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Euclidean distance truncated to one decimal, times ten, exactly (integer sqrt)."""
    dx, dy = a[0] - b[0], a[1] - b[1]
    return math.isqrt(100 * (dx * dx + dy * dy))


def dimacs_matrix_x10(inst: VrptwInstance) -> np.ndarray:
    """The full DIMACS matrix (x10, int64) over depot + customers."""
    n = len(inst.coords)
    out = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            if i != j:
                out[i, j] = dimacs_distance_x10(inst.coords[i], inst.coords[j])
    return out


@dataclass
class VrptwCheck:
    """Verdict on one VRPTW solution: feasible or the violations, and its DIMACS figures."""

    feasible: bool
    violations: list[str]
    distance: float
    distance_x10: int
    routes: int


def check_vrptw(inst: VrptwInstance, routes: Sequence[Sequence[int]]) -> VrptwCheck:
    """Verify routes (lists of customer ids, depot excluded) against the instance."""
    problems: list[str] = []
    used = [r for r in routes if len(r) > 0]
    if len(used) > inst.vehicles:
        problems.append(f"{len(used)} routes but only {inst.vehicles} vehicles")
    seen: dict[int, int] = {}
    total = 0
    for k, route in enumerate(used):
        load = 0
        t = inst.ready[0] * 10  # tenths throughout, so truncated travel stays exact
        prev = 0
        for c in route:
            if not (1 <= c <= inst.customers):
                problems.append(f"route {k}: unknown customer {c}")
                continue
            seen[c] = seen.get(c, 0) + 1
            load += inst.demand[c]
            d = dimacs_distance_x10(inst.coords[prev], inst.coords[c])
            total += d
            start = max(t + d, inst.ready[c] * 10)  # arriving early waits for the window
            if start > inst.due[c] * 10:
                problems.append(
                    f"route {k}: customer {c} starts at {start / 10:.1f} after due {inst.due[c]}"
                )
            t = start + inst.service[c] * 10
            prev = c
        back = dimacs_distance_x10(inst.coords[prev], inst.coords[0])
        total += back
        if t + back > inst.due[0] * 10:
            problems.append(
                f"route {k}: returns to depot at {(t + back) / 10:.1f} after {inst.due[0]}"
            )
        if load > inst.capacity:
            problems.append(f"route {k}: load {load} exceeds capacity {inst.capacity}")
    for c in range(1, inst.customers + 1):
        n = seen.get(c, 0)
        if n == 0:
            problems.append(f"customer {c} not served")
        elif n > 1:
            problems.append(f"customer {c} served {n} times")
    return VrptwCheck(not problems, problems, total / 10, total, len(used))


# --------------------------------------------------------------------------------------
# Field plans


@dataclass(frozen=True)
class Violation:
    """One broken rule: a machine kind, a sentence, and the job or technician concerned."""

    kind: str
    message: str
    job_id: str | None = None
    technician_id: str | None = None


@dataclass
class FieldCheck:
    """Verdict on one field plan, with KPIs recomputed from the matrix."""

    violations: list[Violation]
    jobs_assigned: int
    travel_s: int
    distance_m: int
    lateness_s: int
    late_jobs: int
    assigned_by_priority: dict[str, int] = field(default_factory=dict)
    assigned_ids: set[str] = field(default_factory=set)

    @property
    def feasible(self) -> bool:
        """True when no rule is broken."""
        return not self.violations

    def kinds(self) -> dict[str, int]:
        """Violation counts by kind."""
        out: dict[str, int] = {}
        for v in self.violations:
            out[v.kind] = out.get(v.kind, 0) + 1
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "feasible": self.feasible,
            "violations": self.kinds(),
            "examples": [v.message for v in self.violations[:5]],
            "jobs_assigned": self.jobs_assigned,
            "travel_h": round(self.travel_s / 3600, 2),
            "distance_km": round(self.distance_m / 1000, 1),
            "lateness_h": round(self.lateness_s / 3600, 2),
            "late_jobs": self.late_jobs,
            "assigned_by_priority": self.assigned_by_priority,
        }


class MatrixLookup:
    """Durations and distances between the plan's points, from one matrix call."""

    def __init__(self, travel: object, points: Iterable[Point]) -> None:
        self.index: dict[Point, int] = {}
        for p in points:
            self.index.setdefault(p, len(self.index))
        m = travel.matrix(list(self.index))  # type: ignore[attr-defined]
        self.dur = np.asarray(m.durations_s, dtype=np.int64)
        self.dist = np.asarray(m.distances_m, dtype=np.int64)

    def __call__(self, a: Point, b: Point) -> tuple[int, int]:
        i, j = self.index[a], self.index[b]
        return int(self.dur[i, j]), int(self.dist[i, j])


def _parts(job: Job) -> list[int]:
    """Part durations, by the rule documented on Job.max_part_s."""
    if job.max_part_s is None or job.duration_s <= job.max_part_s:
        return [job.duration_s]
    full, rest = divmod(job.duration_s, job.max_part_s)
    return [job.max_part_s] * full + ([rest] if rest else [])


def _covered(intervals: list[tuple[int, int]], lo: int, hi: int) -> int:
    """Time inside [lo, hi] covered by the intervals lying wholly in it (overlaps once)."""
    total, reach = 0, lo
    for s, e in sorted(i for i in intervals if i[0] >= lo and i[1] <= hi):
        if e > reach:
            total += e - max(s, reach)
            reach = e
    return total


def _find_shift(tech: Technician, route: Route) -> Shift | None:
    for s in tech.shifts:
        if s.start == route.shift_start and s.end == route.shift_end:
            return s
    return None


def route_origin(tech: Technician, shift: Shift, now_s: int | None) -> Point:
    """Where a shift's route starts: live position for a shift already begun, else home."""
    if now_s is not None and tech.position is not None and shift.start <= now_s:
        return tech.position
    return tech.start


def check_field_plan(
    problem: Problem,
    plan: Plan,
    travel: object,
    *,
    now_s: int | None = None,
    complete: bool = True,
    check_travel_s: bool = True,
) -> FieldCheck:
    """Verify a field plan against the problem and recompute its KPIs from the matrix.

    `now_s` defaults to the problem's; `complete` also requires every job to be either
    planned or listed as unassigned (never both).
    """
    now = problem.now_s if now_s is None else now_s
    jobs = {j.id: j for j in problem.jobs}
    techs = {t.id: t for t in problem.technicians}
    out: list[Violation] = []

    def bad(kind: str, msg: str, job: str | None = None, tech: str | None = None) -> None:
        out.append(Violation(kind, msg, job, tech))

    points: list[Point] = [j.location for j in problem.jobs]
    for t in problem.technicians:
        points += [t.start, t.end or t.start] + ([t.position] if t.position else [])
    look = MatrixLookup(travel, points)

    travel_total = dist_total = 0
    by_part: dict[tuple[str, int], list[tuple[str, str, int, int]]] = {}
    per_tech: dict[str, list[tuple[int, int, str]]] = {}
    for route in plan.routes:
        tech = techs.get(route.technician_id)
        if tech is None:
            bad("unknown_technician", f"route of unknown technician {route.technician_id}")
            continue
        tid = tech.id
        shift = _find_shift(tech, route)
        if shift is None:
            bad("shift", f"{tid}: no shift {route.shift_start}-{route.shift_end}", tech=tid)
            continue
        latest = shift.end + shift.max_overtime_s
        earliest = shift.start if now is None else max(shift.start, now)
        if route.start < shift.start:
            bad("shift", f"{tid}: route starts {route.start} before shift {shift.start}", None, tid)
        if route.end > latest:
            bad("shift", f"{tid}: route ends {route.end} after {latest}", tech=tid)
        blocked = sorted(route.breaks)
        # Breaks: each shift break taken once, starting in its window, as long as it still
        # lies ahead (a break whose latest start passed before now_s is history).
        free_breaks = list(blocked)
        for brk in shift.breaks:
            if now is not None and brk.latest_start < now:
                continue
            lo = brk.earliest_start if now is None else max(brk.earliest_start, now)
            hi = max(brk.latest_start, lo)
            match = next(
                (b for b in free_breaks if b[1] - b[0] == brk.duration_s and lo <= b[0] <= hi),
                None,
            )
            if match is None:
                bad(
                    "break",
                    f"{tid}: no {brk.duration_s // 60}-min break starting in [{lo}, {hi}]",
                    tech=tid,
                )
            else:
                free_breaks.remove(match)
        bookings = [
            (max(b.start, earliest), b.end)
            for b in tech.bookings
            if b.end > earliest and b.start < shift.end
        ]
        # Time the technician cannot drive or work: breaks taken plus fixed bookings (the
        # solver reports bookings among the breaks too, so count each interval once).
        pauses_all = sorted(set(blocked) | set(bookings))
        origin = route_origin(tech, shift, now)
        home = tech.end or tech.start
        here, free = origin, route.start
        load = 0
        work = 0
        leg_sum = 0
        for v in route.visits:
            job = jobs.get(v.job_id)
            if job is None:
                bad("unknown_job", f"visit of unknown job {v.job_id}", v.job_id, tid)
                continue
            if v.technician_id != tid:
                bad("route", f"{v.job_id}: visit says {v.technician_id}, route {tid}", v.job_id)
            leg, dist = look(here, job.location)
            if check_travel_s and v.travel_s != leg:
                bad(
                    "travel",
                    f"{v.job_id}: travel_s {v.travel_s} but matrix says {leg}",
                    v.job_id,
                    tid,
                )
            pauses = _covered(pauses_all, free, v.start)
            if free + leg + pauses > v.start:
                bad(
                    "travel",
                    f"{tid}: {v.job_id} starts {v.start}, cannot arrive before "
                    f"{free + leg + pauses} (leave {free}, drive {leg}, pauses {pauses})",
                    v.job_id,
                    tid,
                )
            travel_total += leg
            dist_total += dist
            leg_sum += leg
            parts = _parts(job)
            if not (0 <= v.part < len(parts)) or v.parts != len(parts):
                bad("part", f"{v.job_id}: part {v.part}/{v.parts}, job has {len(parts)}", v.job_id)
                dur = job.duration_s
            else:
                dur = parts[v.part]
            if v.end - v.start != dur:
                bad("duration", f"{v.job_id}: visit {v.end - v.start} s, needs {dur}", v.job_id)
            if v.start < shift.start or v.end > latest:
                bad(
                    "shift",
                    f"{tid}: {v.job_id} [{v.start}, {v.end}] outside shift "
                    f"[{shift.start}, {latest}]",
                    v.job_id,
                    tid,
                )
            if now is not None and v.start < now:
                bad("before_now", f"{v.job_id} starts {v.start} before now {now}", v.job_id, tid)
            if v.part == 0:
                if job.locked_start_s is not None:
                    if v.start != job.locked_start_s:
                        bad(
                            "locked_start",
                            f"{v.job_id}: starts {v.start}, locked at {job.locked_start_s}",
                            v.job_id,
                        )
                elif job.windows and not any(w.start <= v.start <= w.end for w in job.windows):
                    wins = [(w.start, w.end) for w in job.windows]
                    bad("window", f"{v.job_id}: starts {v.start} outside {wins}", v.job_id, tid)
            for need in job.skills:
                level = tech.skills.get(need.skill, 0)
                required = need.min_level if v.role == "lead" else 1
                if level < required:
                    bad(
                        "skill",
                        f"{v.job_id}: {tid} has {need.skill}={level}, {v.role} needs {required}",
                        v.job_id,
                        tid,
                    )
            if job.pinned_technician is not None and v.role == "lead":
                if job.pinned_technician != tid:
                    bad("pinned", f"{v.job_id}: pinned to {job.pinned_technician}, got {tid}")
            if job.territory is not None and tech.territories:
                if job.territory not in tech.territories:
                    bad("territory", f"{v.job_id}: {tid} not in {job.territory}", v.job_id)
            for s, e in pauses_all:
                if s < v.end and v.start < e:
                    bad(
                        "overlap",
                        f"{tid}: {v.job_id} [{v.start}, {v.end}] overlaps pause [{s}, {e}]",
                        v.job_id,
                        tid,
                    )
            if v.role == "lead":
                load += job.demand
            last = v.part == len(parts) - 1
            late = max(0, v.end - job.due_s) if job.due_s is not None and last else 0
            if v.role == "lead" and v.late_s != late:
                bad("late", f"{v.job_id}: late_s {v.late_s}, recomputed {late}", v.job_id)
            work += dur
            by_part.setdefault((job.id, v.part), []).append((v.role, tid, v.start, v.end))
            per_tech.setdefault(tid, []).append((v.start, v.end, job.id))
            here, free = job.location, v.end
        leg, dist = look(here, home)
        pauses = _covered(pauses_all, free, route.end)
        if route.visits and free + leg + pauses > route.end:
            bad(
                "travel",
                f"{tid}: cannot be home by {route.end} (leave {free}, drive {leg})",
                tech=tid,
            )
        if route.visits and free + leg > latest:
            bad("shift", f"{tid}: home at {free + leg}, after {latest}", tech=tid)
        travel_total += leg
        dist_total += dist
        leg_sum += leg
        if check_travel_s and route.travel_s != leg_sum:
            bad("totals", f"{tid}: route travel_s {route.travel_s}, legs sum {leg_sum}", None, tid)
        if tech.max_jobs_per_day is not None and len(route.visits) > tech.max_jobs_per_day:
            bad("max_jobs", f"{tid}: {len(route.visits)} visits > {tech.max_jobs_per_day}", None)
        if tech.capacity is not None and load > tech.capacity:
            bad("capacity", f"{tid}: load {load} > capacity {tech.capacity}", tech=tid)
        if tech.max_work_s_per_day is not None and work + leg_sum > tech.max_work_s_per_day:
            bad("max_work", f"{tid}: work {work + leg_sum} > {tech.max_work_s_per_day}", None, tid)

    for tid, spans in per_tech.items():
        spans.sort()
        for (s1, e1, j1), (s2, e2, j2) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                bad("overlap", f"{tid}: {j1} [{s1}, {e1}] overlaps {j2} [{s2}, {e2}]", j2, tid)

    assigned: set[str] = set()
    lateness = late_jobs = 0
    for (jid, part), members in by_part.items():
        job = jobs[jid]
        leads = [m for m in members if m[0] == "lead"]
        if len(leads) != 1:
            bad("duplicate_lead", f"{jid} part {part}: {len(leads)} leads", jid)
        if len(members) != job.crew_size:
            bad("crew", f"{jid} part {part}: {len(members)} of crew {job.crew_size}", jid)
        if len({m[1] for m in members}) != len(members):
            bad("crew", f"{jid} part {part}: a technician appears twice in the crew", jid)
        if len({m[2] for m in members}) > 1:
            bad("crew", f"{jid} part {part}: crew starts differ {[m[2] for m in members]}", jid)
        if leads and part == len(_parts(job)) - 1:
            assigned.add(jid)
            if job.due_s is not None:
                late = max(0, leads[0][3] - job.due_s)
                lateness += late
                late_jobs += late > 0
    for jid, job in jobs.items():
        parts = len(_parts(job))
        have = sum(1 for p in range(parts) if (jid, p) in by_part)
        if 0 < have < parts:
            bad("part", f"{jid}: {have} of {parts} parts planned", jid)
    if complete:
        listed = [u.job_id for u in plan.unassigned]
        dup = {j for j in listed if listed.count(j) > 1}
        for jid in sorted(dup):
            bad("unassigned", f"{jid} listed unassigned more than once", jid)
        planned = {jid for jid, _ in by_part}
        for jid in sorted(planned & set(listed)):
            bad("unassigned", f"{jid} both planned and unassigned", jid)
        for jid in sorted(set(jobs) - planned - set(listed)):
            bad("missing", f"{jid} neither planned nor unassigned", jid)
    by_priority: dict[str, int] = {}
    for jid in assigned:
        p = jobs[jid].priority
        by_priority[p] = by_priority.get(p, 0) + 1
    return FieldCheck(
        out,
        len(assigned),
        travel_total,
        dist_total,
        lateness,
        late_jobs,
        dict(sorted(by_priority.items())),
        assigned,
    )
