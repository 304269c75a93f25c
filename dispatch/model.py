"""The dispatch problem and its plan: plain dataclasses, integer seconds, no I/O.

Every time is an integer number of seconds from the problem's origin (the server picks the
origin, usually midnight UTC of the first planned day, and converts back). Integer seconds
keep OR-Tools exact and make plans reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from geo.points import Point

PRIORITY_WEIGHT: Mapping[str, int] = {"low": 1, "normal": 2, "high": 4, "urgent": 10}


class ProblemError(ValueError):
    """The problem itself is malformed (not merely infeasible); carries a field path."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class TimeWindow:
    """An interval in which a visit may *start* (customer's requested window)."""

    start: int
    end: int


@dataclass(frozen=True)
class SkillNeed:
    """A skill code a job needs, at a minimum level (1 trainee .. 5 expert)."""

    skill: str
    min_level: int = 1


@dataclass(frozen=True)
class Job:
    """One visit to plan (a work order, or one day's part of a long one)."""

    id: str
    location: Point
    duration_s: int
    windows: tuple[TimeWindow, ...] = ()
    skills: tuple[SkillNeed, ...] = ()
    priority: str = "normal"
    # SLA deadline for *finishing* the job: soft, each second late costs lateness weight.
    due_s: int | None = None
    territory: str | None = None
    pinned_technician: str | None = None
    locked_start_s: int | None = None
    # Lead plus helpers: all start together, each on a different technician.
    crew_size: int = 1
    # Demand against a technician's capacity (Solomon-style load; 0 for field work).
    demand: int = 0
    # Current assignment, for warm starts and the stability cost of moving it.
    current_technician: str | None = None
    current_start_s: int | None = None
    dispatched: bool = False
    # A job longer than this is split into parts on consecutive working days, same person.
    max_part_s: int | None = None


@dataclass(frozen=True)
class Break:
    """A break of a fixed length that must start inside [earliest, latest]."""

    earliest_start: int
    latest_start: int
    duration_s: int


@dataclass(frozen=True)
class Booking:
    """Time already taken (training, another system's job): a fixed block."""

    start: int
    end: int
    label: str = ""


@dataclass(frozen=True)
class Shift:
    """One working day of one technician, in problem seconds."""

    start: int
    end: int
    breaks: tuple[Break, ...] = ()
    # The route may run this long past `end`, paying the overtime weight per second.
    max_overtime_s: int = 0


@dataclass(frozen=True)
class Technician:
    """A person who can be routed: where they start and end, what they can do, when."""

    id: str
    start: Point
    shifts: tuple[Shift, ...]
    end: Point | None = None
    skills: Mapping[str, int] = field(default_factory=dict)
    territories: frozenset[str] = frozenset()
    max_jobs_per_day: int | None = None
    max_work_s_per_day: int | None = None
    capacity: int | None = None
    bookings: tuple[Booking, ...] = ()
    # Live position (on shift): overrides `start` for shifts that began before `now_s`.
    position: Point | None = None


@dataclass(frozen=True)
class Weights:
    """The objective's knobs, all in cost units where one second of travel costs 1."""

    travel_per_s: int = 1
    lateness_per_s: int = 4
    overtime_per_s: int = 2
    # Per second of a day's work above the fair share (total work / working days).
    balance_per_s: int = 1
    # For moving an already-planned job to another technician, and more if dispatched.
    move_planned: int = 900
    move_dispatched: int = 3600
    # Dropping a job costs this times its priority weight (times more when SLA is at risk).
    drop_base: int = 200_000


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class Problem:
    """Everything the solver needs; `now_s` marks what has already happened today."""

    jobs: tuple[Job, ...]
    technicians: tuple[Technician, ...]
    weights: Weights = Weights()
    now_s: int | None = None


@dataclass(frozen=True)
class SolveOptions:
    """How hard to try: a wall-clock budget, a seed, and whether to warm-start."""

    time_limit_s: float = 10.0
    seed: int = 0
    warm_start: bool = True
    # Distance only, vehicles free (benchmarks under the DIMACS convention).
    objective: str = "field"
    # First plan: "regret" (dispatch/construct.py, numpy, then our iterated local search on
    # OR-Tools' fast model), "ortools" (its own construction and search, the old path), or
    # "auto": regret for field problems, ortools for the distance objective (Solomon).
    construction: str = "auto"


class UnassignedReason(StrEnum):
    """Why a job is not in the plan, phrased so a dispatcher can act on it."""

    NO_SKILL = "no_skill"
    NO_SKILL_IN_TERRITORY = "no_skill_in_territory"
    WINDOW_OUTSIDE_SHIFTS = "window_outside_shifts"
    DURATION_EXCEEDS_SHIFT = "duration_exceeds_shift"
    PINNED_TECHNICIAN_UNAVAILABLE = "pinned_technician_unavailable"
    LOCKED_START_INFEASIBLE = "locked_start_infeasible"
    CREW_UNAVAILABLE = "crew_unavailable"
    NO_TECHNICIANS = "no_technicians"
    UNREACHABLE_IN_WINDOW = "unreachable_in_window"
    CAPACITY_EXHAUSTED = "capacity_exhausted"
    CONFLICTS_WITH_PINNED = "conflicts_with_pinned"
    CAPACITY_EXCEEDED = "demand_exceeds_capacity"
    NOT_PLANNED_IN_TIME = "time_limit_before_plan"


@dataclass(frozen=True)
class Unassigned:
    """A job left out, with a machine code, a sentence and the facts behind it."""

    job_id: str
    reason: UnassignedReason
    message: str
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Visit:
    """One planned visit: who, when, and how long the drive to it takes."""

    job_id: str
    technician_id: str
    start: int
    end: int
    travel_s: int
    distance_m: int
    role: str = "lead"
    part: int = 0
    parts: int = 1
    late_s: int = 0


@dataclass(frozen=True)
class Route:
    """One technician's day: visits in order, the breaks taken, and totals."""

    technician_id: str
    shift_start: int
    shift_end: int
    start: int
    end: int
    visits: tuple[Visit, ...]
    breaks: tuple[tuple[int, int], ...] = ()
    travel_s: int = 0
    distance_m: int = 0
    work_s: int = 0
    overtime_s: int = 0


@dataclass(frozen=True)
class Kpis:
    """What a dispatcher compares between plans."""

    jobs_total: int
    jobs_assigned: int
    travel_s: int
    travel_km: float
    work_s: int
    utilisation: float
    on_time_pct: float
    lateness_s: int
    overtime_s: int
    moved_jobs: int


@dataclass(frozen=True)
class Plan:
    """The solver's answer: routes, what was left out and why, and how it went."""

    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    kpis: Kpis
    objective: int
    status: str
    elapsed_s: float
    solutions_found: int = 0
    # Seconds from the call until the first feasible plan existed (None: never).
    first_solution_s: float | None = None

    def visits(self) -> list[Visit]:
        """Every visit of every route, in route order."""
        return [v for r in self.routes for v in r.visits]
