"""Dispatch through the API: runs, preview, apply, emergency insertion, recommend, moves."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from geo.points import Point
from server.db import db
from server.technicians.models import Shift
from server.work_orders.models import WorkOrder, WorkOrderEvent
from tests import factories as f

HOME = Point(31.23, 121.47)


def _near(dx_km: float, dy_km: float = 0.0) -> Point:
    return Point(HOME.lat + dy_km * 0.009, HOME.lon + dx_km * 0.0105)


def _all_week(session: Any, tech: Any, start: dt.time, end: dt.time) -> None:
    for weekday in range(7):
        tech.shifts.append(
            Shift(tenant_id=tech.tenant_id, weekday=weekday, start_time=start, end_time=end)
        )
    session.flush()


@pytest.fixture()
def crew(world: Any, session: Any) -> Any:
    """Two technicians on long daily shifts, a skill only one holds, a customer."""
    elevator = f.make_skill(session, world.a, "elevator")
    world.tech.skills.clear()
    session.flush()
    from server.technicians.models import TechnicianSkill

    world.tech.skills.append(TechnicianSkill(tenant_id=world.a.id, skill_id=elevator.id, level=4))
    _all_week(session, world.tech, dt.time(8), dt.time(18))
    _all_week(session, world.other_tech, dt.time(8), dt.time(18))
    customer = f.make_customer(session, world.a)
    session.commit()
    world.customer = customer
    world.elevator = elevator
    return world


def _day() -> dt.date:
    return (dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(days=3)).date()


def _local(day: dt.date, hour: float, zone: str = "Asia/Shanghai") -> dt.datetime:
    base = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(zone))
    return base + dt.timedelta(hours=hour)


def _order(session: Any, w: Any, at: Point, **kw: Any) -> WorkOrder:
    site = f.make_site(session, w.a, w.customer, at=at)
    order = f.make_work_order(session, w.a, site, **kw)
    session.commit()
    return order


def test_run_preview_apply_end_to_end(crew: Any, session: Any) -> None:
    day = _day()
    orders = [
        _order(
            session,
            crew,
            _near(i + 1),
            requested_start=_local(day, 9 + i),
            requested_end=_local(day, 11 + i),
            estimated_duration_minutes=45,
        )
        for i in range(3)
    ]
    lift = _order(
        session, crew, _near(2, 2), required_skills=[{"skill": "elevator", "min_level": 3}]
    )
    fire = _order(session, crew, _near(1, 1), required_skills=[{"skill": "fire", "min_level": 1}])

    r = crew.dispatcher.post(
        "/api/v1/dispatch/runs", json={"date_from": day.isoformat(), "time_limit_s": 1}
    )
    assert r.status_code == 202, r.json
    run = r.json
    assert run["status"] == "done" and run["kpis"]["jobs_assigned"] == 4
    assert run["baseline_kpis"]["jobs_assigned"] == 0

    plan = crew.dispatcher.get(f"/api/v1/dispatch/runs/{run['id']}/plan").json
    visits = {
        v["work_order_id"]: (r["technician_id"], v) for r in plan["routes"] for v in r["visits"]
    }
    assert visits[str(lift.id)][0] == str(crew.tech.id)  # only Li Wei holds the skill
    assert [u["work_order_id"] for u in plan["unassigned"]] == [str(fire.id)]
    assert plan["unassigned"][0]["reason"] == "no_skill"
    for order in orders:
        start = dt.datetime.fromisoformat(visits[str(order.id)][1]["start"])
        assert order.requested_start <= start <= order.requested_end

    preview = crew.dispatcher.get(f"/api/v1/dispatch/runs/{run['id']}/preview").json
    kinds = {c["work_order_id"]: c["change"] for c in preview["changes"]}
    assert kinds[str(lift.id)] == "assigned" and kinds[str(fire.id)] == "unassigned"

    applied = crew.dispatcher.post(f"/api/v1/dispatch/runs/{run['id']}/apply", json={})
    assert applied.status_code == 200, applied.json
    assert sorted(applied.json["changed"]) == sorted(str(o.id) for o in [*orders, lift])
    session.expire_all()
    stored = session.get(WorkOrder, lift.id)
    assert stored.status == "scheduled" and stored.lead_technician_id == crew.tech.id
    assert stored.scheduled_start == dt.datetime.fromisoformat(visits[str(lift.id)][1]["start"])
    event = session.scalars(
        select(WorkOrderEvent).where(
            WorkOrderEvent.work_order_id == lift.id, WorkOrderEvent.event_type == "status_changed"
        )
    ).one()
    assert event.payload["reason"] == f"optimization_run:{run['id']}"
    # The technicians hear about it: assignment notices are queued with the change.
    from server.notifications.models import NotificationOutbox

    notices = session.scalars(
        select(NotificationOutbox).where(NotificationOutbox.kind == "assignment")
    ).all()
    assert str(lift.id) in {n.payload["data"]["work_order_id"] for n in notices}
    assert crew.users["technician"].id in {n.user_id for n in notices}
    again = crew.dispatcher.post(f"/api/v1/dispatch/runs/{run['id']}/apply", json={})
    assert again.status_code == 409 and again.json["code"] == "run_not_ready"
    assert crew.dispatcher.get(f"/api/v1/dispatch/runs/{run['id']}").json["status"] == "applied"


def test_apply_refuses_a_stale_plan_unless_forced(crew: Any, session: Any) -> None:
    day = _day()
    order = _order(session, crew, _near(1))
    run = crew.dispatcher.post(
        "/api/v1/dispatch/runs", json={"date_from": day.isoformat(), "time_limit_s": 1}
    ).json
    etag = crew.dispatcher.get(f"/api/v1/work-orders/{order.id}").headers["ETag"]
    patched = crew.dispatcher.patch(
        f"/api/v1/work-orders/{order.id}",
        json={"title": "Edited meanwhile"},
        headers={"If-Match": etag},
    )
    assert patched.status_code == 200, patched.json
    stale = crew.dispatcher.post(f"/api/v1/dispatch/runs/{run['id']}/apply", json={})
    assert stale.status_code == 409 and stale.json["code"] == "plan_stale"
    assert stale.json["work_order_ids"] == [str(order.id)]
    session.expire_all()
    assert session.get(WorkOrder, order.id).lead_technician_id is None  # nothing half-applied
    forced = crew.dispatcher.post(f"/api/v1/dispatch/runs/{run['id']}/apply", json={"force": True})
    assert forced.status_code == 200 and forced.json["changed"] == [str(order.id)]


def test_reoptimising_keeps_a_good_plan(crew: Any, session: Any) -> None:
    day = _day()
    for i in range(4):
        _order(session, crew, _near(i + 1), estimated_duration_minutes=30)
    first = crew.dispatcher.post(
        "/api/v1/dispatch/runs", json={"date_from": day.isoformat(), "time_limit_s": 1}
    ).json
    assert (
        crew.dispatcher.post(f"/api/v1/dispatch/runs/{first['id']}/apply", json={}).status_code
        == 200
    )
    second = crew.dispatcher.post(
        "/api/v1/dispatch/runs", json={"date_from": day.isoformat(), "time_limit_s": 1}
    ).json
    assert second["baseline_kpis"]["jobs_assigned"] == 4
    assert second["kpis"]["moved_jobs"] == 0
    preview = crew.dispatcher.get(f"/api/v1/dispatch/runs/{second['id']}/preview").json
    assert {c["change"] for c in preview["changes"]} <= {"unchanged", "retimed"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"date_from": "2026-12-10", "date_to": "2026-12-01"}, "invalid_date_range"),
        ({"date_from": "2026-12-01", "date_to": "2026-12-31"}, "date_range_too_long"),
        ({"date_from": "2026-12-01", "time_limit_s": 0}, "validation_error"),
        ({"date_from": "2026-12-01", "time_limit_s": 1e9}, "validation_error"),
        ({"date_from": "2026-12-01", "weights": {"speed": 3}}, "validation_error"),
        (
            {"date_from": "2026-12-01", "territory_id": "00000000-0000-0000-0000-000000000001"},
            "unknown_territory",
        ),
        ({"date_from": "yesterday"}, "validation_error"),
    ],
)
def test_bad_run_requests_are_4xx(crew: Any, body: dict[str, Any], code: str) -> None:
    r = crew.dispatcher.post("/api/v1/dispatch/runs", json=body)
    assert r.status_code == 422 and r.json["code"] == code


def test_a_run_with_nothing_to_do_explains_itself(crew: Any) -> None:
    r = crew.dispatcher.post(
        "/api/v1/dispatch/runs", json={"date_from": _day().isoformat(), "time_limit_s": 1}
    )
    assert r.status_code == 202 and r.json["status"] == "done"
    assert r.json["kpis"]["jobs_total"] == 0
    plan = crew.dispatcher.get(f"/api/v1/dispatch/runs/{r.json['id']}/plan").json
    assert plan["status"] == "empty" and plan["routes"] == []


def test_worker_mode_queues_then_a_worker_solves(crew: Any, app: Any, session: Any) -> None:
    from server.dispatch.service import claim_next_run, execute_run

    _order(session, crew, _near(1))
    app.config["DISPATCH_RUNNER"] = "worker"
    try:
        r = crew.dispatcher.post(
            "/api/v1/dispatch/runs", json={"date_from": _day().isoformat(), "time_limit_s": 1}
        )
    finally:
        app.config["DISPATCH_RUNNER"] = "inline"
    assert r.json["status"] == "queued"
    worker_session = db.session()
    run = claim_next_run(worker_session)
    assert run is not None and str(run.id) == r.json["id"] and run.status == "running"
    execute_run(worker_session, run)
    status = crew.dispatcher.get(f"/api/v1/dispatch/runs/{r.json['id']}").json
    assert status["status"] == "done" and status["progress"] == 1.0
    assert claim_next_run(worker_session) is None


def test_runs_are_tenant_private(crew: Any) -> None:
    r = crew.dispatcher.post(
        "/api/v1/dispatch/runs", json={"date_from": _day().isoformat(), "time_limit_s": 1}
    )
    assert crew.b_api.get(f"/api/v1/dispatch/runs/{r.json['id']}").status_code == 404
    assert crew.b_api.get("/api/v1/dispatch/runs").json == []


# --- today: emergency insertion, recommendations, board moves ------------------------------


@pytest.fixture()
def today(crew: Any, session: Any) -> Any:
    """A zone where it is about noon now, so 'today' has room before and after."""
    now = dt.datetime.now(dt.UTC)
    offset = max(-12, min(14, 12 - now.hour))
    zone = f"Etc/GMT{-offset:+d}" if offset else "UTC"
    crew.a.timezone = zone
    for tech in (crew.tech, crew.other_tech):
        tech.shifts.clear()
        session.flush()
        _all_week(session, tech, dt.time(0, 0), dt.time(23, 59))
    session.commit()
    local_now = now.astimezone(ZoneInfo(zone))
    crew.zone = zone
    crew.now = now
    crew.later = lambda hours: now + dt.timedelta(hours=hours)  # noqa: E731
    assert 10 <= local_now.hour <= 14
    return crew


def test_emergency_insertion_offers_placements_that_drop_nothing(today: Any, session: Any) -> None:
    booked = _order(
        session,
        today,
        _near(3),
        status="scheduled",
        lead_technician_id=today.tech.id,
        scheduled_start=today.later(2),
        scheduled_end=today.later(3),
        requested_start=today.later(1.5),
        requested_end=today.later(2.5),
    )
    urgent = _order(
        session,
        today,
        _near(2.5),
        priority="urgent",
        estimated_duration_minutes=30,
        required_skills=[{"skill": "elevator", "min_level": 2}],
    )
    r = today.dispatcher.post("/api/v1/dispatch/insertions", json={"work_order_id": str(urgent.id)})
    assert r.status_code == 200, r.json
    options = r.json["options"]
    assert options and {o["technician_id"] for o in options} == {str(today.tech.id)}
    best = options[0]
    assert best["eta_minutes"] >= 0 and best["technician_name"] == "Li Wei"
    for pushed in best["pushed"]:
        assert pushed["work_order_id"] == str(booked.id)
        assert dt.datetime.fromisoformat(pushed["new_start"]) <= booked.requested_end
    other = today.b_api.post("/api/v1/dispatch/insertions", json={"work_order_id": str(urgent.id)})
    assert other.status_code == 404


def test_recommendations_rank_with_breakdown(today: Any, session: Any) -> None:
    order = _order(session, today, _near(1), estimated_duration_minutes=30)
    r = today.dispatcher.get(f"/api/v1/dispatch/recommendations?work_order_id={order.id}&k=5")
    assert r.status_code == 200, r.json
    recs = r.json["recommendations"]
    assert {x["technician_id"] for x in recs} == {str(today.tech.id), str(today.other_tech.id)}
    assert recs[0]["score"] >= recs[1]["score"]
    assert set(recs[0]["breakdown"]) == {"skill_fit", "eta", "load", "sla"}
    bad = today.dispatcher.get(f"/api/v1/dispatch/recommendations?work_order_id={order.id}&k=0")
    assert bad.status_code == 422


def test_board_move_retimes_and_reports_violations(today: Any, session: Any) -> None:
    later = _order(
        session,
        today,
        _near(4),
        status="scheduled",
        lead_technician_id=today.tech.id,
        scheduled_start=today.later(2),
        scheduled_end=today.later(3),
    )
    moved = _order(
        session,
        today,
        _near(1),
        estimated_duration_minutes=120,
        requested_start=today.later(5),
        requested_end=today.later(6),
    )
    body = {
        "work_order_id": str(moved.id),
        "technician_id": str(today.tech.id),
        "start": today.later(1).isoformat(),
    }
    refused = today.dispatcher.post("/api/v1/dispatch/moves", json=body)
    assert refused.status_code == 409 and refused.json["code"] == "plan_violations"
    assert {v["code"] for v in refused.json["violations"]} == {"outside_window"}
    assert [x["work_order_id"] for x in refused.json["retimed"]] == [str(later.id)]
    session.expire_all()
    assert session.get(WorkOrder, moved.id).lead_technician_id is None

    forced = today.dispatcher.post("/api/v1/dispatch/moves", json={**body, "force": True})
    assert forced.status_code == 200 and forced.json["applied"] is True
    session.expire_all()
    stored_later = session.get(WorkOrder, later.id)
    stored_moved = session.get(WorkOrder, moved.id)
    assert stored_moved.lead_technician_id == today.tech.id and stored_moved.status == "scheduled"
    # The later visit now starts after the moved one ends plus the drive.
    assert stored_later.scheduled_start >= stored_moved.scheduled_end
    assert stored_later.scheduled_end - stored_later.scheduled_start == dt.timedelta(hours=1)


def test_board_move_flags_missing_skill(today: Any, session: Any) -> None:
    order = _order(
        session, today, _near(1), required_skills=[{"skill": "elevator", "min_level": 3}]
    )
    r = today.dispatcher.post(
        "/api/v1/dispatch/moves",
        json={
            "work_order_id": str(order.id),
            "technician_id": str(today.other_tech.id),
            "start": today.later(1).isoformat(),
        },
    )
    assert r.status_code == 409 and {v["code"] for v in r.json["violations"]} == {"missing_skill"}


def test_a_failing_solver_fails_the_run_and_keeps_it_private(
    crew: Any, session: Any, monkeypatch: Any
) -> None:
    import server.dispatch.service as dispatch_service

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(dispatch_service, "solve", broken)
    _order(session, crew, _near(1))
    r = crew.dispatcher.post(
        "/api/v1/dispatch/runs", json={"date_from": _day().isoformat(), "time_limit_s": 1}
    )
    assert r.status_code == 202 and r.json["status"] == "failed"
    assert "internal error" in r.json["error"]
    assert crew.b_api.get(f"/api/v1/dispatch/runs/{r.json['id']}").status_code == 404
    assert crew.dispatcher.get(f"/api/v1/dispatch/runs/{r.json['id']}").json["status"] == "failed"
