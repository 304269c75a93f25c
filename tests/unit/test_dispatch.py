"""The dispatcher on small instances: constraints hold, reasons are given, plans are stable."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dispatch.insertion import DayRoute, Stop, insertion_options
from dispatch.model import (
    Break,
    Job,
    Plan,
    Problem,
    ProblemError,
    Shift,
    SkillNeed,
    SolveOptions,
    Technician,
    TimeWindow,
    UnassignedReason,
)
from dispatch.recommend import SCORE_WEIGHTS, recommend
from dispatch.solver import solve
from geo.points import Point
from geo.travel import HaversineProvider

H = 3600
TRAVEL = HaversineProvider()
GOLDEN = Path(__file__).parent / "goldens" / "dispatch_small.json"
FAST = SolveOptions(time_limit_s=1.0)
# Crews and multi-day jobs go through three phases; give them room on a loaded CI machine.
ROOMY = SolveOptions(time_limit_s=3.0)


def at(dx: float, dy: float) -> Point:
    """A point dx, dy kilometres-ish east/north of People's Square."""
    return Point(31.23 + dy * 0.009, 121.47 + dx * 0.0105)


def day(start_h: float = 8, end_h: float = 17, **kw: object) -> Shift:
    return Shift(int(start_h * H), int(end_h * H), **kw)  # type: ignore[arg-type]


def tech(tid: str, *, skills: dict[str, int] | None = None, **kw: object) -> Technician:
    kw.setdefault("shifts", (day(),))
    kw.setdefault("start", at(0, 0))
    return Technician(id=tid, skills=skills or {}, **kw)  # type: ignore[arg-type]


def plan_of(jobs: list[Job], techs: list[Technician], **kw: object) -> Plan:
    options = kw.pop("options", FAST)
    return solve(Problem(tuple(jobs), tuple(techs), **kw), TRAVEL, options)  # type: ignore[arg-type]


def where(plan: Plan) -> dict[str, str]:
    return {v.job_id: v.technician_id for v in plan.visits() if v.role == "lead"}


def reasons(plan: Plan) -> dict[str, UnassignedReason]:
    return {u.job_id: u.reason for u in plan.unassigned}


def test_skills_levels_and_territories_decide_who_goes() -> None:
    jobs = [
        Job("lift", at(1, 0), 1800, skills=(SkillNeed("elevator", 3),)),
        Job("aircon", at(2, 0), 1800, skills=(SkillNeed("hvac", 2),), territory="east"),
    ]
    techs = [
        tech("junior", skills={"elevator": 2, "hvac": 5}),
        tech("senior", skills={"elevator": 4}),
        tech("east", skills={"hvac": 2}, territories=frozenset({"east"})),
    ]
    plan = plan_of(jobs, techs)
    assert where(plan) == {"lift": "senior", "aircon": "east"} or where(plan) == {
        "lift": "senior",
        "aircon": "junior",
    }
    assert plan.kpis.jobs_assigned == 2 and not plan.unassigned


def test_every_unassigned_job_says_why() -> None:
    jobs = [
        Job("plumbing", at(1, 1), 1800, skills=(SkillNeed("plumbing", 1),)),
        Job("west", at(1, 1), 1800, skills=(SkillNeed("hvac", 1),), territory="west"),
        Job("night", at(1, 1), 1800, windows=(TimeWindow(21 * H, 22 * H),)),
        Job("marathon", at(1, 1), 12 * H),
        Job("ghost", at(1, 1), 1800, pinned_technician="nobody"),
        Job("crew", at(1, 1), 1800, crew_size=3),
        Job("far", at(400, 0), 1800, windows=(TimeWindow(8 * H, 9 * H),)),
        Job("locked", at(1, 1), 1800, locked_start_s=6 * H),
    ]
    techs = [
        tech("a", skills={"hvac": 3}, territories=frozenset({"east"})),
        tech("b", skills={"elevator": 3}),
    ]
    plan = plan_of(jobs, techs)
    assert reasons(plan) == {
        "plumbing": UnassignedReason.NO_SKILL,
        "west": UnassignedReason.NO_SKILL_IN_TERRITORY,
        "night": UnassignedReason.WINDOW_OUTSIDE_SHIFTS,
        "marathon": UnassignedReason.DURATION_EXCEEDS_SHIFT,
        "ghost": UnassignedReason.PINNED_TECHNICIAN_UNAVAILABLE,
        "crew": UnassignedReason.CREW_UNAVAILABLE,
        "far": UnassignedReason.UNREACHABLE_IN_WINDOW,
        "locked": UnassignedReason.LOCKED_START_INFEASIBLE,
    }
    no_skill = next(u for u in plan.unassigned if u.job_id == "plumbing")
    assert "plumbing>=1" in no_skill.message


def test_capacity_exhausted_when_the_day_is_full() -> None:
    jobs = [Job(f"j{i}", at(1, i % 3), 2 * H) for i in range(6)]
    plan = plan_of(jobs, [tech("solo", max_jobs_per_day=3)])
    assert plan.kpis.jobs_assigned == 3
    assert set(reasons(plan).values()) == {UnassignedReason.CAPACITY_EXHAUSTED}


def test_windows_breaks_and_shift_hold() -> None:
    jobs = [
        Job(f"w{i}", at(i, 1), 3600, windows=(TimeWindow((9 + i) * H, (10 + i) * H),))
        for i in range(5)
    ]
    lunch = Break(11 * H + 1800, 13 * H, 1800)
    plan = plan_of(jobs, [tech("t", shifts=(day(breaks=(lunch,)),))])
    route = plan.routes[0]
    for v in route.visits:
        job = next(j for j in jobs if j.id == v.job_id)
        assert job.windows[0].start <= v.start <= job.windows[0].end
    assert len(route.breaks) == 1
    b_start, b_end = route.breaks[0]
    assert lunch.earliest_start <= b_start <= lunch.latest_start and b_end - b_start == 1800
    for v in route.visits:  # no visit overlaps the break
        assert v.end <= b_start or v.start >= b_end
    assert route.end <= 17 * H


def test_multiple_windows_use_the_gap_correctly() -> None:
    job = Job("two", at(1, 0), 1800, windows=(TimeWindow(8 * H, 8 * H), TimeWindow(14 * H, 15 * H)))
    plan = plan_of([job], [tech("t", start=at(30, 0))])
    (visit,) = plan.visits()
    assert 14 * H <= visit.start <= 15 * H


def test_crew_starts_together_on_different_technicians() -> None:
    jobs = [
        Job("crew", at(2, 2), 2 * H, crew_size=2, skills=(SkillNeed("elevator", 3),)),
        *[Job(f"s{i}", at(i, 0), 1800) for i in range(4)],
    ]
    techs = [
        tech("lead", skills={"elevator": 4}),
        tech("helper", skills={"elevator": 1}),
        tech("other", skills={}),
    ]
    plan = plan_of(jobs, techs, options=ROOMY)
    crew = [v for v in plan.visits() if v.job_id == "crew"]
    assert sorted(v.role for v in crew) == ["helper", "lead"]
    assert crew[0].start == crew[1].start
    assert len({v.technician_id for v in crew}) == 2
    assert next(v for v in crew if v.role == "lead").technician_id == "lead"
    assert plan.kpis.jobs_assigned == 5


def test_long_job_splits_across_days_with_one_technician() -> None:
    job = Job("overhaul", at(1, 1), 14 * H, max_part_s=7 * H)
    techs = [
        tech("a", shifts=(day(8, 16), day(32, 40)), skills={"x": 1}),
        tech("b", shifts=(day(8, 16), day(32, 40))),
    ]
    plan = plan_of([job, Job("small", at(0, 1), 1800)], techs, options=ROOMY)
    parts = sorted((v for v in plan.visits() if v.job_id == "overhaul"), key=lambda v: v.part)
    assert [p.part for p in parts] == [0, 1]
    assert len({p.technician_id for p in parts}) == 1
    assert parts[1].start >= parts[0].end
    assert parts[0].start < 16 * H <= 32 * H <= parts[1].start


def test_pinned_and_locked_jobs_stay_put() -> None:
    jobs = [
        Job("pinned", at(5, 5), 1800, pinned_technician="far"),
        Job("locked", at(0, 1), 1800, locked_start_s=15 * H),
    ]
    techs = [tech("near"), tech("far", start=at(20, 20))]
    plan = plan_of(jobs, techs)
    assert where(plan)["pinned"] == "far"
    assert next(v for v in plan.visits() if v.job_id == "locked").start == 15 * H


def test_sla_deadline_makes_a_job_go_first() -> None:
    jobs = [
        Job("routine", at(1, 0), 2 * H),
        Job("urgent", at(-1, 0), 2 * H, due_s=10 * H + 1800, priority="urgent"),
    ]
    plan = plan_of(jobs, [tech("t")])
    order = [v.job_id for v in plan.routes[0].visits]
    assert order[0] == "urgent"
    assert plan.kpis.lateness_s == 0 and plan.kpis.on_time_pct == 100.0


def test_priority_wins_when_not_everything_fits() -> None:
    jobs = [Job(f"low{i}", at(1, i), 3 * H, priority="low") for i in range(3)]
    jobs.append(Job("urgent", at(2, 2), 3 * H, priority="urgent"))
    plan = plan_of(jobs, [tech("t", shifts=(day(8, 15),))])
    assert "urgent" in where(plan)
    assert plan.kpis.jobs_assigned == 2


def test_reoptimising_prefers_the_current_assignment() -> None:
    # Two equally good technicians: the plan must keep each job where it already is.
    jobs = [
        Job(
            f"j{i}",
            at(1, i),
            1800,
            current_technician="b" if i % 2 else "a",
            current_start_s=(9 + i) * H,
            dispatched=True,
        )
        for i in range(6)
    ]
    plan = plan_of(jobs, [tech("a"), tech("b")])
    assert plan.kpis.moved_jobs == 0
    assert where(plan) == {j.id: j.current_technician for j in jobs}


def test_workload_is_balanced() -> None:
    jobs = [Job(f"j{i}", at(1, 0), 1800) for i in range(8)]
    plan = plan_of(jobs, [tech("a"), tech("b")])
    counts = sorted(len(r.visits) for r in plan.routes)
    assert counts == [4, 4]


def test_live_position_and_now_are_respected() -> None:
    jobs = [Job("j", at(10, 0), 1800)]
    techs = [tech("home", start=at(0, 0), position=at(10, 0))]
    plan = plan_of(jobs, techs, now_s=12 * H)
    (visit,) = plan.visits()
    assert visit.start >= 12 * H and visit.travel_s == 0


def test_empty_and_impossible_problems_explain_themselves() -> None:
    empty = plan_of([], [tech("t")])
    assert empty.status == "empty" and empty.kpis.jobs_total == 0
    nobody = plan_of([Job("j", at(0, 0), 600)], [])
    assert reasons(nobody) == {"j": UnassignedReason.NO_TECHNICIANS}


@pytest.mark.parametrize("limit", [0, -1, 3601])
def test_time_limit_must_be_sane(limit: float) -> None:
    with pytest.raises(ProblemError):
        plan_of([Job("j", at(0, 0), 600)], [tech("t")], options=SolveOptions(time_limit_s=limit))


def test_malformed_problems_are_rejected() -> None:
    with pytest.raises(ProblemError, match="duplicate job"):
        plan_of([Job("j", at(0, 0), 1), Job("j", at(0, 0), 1)], [tech("t")])
    with pytest.raises(ProblemError, match="window"):
        plan_of([Job("j", at(0, 0), 1, windows=(TimeWindow(5, 1),))], [tech("t")])
    with pytest.raises(ProblemError, match="priority"):
        plan_of([Job("j", at(0, 0), 1, priority="asap")], [tech("t")])


def test_time_limit_returns_the_best_plan_so_far() -> None:
    jobs = [Job(f"j{i}", at(i % 10, i // 10), 600) for i in range(120)]
    techs = [tech(f"t{i}", shifts=(day(8, 20),)) for i in range(6)]
    plan = plan_of(jobs, techs, options=SolveOptions(time_limit_s=0.5))
    assert plan.status == "time_limit"
    assert plan.elapsed_s < 0.5 * 1.05 + 0.2  # build time is inside the budget
    # An idle machine places all 120; a loaded one may reach the deadline first, and then
    # what is left out says so instead of blaming capacity.
    assert plan.kpis.jobs_assigned > 0
    assert {u.reason for u in plan.unassigned} <= {UnassignedReason.NOT_PLANNED_IN_TIME}
    assert plan.kpis.jobs_assigned + len(plan.unassigned) == 120


def test_jobs_a_construction_cut_by_the_limit_never_tried_say_so() -> None:
    jobs = [Job(f"j{i}", at(i % 10, i // 10), 600) for i in range(120)]
    techs = [tech(f"t{i}", shifts=(day(8, 20),)) for i in range(6)]
    plan = plan_of(jobs, techs, options=SolveOptions(time_limit_s=0.001))
    assert plan.status == "time_limit"
    assert plan.kpis.jobs_assigned < 120
    assert len(plan.unassigned) == 120 - plan.kpis.jobs_assigned
    for u in plan.unassigned:
        assert u.reason == UnassignedReason.NOT_PLANNED_IN_TIME
        assert u.details == {"time_limit_s": 0.001}


def _golden_view(plan: Plan) -> dict[str, object]:
    return {
        "routes": [
            {
                "technician": r.technician_id,
                "visits": [[v.job_id, v.role, v.start] for v in r.visits],
            }
            for r in plan.routes
        ],
        "unassigned": [[u.job_id, u.reason.value] for u in plan.unassigned],
        "travel_s": plan.kpis.travel_s,
    }


def test_small_plan_matches_golden() -> None:
    jobs = [
        Job(
            "A",
            at(1, 1),
            3600,
            windows=(TimeWindow(9 * H, 11 * H),),
            skills=(SkillNeed("elevator", 2),),
        ),
        Job("B", at(3, 1), 1800, priority="high"),
        Job("C", at(-2, 2), 2700, due_s=12 * H),
        Job("D", at(4, -2), 1800, skills=(SkillNeed("hvac", 1),)),
        Job("E", at(0, 4), 5400, windows=(TimeWindow(13 * H, 15 * H),)),
        Job("F", at(2, -3), 1800, skills=(SkillNeed("fire", 1),)),
    ]
    techs = [
        tech("alice", skills={"elevator": 3}, start=at(0, 0)),
        tech("bob", skills={"hvac": 2}, start=at(3, 0), max_jobs_per_day=3),
    ]
    view = _golden_view(plan_of(jobs, techs))
    if os.environ.get("UPDATE_GOLDENS") or not GOLDEN.exists():
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(view, indent=1) + "\n")
    assert view == json.loads(GOLDEN.read_text())


# --- emergency insertion and recommendation ----------------------------------------


def _day_routes() -> list[DayRoute]:
    a_jobs = [
        Job("a1", at(1, 0), 3600, windows=(TimeWindow(9 * H, 9 * H + 1800),)),
        Job("a2", at(2, 0), 3600, windows=(TimeWindow(11 * H, 12 * H),)),
    ]
    b_jobs = [Job("b1", at(-3, 0), 3600, windows=(TimeWindow(10 * H, 10 * H),))]
    return [
        DayRoute(
            tech("a", skills={"elevator": 3}),
            day(),
            (Stop(a_jobs[0], 9 * H, 10 * H), Stop(a_jobs[1], 11 * H, 12 * H)),
        ),
        DayRoute(
            tech("b", skills={"elevator": 5}, start=at(-3, 0)),
            day(),
            (Stop(b_jobs[0], 10 * H, 11 * H),),
        ),
        DayRoute(tech("c", skills={}), day(), ()),
    ]


def test_emergency_insertion_keeps_every_window() -> None:
    job = Job("urgent", at(1.5, 0), 1800, skills=(SkillNeed("elevator", 2),), priority="urgent")
    options = insertion_options(job, _day_routes(), TRAVEL, now_s=9 * H + 600)
    assert [o.technician_id for o in options] and {o.technician_id for o in options} <= {"a", "b"}
    for o in options:
        assert o.start >= 9 * H + 600
        for job_id, new_start in o.pushed:
            if job_id == "a2":
                assert new_start <= 12 * H
            if job_id == "b1":
                pytest.fail("b1 has a fixed start and cannot be pushed")
    best = options[0]
    assert best.cost == min(o.cost for o in options)


def test_emergency_insertion_refuses_to_break_a_fixed_visit() -> None:
    job = Job("long", at(-3, 0), 5 * H, skills=(SkillNeed("elevator", 5),))
    options = insertion_options(job, _day_routes(), TRAVEL, now_s=8 * H)
    # Only b has level 5; before b1 (fixed at 10:00) there is no room for 5 hours, after it is.
    assert [o.technician_id for o in options] == ["b"]
    assert options[0].start >= 11 * H


def test_recommend_ranks_with_a_readable_breakdown() -> None:
    job = Job("r", at(-2.5, 0), 1800, skills=(SkillNeed("elevator", 3),), due_s=13 * H)
    recs = recommend(job, _day_routes(), TRAVEL, now_s=8 * H, k=3)
    assert [r.technician_id for r in recs][0] in {"a", "b"}
    for r in recs:
        assert set(r.breakdown) == set(SCORE_WEIGHTS)
        assert abs(sum(r.breakdown.values()) - r.score) < 0.05
        assert 0 <= r.score <= 100
    assert recs == sorted(recs, key=lambda r: -r.score)


def test_emergency_insertion_keeps_the_lunch_break() -> None:
    lunch = Break(12 * H, 12 * H + 1800, 1800)
    route = DayRoute(tech("t"), day(breaks=(lunch,)), ())
    short = insertion_options(Job("s", at(1, 0), 3600), [route], TRAVEL, now_s=11 * H)
    assert short[0].start < 12 * H  # an hour fits before lunch
    long = insertion_options(Job("l", at(1, 0), 2 * H), [route], TRAVEL, now_s=11 * H)
    assert long[0].start >= 12 * H + 1800  # two hours would swallow the break: lunch first
    planned = Stop(Job("p", at(1, 0), 3600), 14 * H, 15 * H)
    busy = DayRoute(tech("t"), day(breaks=(lunch,)), (planned,))
    options = insertion_options(Job("x", at(1, 0), 3600), [busy], TRAVEL, now_s=11 * H)
    for o in options:
        assert dict(o.pushed).get("p", 14 * H) >= 14 * H  # planned visits never move earlier


def test_insertion_keeps_locked_visits_at_their_locked_time() -> None:
    locked = Job("locked", at(1, 0), 1800, locked_start_s=14 * H)
    route = DayRoute(tech("t"), day(), (Stop(locked, 14 * H, 14 * H + 1800),))
    options = insertion_options(Job("x", at(1, 0), 3600), [route], TRAVEL, now_s=9 * H)
    assert options and all(dict(o.pushed).get("locked") is None for o in options)
    too_long = insertion_options(Job("y", at(1, 0), 2 * H), [route], TRAVEL, now_s=13 * H)
    # Two hours from 13:00 cannot fit before the locked 14:00 visit; after it, they do.
    assert too_long and too_long[0].start >= 14 * H + 1800


@pytest.mark.parametrize("kind", ["crew", "locked"])
def test_emergency_insertion_never_pushes_a_crew_or_locked_visit(kind: str) -> None:
    # a's day: a1 at 09:00, then x at 10:00 that starts together with a crew partner on
    # another day (or at a locked time). An urgent job fits before x only by pushing it.
    crew = {"crew_size": 2} if kind == "crew" else {"locked_start_s": 10 * H}
    x = Job("x", at(1, 0), 3600, **crew)  # type: ignore[arg-type]
    a1 = Job("a1", at(0.5, 0), 3000)
    routes = [
        DayRoute(
            tech("a", skills={}), day(), (Stop(a1, 9 * H, 9 * H + 3000), Stop(x, 10 * H, 11 * H))
        )
    ]
    urgent = Job("u", at(0.7, 0), 1800, priority="urgent")
    options = insertion_options(urgent, routes, TRAVEL, now_s=9 * H)
    assert options, "after x there is room all afternoon"
    for o in options:
        assert "x" not in dict(o.pushed)
        assert o.start >= 11 * H  # before x it would push x
    # The same day with x an ordinary visit does offer the earlier, pushing slot.
    plain = [
        DayRoute(
            routes[0].technician,
            day(),
            (routes[0].stops[0], Stop(Job("x", at(1, 0), 3600), 10 * H, 11 * H)),
        )
    ]
    assert any(
        "x" in dict(o.pushed)
        for o in insertion_options(urgent, plain, TRAVEL, now_s=9 * H, limit=50)
    )
