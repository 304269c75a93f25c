"""KPIs of the plan as it stands (before optimising), for a fair preview comparison."""

from __future__ import annotations

from dispatch.model import Job, Kpis, Problem, Shift
from geo.points import Point
from geo.travel import TravelTimeProvider


def current_kpis(problem: Problem, travel: TravelTimeProvider) -> Kpis:
    """Measure today's assignments (current technician and start) like the solver would."""
    techs = {t.id: t for t in problem.technicians}
    days: dict[tuple[str, int], list[Job]] = {}
    for job in problem.jobs:
        tech = techs.get(job.current_technician or "")
        if tech is None or job.current_start_s is None:
            continue
        shift = _shift_of(tech.shifts, job.current_start_s)
        days.setdefault((tech.id, shift.start if shift else -1), []).append(job)
    points: dict[Point, int] = {}
    legs: list[list[Point]] = []
    for (tech_id, _), jobs in days.items():
        tech = techs[tech_id]
        jobs.sort(key=lambda j: j.current_start_s or 0)
        legs.append([tech.start, *(j.location for j in jobs), tech.end or tech.start])
    for leg in legs:
        for p in leg:
            points.setdefault(p, len(points))
    travel_s = distance_m = 0
    if points:
        matrix = travel.matrix(list(points))
        for leg in legs:
            for a, b in zip(leg, leg[1:], strict=False):
                travel_s += int(matrix.durations_s[points[a], points[b]])
                distance_m += int(matrix.distances_m[points[a], points[b]])
    late = []
    work = travel_s
    for jobs in days.values():
        for job in jobs:
            work += job.duration_s
            finish = (job.current_start_s or 0) + job.duration_s
            late.append(max(0, finish - job.due_s) if job.due_s is not None else 0)
    capacity = sum(s.end - s.start for t in problem.technicians for s in t.shifts) or 1
    return Kpis(
        jobs_total=len(problem.jobs),
        jobs_assigned=len(late),
        travel_s=travel_s,
        travel_km=round(distance_m / 1000, 3),
        work_s=work,
        utilisation=round(work / capacity, 4),
        on_time_pct=round(100.0 * sum(1 for x in late if x == 0) / len(late), 2) if late else 100.0,
        lateness_s=sum(late),
        overtime_s=0,
        moved_jobs=0,
    )


def _shift_of(shifts: tuple[Shift, ...], start: int) -> Shift | None:
    for shift in shifts:
        if shift.start <= start < shift.end + shift.max_overtime_s:
            return shift
    return None
