"""Why a job cannot be planned: static checks before solving, and a verdict after.

Static reasons (skills, territory, windows vs shifts, pinned technician) are decided
before the solver runs, so the solver never wastes time on jobs nobody can do. Jobs the
solver drops although someone could do them get a reason from the finished plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dispatch.model import Job, Problem, Shift, Technician, Unassigned, UnassignedReason


@dataclass(frozen=True)
class Eligibility:
    """Which technicians may lead, and which may help, one job; or why nobody may."""

    leads: tuple[int, ...]
    helpers: tuple[int, ...]
    unassigned: Unassigned | None


def has_skills(tech: Technician, job: Job, *, helper: bool = False) -> bool:
    """True when the technician holds every needed skill (any level for helpers)."""
    for need in job.skills:
        level = tech.skills.get(need.skill, 0)
        if level < (1 if helper else need.min_level):
            return False
    return True


def in_territory(tech: Technician, job: Job) -> bool:
    """A technician with no territories works anywhere; otherwise the job's must match."""
    return job.territory is None or not tech.territories or job.territory in tech.territories


def part_durations(job: Job) -> list[int]:
    """Split a long job into day-sized parts (the last one takes the remainder)."""
    if job.max_part_s is None or job.duration_s <= job.max_part_s:
        return [job.duration_s]
    full, rest = divmod(job.duration_s, job.max_part_s)
    return [job.max_part_s] * full + ([rest] if rest else [])


def earliest_start(job: Job, arrival: int) -> int | None:
    """The earliest allowed start at or after `arrival`; None if every window has closed.

    A locked job starts exactly at its locked time (waiting for it if early).
    """
    if job.locked_start_s is not None:
        return job.locked_start_s if arrival <= job.locked_start_s else None
    if not job.windows:
        return arrival
    starts = [max(arrival, w.start) for w in job.windows if arrival <= w.end]
    return min(starts) if starts else None


def _start_bounds(job: Job) -> list[tuple[int, int]]:
    if job.locked_start_s is not None:
        return [(job.locked_start_s, job.locked_start_s)]
    return [(w.start, w.end) for w in job.windows] or [(-(2**62), 2**62)]


def shift_fits(shift: Shift, job: Job, duration_s: int, now_s: int | None) -> bool:
    """Could a visit of this length start inside one of the job's windows on this shift?"""
    earliest_shift = shift.start if now_s is None else max(shift.start, now_s)
    latest_end = shift.end + shift.max_overtime_s
    for lo, hi in _start_bounds(job):
        start = max(lo, earliest_shift)
        if start <= hi and start + duration_s <= latest_end:
            return True
    return False


def _fmt_skills(job: Job) -> str:
    return ", ".join(f"{n.skill}>={n.min_level}" for n in job.skills)


def eligibility(problem: Problem, job: Job, tech_index: dict[str, int]) -> Eligibility:
    """Decide who may do the job, or the first reason a dispatcher must fix."""
    techs = problem.technicians
    if not techs:
        return Eligibility((), (), _why(job, UnassignedReason.NO_TECHNICIANS, "No technicians"))
    if job.pinned_technician is not None and job.pinned_technician not in tech_index:
        return Eligibility(
            (),
            (),
            _why(
                job,
                UnassignedReason.PINNED_TECHNICIAN_UNAVAILABLE,
                f"Pinned technician {job.pinned_technician} is not in this plan",
                technician=job.pinned_technician,
            ),
        )
    candidates: Iterable[int] = (
        [tech_index[job.pinned_technician]] if job.pinned_technician else range(len(techs))
    )
    candidates = list(candidates)
    skilled = [i for i in candidates if has_skills(techs[i], job)]
    if not skilled:
        best = max(
            (techs[i].skills.get(n.skill, 0) for i in candidates for n in job.skills), default=0
        )
        return Eligibility(
            (),
            (),
            _why(
                job,
                UnassignedReason.NO_SKILL,
                f"No technician has {_fmt_skills(job)}"
                + (" (the pinned technician lacks it)" if job.pinned_technician else ""),
                skills=[{"skill": n.skill, "min_level": n.min_level} for n in job.skills],
                best_level_available=best,
            ),
        )
    local = [i for i in skilled if in_territory(techs[i], job)]
    if not local:
        return Eligibility(
            (),
            (),
            _why(
                job,
                UnassignedReason.NO_SKILL_IN_TERRITORY,
                f"Technicians with {_fmt_skills(job) or 'the skills'} exist, "
                f"but none works in territory {job.territory}",
                territory=job.territory,
                skilled_elsewhere=len(skilled),
            ),
        )
    capable = [
        i for i in local if (techs[i].capacity or 0) >= job.demand or techs[i].capacity is None
    ]
    if not capable:
        return Eligibility(
            (),
            (),
            _why(job, UnassignedReason.CAPACITY_EXCEEDED, "Demand exceeds every capacity"),
        )
    longest = max(part_durations(job))
    longest_shift = max(
        (s.end + s.max_overtime_s - s.start for i in capable for s in techs[i].shifts), default=0
    )
    if longest > longest_shift:
        return Eligibility(
            (),
            (),
            _why(
                job,
                UnassignedReason.DURATION_EXCEEDS_SHIFT,
                f"A {longest // 60}-minute visit is longer than any shift "
                f"({longest_shift // 60} minutes); allow splitting across days",
                duration_s=longest,
                longest_shift_s=longest_shift,
            ),
        )
    timely = [
        i
        for i in capable
        if any(shift_fits(s, job, longest, problem.now_s) for s in techs[i].shifts)
    ]
    if not timely:
        reason = (
            UnassignedReason.LOCKED_START_INFEASIBLE
            if job.locked_start_s is not None
            else UnassignedReason.WINDOW_OUTSIDE_SHIFTS
        )
        return Eligibility(
            (),
            (),
            _why(
                job,
                reason,
                "The locked start is outside every eligible shift"
                if job.locked_start_s is not None
                else "No eligible technician works during the requested window",
                windows=[[w.start, w.end] for w in job.windows],
                eligible_technicians=len(capable),
            ),
        )
    helpers: tuple[int, ...] = ()
    if job.crew_size > 1:
        helpers = tuple(
            i
            for i in range(len(techs))
            if has_skills(techs[i], job, helper=True)
            and in_territory(techs[i], job)
            and any(shift_fits(s, job, longest, problem.now_s) for s in techs[i].shifts)
        )
        if len(set(helpers) | set(timely)) < job.crew_size or not helpers:
            return Eligibility(
                (),
                (),
                _why(
                    job,
                    UnassignedReason.CREW_UNAVAILABLE,
                    f"The job needs a crew of {job.crew_size}; only "
                    f"{len(set(helpers) | set(timely))} technicians qualify",
                    crew_size=job.crew_size,
                ),
            )
    return Eligibility(tuple(timely), helpers, None)


def dropped_reason(
    job: Job, eligible: Sequence[str], *, reachable: bool, pinned_full: bool
) -> Unassigned:
    """Explain a job the solver left out although someone was eligible."""
    names = list(eligible)
    if not reachable:
        return _why(
            job,
            UnassignedReason.UNREACHABLE_IN_WINDOW,
            "No eligible technician can drive there, do the work and get back within "
            "the window and shift, even with an empty day",
            eligible=names,
        )
    if pinned_full:
        return _why(
            job,
            UnassignedReason.CONFLICTS_WITH_PINNED,
            "Every eligible technician's time is taken by pinned or locked jobs",
            eligible=names,
        )
    return _why(
        job,
        UnassignedReason.CAPACITY_EXHAUSTED,
        f"All {len(names)} eligible technicians are booked with other work in this period",
        eligible=names,
    )


def _why(job: Job, reason: UnassignedReason, message: str, **details: object) -> Unassigned:
    return Unassigned(job_id=job.id, reason=reason, message=message, details=details)
