"""Deterministic field-service scenarios in Shanghai for the dispatcher benchmarks.

`generate("50x500", seed)` returns a one-day `dispatch.model.Problem`: technicians with home
bases, skills (elevator, hvac, electrical, plumbing, fire) at levels 1-5, an 08:00-17:00
shift with a 30-minute lunch break starting between 11:30 and 13:30, and a job limit per
day; jobs of 30-180 minutes with 0-2 skill needs, low/normal/high/urgent priorities, ~60%
with a 2-4 h window, some with an SLA due time, a few crews of two and a few pinned jobs.
Everything comes from one seeded `random.Random`, so a size and seed always give the same
problem. Times are seconds from midnight of the planned day. Travel: HaversineProvider().

Usage: python bench/dispatch/scenarios.py [--size 50x500] [--seed 7] prints a summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dispatch.model import (  # noqa: E402
    Break,
    Job,
    Problem,
    Shift,
    SkillNeed,
    Technician,
    TimeWindow,
)
from geo.points import Point  # noqa: E402
from geo.travel import HaversineProvider  # noqa: E402

H = 3600
SIZES: dict[str, tuple[int, int]] = {
    "10x100": (10, 100),  # smoke runs only
    "50x500": (50, 500),
    "100x1000": (100, 1000),
}
SEED = 7
LON = (121.2, 121.8)
LAT = (30.9, 31.4)
SKILLS = ("elevator", "hvac", "electrical", "plumbing", "fire")
SHIFT_START, SHIFT_END = 8 * H, 17 * H
LUNCH = Break(earliest_start=11 * H + 1800, latest_start=13 * H + 1800, duration_s=1800)
PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_WEIGHTS = (2, 5, 2, 1)
DURATIONS_MIN = (30, 45, 60, 90, 120, 180)
DURATION_WEIGHTS = (3, 4, 4, 3, 2, 1)
WINDOW_SHARE = 0.6
SLA_SHARE = 0.15
CREW_SHARE = 0.03
PINNED_SHARE = 0.03


def travel() -> HaversineProvider:
    """The travel model every field benchmark uses (crow-flies x1.3 at 30 km/h)."""
    return HaversineProvider()


def _point(rng: random.Random, hubs: list[tuple[float, float]]) -> Point:
    """70% around a district hub, 30% anywhere in the extent."""
    if rng.random() < 0.7:
        lat, lon = rng.choice(hubs)
        lat = min(max(rng.gauss(lat, 0.03), LAT[0]), LAT[1])
        lon = min(max(rng.gauss(lon, 0.035), LON[0]), LON[1])
    else:
        lat, lon = rng.uniform(*LAT), rng.uniform(*LON)
    return Point(lat=round(lat, 6), lon=round(lon, 6))


def _technician(rng: random.Random, k: int, hubs: list[tuple[float, float]]) -> Technician:
    skills = rng.sample(SKILLS, rng.choice((1, 2, 2, 3)))
    levels = {s: rng.choices((1, 2, 3, 4, 5), weights=(1, 2, 3, 3, 2))[0] for s in skills}
    return Technician(
        id=f"T{k:03d}",
        start=_point(rng, hubs),
        shifts=(Shift(SHIFT_START, SHIFT_END, breaks=(LUNCH,)),),
        skills=levels,
        max_jobs_per_day=rng.choice((6, 8, 10)),
    )


def generate(size: str = "50x500", seed: int = SEED) -> Problem:
    """A one-day problem of `size` ('50x500' = 50 technicians, 500 jobs), deterministic."""
    n_techs, n_jobs = SIZES[size]
    rng = random.Random(f"{size}/{seed}")
    hubs = [(rng.uniform(31.0, 31.3), rng.uniform(121.3, 121.7)) for _ in range(8)]
    techs = [_technician(rng, k + 1, hubs) for k in range(n_techs)]
    jobs: list[Job] = []
    for k in range(n_jobs):
        duration = rng.choices(DURATIONS_MIN, weights=DURATION_WEIGHTS)[0] * 60
        needs = rng.sample(SKILLS, rng.choices((0, 1, 2), weights=(3, 5, 2))[0])
        skills = tuple(
            SkillNeed(s, rng.choices((1, 2, 3, 4), weights=(4, 3, 2, 1))[0]) for s in needs
        )
        windows: tuple[TimeWindow, ...] = ()
        if rng.random() < WINDOW_SHARE:
            length = rng.choice((2, 3, 4)) * H
            start = SHIFT_START + rng.randrange(0, SHIFT_END - length - SHIFT_START + 1, 900)
            windows = (TimeWindow(start, start + length),)
        due = rng.randrange(11 * H, 19 * H + 1, 1800) if rng.random() < SLA_SHARE else None
        crew = 2 if rng.random() < CREW_SHARE else 1
        pinned = None
        if crew == 1 and rng.random() < PINNED_SHARE:
            able = [
                t.id for t in techs if all(t.skills.get(n.skill, 0) >= n.min_level for n in skills)
            ]
            pinned = rng.choice(able) if able else None
        jobs.append(
            Job(
                id=f"J{k + 1:04d}",
                location=_point(rng, hubs),
                duration_s=duration,
                windows=windows,
                skills=skills,
                priority=rng.choices(PRIORITIES, weights=PRIORITY_WEIGHTS)[0],
                due_s=due,
                pinned_technician=pinned,
                crew_size=crew,
            )
        )
    return Problem(jobs=tuple(jobs), technicians=tuple(techs))


def without_crews(problem: Problem) -> Problem:
    """The same problem with every crew job done by one person (for diagnosis runs)."""
    jobs = tuple(dataclasses.replace(j, crew_size=1) for j in problem.jobs)
    return dataclasses.replace(problem, jobs=jobs)


def describe(problem: Problem) -> dict[str, Any]:
    """Counts that show what a scenario contains."""
    jobs = problem.jobs
    techs = problem.technicians
    able = sum(
        1
        for j in jobs
        if any(all(t.skills.get(n.skill, 0) >= n.min_level for n in j.skills) for t in techs)
    )
    return {
        "technicians": len(techs),
        "jobs": len(jobs),
        "job_hours": round(sum(j.duration_s for j in jobs) / H, 1),
        "shift_hours": round(
            sum(
                s.end - s.start - sum(b.duration_s for b in s.breaks)
                for t in techs
                for s in t.shifts
            )
            / H,
            1,
        ),
        "with_window": sum(1 for j in jobs if j.windows),
        "with_sla": sum(1 for j in jobs if j.due_s is not None),
        "crews": sum(1 for j in jobs if j.crew_size > 1),
        "pinned": sum(1 for j in jobs if j.pinned_technician),
        "skill_needs": sum(len(j.skills) for j in jobs),
        "someone_qualified": able,
        "priorities": dict(Counter(j.priority for j in jobs)),
    }


def main() -> None:
    """Print a summary of one generated scenario."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="50x500", choices=sorted(SIZES))
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    for key, value in describe(generate(args.size, args.seed)).items():
        print(f"{key:<18} {value}")


if __name__ == "__main__":
    main()
