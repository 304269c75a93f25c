"""Top-k technicians for one order, with a score a dispatcher can read line by line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dispatch.insertion import DayRoute, InsertionOption, insertion_options
from dispatch.model import DEFAULT_WEIGHTS, Job, Weights
from geo.travel import TravelTimeProvider

# The four parts of the score; they add up to 100 for a perfect candidate.
SCORE_WEIGHTS = {"skill_fit": 25.0, "eta": 30.0, "load": 20.0, "sla": 25.0}


@dataclass(frozen=True)
class Recommendation:
    """One candidate: the score, its parts, and the concrete placement behind it."""

    technician_id: str
    score: float
    breakdown: dict[str, float]
    option: InsertionOption


def skill_fit(route: DayRoute, job: Job) -> float:
    """1.0 for exactly the levels needed; a little less per surplus level (keep experts free)."""
    if not job.skills:
        return 1.0
    surplus = [route.technician.skills.get(n.skill, 0) - n.min_level for n in job.skills]
    return max(0.0, 1.0 - 0.1 * (sum(surplus) / len(surplus)))


def recommend(
    job: Job,
    routes: Sequence[DayRoute],
    travel: TravelTimeProvider,
    now_s: int,
    k: int = 5,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[Recommendation]:
    """Rank technicians who can take `job` today without dropping anything else."""
    options = insertion_options(job, routes, travel, now_s, weights, limit=len(routes))
    by_tech = {r.technician.id: r for r in routes}
    out: list[Recommendation] = []
    for option in options:
        route = by_tech[option.technician_id]
        length = max(1, route.shift.end - route.shift.start)
        eta_min = max(0, option.start - now_s) / 60
        parts = {
            "skill_fit": skill_fit(route, job),
            "eta": 1.0 / (1.0 + eta_min / 30.0),
            "load": max(0.0, 1.0 - option.load_s / length),
            "sla": _sla(job, option),
        }
        score = sum(SCORE_WEIGHTS[name] * value for name, value in parts.items())
        breakdown = {name: round(SCORE_WEIGHTS[name] * v, 2) for name, v in parts.items()}
        out.append(Recommendation(option.technician_id, round(score, 2), breakdown, option))
    out.sort(key=lambda r: (-r.score, r.technician_id))
    return out[:k]


def _sla(job: Job, option: InsertionOption) -> float:
    """1.0 with two hours of slack to the deadline or more, 0.0 when it would be late."""
    if job.due_s is None:
        return 1.0
    slack = job.due_s - option.end
    if slack <= 0:
        return 0.0
    return min(1.0, slack / 7200)
