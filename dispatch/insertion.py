"""Emergency insertion and technician recommendation: exact, fast, no solver.

Inserting one urgent job into a running day must feel instant, so instead of re-solving we
try every position of every eligible technician's remaining day, push the later visits
forward, and keep only placements where every existing visit still starts inside its
window and the day still ends inside the shift (nothing else is dropped). A background
optimisation run can polish the result afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.explain import earliest_start, has_skills, in_territory
from dispatch.model import DEFAULT_WEIGHTS, Break, Job, Shift, Technician, Weights
from geo.points import Point
from geo.travel import TravelTimeProvider


@dataclass(frozen=True)
class Stop:
    """A visit already in today's plan."""

    job: Job
    start: int
    end: int


@dataclass(frozen=True)
class DayRoute:
    """One technician's current day: shift and planned stops in order."""

    technician: Technician
    shift: Shift
    stops: tuple[Stop, ...] = ()


@dataclass(frozen=True)
class InsertionOption:
    """One way to fit the job in, with what it costs and whom it delays."""

    technician_id: str
    position: int
    arrival: int
    start: int
    end: int
    added_travel_s: int
    delay_s: int
    late_s: int
    cost: int
    pushed: tuple[tuple[str, int], ...]
    load_jobs: int
    load_s: int


class TravelTable:
    """Durations between the few points one insertion question needs."""

    def __init__(self, provider: TravelTimeProvider, points: list[Point]) -> None:
        self.index: dict[Point, int] = {}
        for p in points:
            self.index.setdefault(p, len(self.index))
        m = provider.matrix(list(self.index))
        self.d = np.asarray(m.durations_s, dtype=np.int64)

    def __call__(self, a: Point, b: Point) -> int:
        return int(self.d[self.index[a], self.index[b]])


def _anchor(route: DayRoute, now_s: int) -> tuple[Point, int, list[Stop], list[Stop]]:
    """Where and when the technician is free, the stops that stay, and those still to do."""
    tech = route.technician
    position = tech.position or tech.start
    free = max(now_s, route.shift.start)
    fixed: list[Stop] = []
    pending: list[Stop] = []
    for stop in route.stops:
        if stop.start <= now_s:
            fixed.append(stop)  # started or done: the technician finishes it first
            if stop.end > now_s:
                free = max(free, stop.end)
                position = stop.job.location
        else:
            pending.append(stop)
    if fixed and fixed[-1].end <= now_s and tech.position is None:
        position = fixed[-1].job.location
    return position, free, fixed, pending


def insertion_options(
    job: Job,
    routes: Sequence[DayRoute],
    travel: TravelTimeProvider,
    now_s: int,
    weights: Weights = DEFAULT_WEIGHTS,
    limit: int = 5,
) -> list[InsertionOption]:
    """The best `limit` placements of `job` into today's routes, cheapest first."""
    candidates = [
        r
        for r in routes
        if has_skills(r.technician, job)
        and in_territory(r.technician, job)
        and (job.pinned_technician is None or job.pinned_technician == r.technician.id)
        and r.shift.end + r.shift.max_overtime_s > now_s
    ]
    if not candidates:
        return []
    anchors = [_anchor(r, now_s) for r in candidates]
    points = [job.location]
    for route, (pos, _, _, pending) in zip(candidates, anchors, strict=True):
        points.append(pos)
        points.append(route.technician.end or route.technician.start)
        points.extend(s.job.location for s in pending)
    dist = TravelTable(travel, points)

    options: list[InsertionOption] = []
    for route, (pos, free, fixed, pending) in zip(candidates, anchors, strict=True):
        tech = route.technician
        if tech.max_jobs_per_day is not None and len(route.stops) >= tech.max_jobs_per_day:
            continue
        home = tech.end or tech.start
        latest_end = route.shift.end + route.shift.max_overtime_s
        breaks = route.shift.breaks
        base = _simulate(pos, free, home, pending, dist, breaks)
        if base is None:
            base_travel, base_starts, base_end = 0, [s.start for s in pending], free
        else:
            base_travel, base_starts, base_end = base
        for position in range(len(pending) + 1):
            sequence = [*pending[:position], Stop(job, 0, 0), *pending[position:]]
            result = _simulate(pos, free, home, sequence, dist, breaks)
            if result is None:
                continue
            travel_s, starts, end = result
            if end > latest_end:
                continue
            start = starts[position]
            others = starts[:position] + starts[position + 1 :]
            if any(
                _anchored(s.job) and t > old
                for s, t, old in zip(pending, others, base_starts, strict=True)
            ):
                continue
            pushed = tuple(
                (s.job.id, t)
                for s, t, old in zip(pending, others, base_starts, strict=True)
                if t > old
            )
            delay = sum(max(0, t - old) for t, old in zip(others, base_starts, strict=True))
            finish = start + job.duration_s
            late = max(0, finish - job.due_s) if job.due_s is not None else 0
            overtime = max(0, end - route.shift.end) - max(0, base_end - route.shift.end)
            added = travel_s - base_travel
            cost = (
                weights.travel_per_s * added
                + weights.lateness_per_s * late
                + weights.overtime_per_s * max(0, overtime)
                # Delaying other customers matters, but less than the emergency itself.
                + delay // 4
                + (start - now_s) // 2
            )
            arrival = start if position == 0 and not pending else start
            options.append(
                InsertionOption(
                    technician_id=tech.id,
                    position=position + len(fixed),
                    arrival=arrival,
                    start=start,
                    end=finish,
                    added_travel_s=added,
                    delay_s=delay,
                    late_s=late,
                    cost=int(cost),
                    pushed=pushed,
                    load_jobs=len(route.stops),
                    load_s=sum(s.end - s.start for s in route.stops),
                )
            )
    options.sort(key=lambda o: (o.cost, o.start, o.technician_id))
    best_per_tech: dict[str, InsertionOption] = {}
    for o in options:
        best_per_tech.setdefault(o.technician_id, o)
    return list(best_per_tech.values())[:limit]


def _anchored(job: Job) -> bool:
    """A visit an insertion may not push: a crew starts together, a locked start is fixed.

    Pushing one crew member's visit would leave the others starting without them (the
    emergency benchmark found 6 such placements of 85 with an hour of overtime allowed).
    """
    return job.crew_size > 1 or job.locked_start_s is not None


def _simulate(
    origin: Point,
    free: int,
    home: Point,
    stops: Sequence[Stop],
    dist: TravelTable,
    breaks: Sequence[Break] = (),
) -> tuple[int, list[int], int] | None:
    """Drive the sequence from `origin` at `free`; None if a window or break is missed.

    Planned stops never move earlier than planned (applying an option only pushes visits
    later), and a break is taken as late as its window allows, just before the first visit
    that would otherwise run past the break's latest start.
    """
    t = free
    here = origin
    travel = 0
    starts: list[int] = []
    todo = sorted((b for b in breaks if b.latest_start >= free), key=lambda b: b.earliest_start)
    for stop in stops:
        leg = dist(here, stop.job.location)
        start = earliest_start(stop.job, max(t + leg, stop.start))
        while start is not None and todo and start + stop.job.duration_s > todo[0].latest_start:
            brk = todo.pop(0)
            taken = max(t, brk.earliest_start)
            if taken > brk.latest_start:
                return None
            t = taken + brk.duration_s
            start = earliest_start(stop.job, max(t + leg, stop.start))
        if start is None:
            return None
        travel += leg
        starts.append(start)
        t = start + stop.job.duration_s
        here = stop.job.location
    for brk in todo:
        taken = max(t, brk.earliest_start)
        if taken > brk.latest_start:
            return None
        t = taken + brk.duration_s
    leg = dist(here, home)
    return travel + leg, starts, t + leg
