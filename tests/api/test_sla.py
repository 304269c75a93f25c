"""SLA: calendars and policies (bad input stores nothing), clocks with controlled time
(weekends, holidays, DST, pauses), the scheduler (warnings, breaches, escalation actions,
idempotency), the order's SLA view and "closest to breach first" lists."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import db
from server.notifications.models import NotificationOutbox
from server.sla import hooks
from server.sla.models import BusinessCalendar, SlaClock, SlaEscalation, SlaPolicy
from server.sla.scheduler import evaluate_clocks
from server.work_orders.models import WorkOrder, WorkOrderEvent
from tests import factories as f

SLA = "/api/v1/sla"
ORDERS = "/api/v1/work-orders"
MIN = 60
H = 3600
WEEKDAYS_OFFICE = ("mon", "tue", "wed", "thu", "fri")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


def office_hours(start: str = "09:00", end: str = "17:00") -> dict[str, Any]:
    return {day: [{"start": start, "end": end}] for day in WEEKDAYS_OFFICE}


def make_policy(session: Any, tenant: Any, **kw: Any) -> SlaPolicy:
    priority = kw.pop("priority", "normal")
    tier = kw.pop("customer_tier", None)
    policy = SlaPolicy(
        tenant_id=tenant.id,
        name=kw.pop("name", f"{priority} {tier or 'any'}"),
        priority=priority,
        customer_tier=tier,
        match_key=kw.pop("match_key", f"{priority}:{tier or '*'}"),
        warn_at_percent=kw.pop("warn_at_percent", 75),
        pause_hold_reasons=kw.pop("pause_hold_reasons", ["customer", "parts"]),
        breach_actions=kw.pop("breach_actions", []),
        **kw,
    )
    session.add(policy)
    session.flush()
    return policy


def make_calendar(session: Any, tenant: Any, **kw: Any) -> BusinessCalendar:
    row = BusinessCalendar(
        tenant_id=tenant.id,
        name=kw.pop("name", f"Calendar {f.n()}"),
        weekly_hours=kw.pop("weekly_hours", office_hours()),
        holidays=kw.pop("holidays", []),
        **kw,
    )
    session.add(row)
    session.flush()
    return row


@pytest.fixture()
def desk(world: Any, session: Any) -> Any:
    """Sites in Berlin and New York, a standard and a VIP customer."""
    standard = f.make_customer(session, world.a, tier="standard")
    vip = f.make_customer(session, world.a, tier="vip")
    berlin = f.make_site(session, world.a, standard, timezone="Europe/Berlin")
    new_york = f.make_site(session, world.a, standard, timezone="America/New_York")
    vip_site = f.make_site(session, world.a, vip, timezone="Europe/Berlin")
    session.commit()
    return SimpleNamespace(
        standard=standard, vip=vip, berlin=berlin, new_york=new_york, vip_site=vip_site
    )


def new_order(session: Any, world: Any, site: Any, created: dt.datetime, **kw: Any) -> WorkOrder:
    """An order created at ``created`` whose clocks started then (controlled time)."""
    order = f.make_work_order(session, world.a, site, created_at=created, updated_at=created, **kw)
    hooks.on_order_created(db_session=session, order=order, now=created)
    session.commit()
    return order


def clocks(session: Any, order: WorkOrder) -> dict[str, SlaClock]:
    session.expire_all()
    rows = session.scalars(select(SlaClock).where(SlaClock.work_order_id == order.id))
    return {c.metric: c for c in rows}


def history(session: Any, order: WorkOrder, *types: str) -> list[WorkOrderEvent]:
    stmt = (
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id == order.id)
        .order_by(WorkOrderEvent.recorded_at, WorkOrderEvent.occurred_at)
    )
    found = list(session.scalars(stmt))
    return [e for e in found if not types or e.event_type in types]


def tick(session: Any, now: dt.datetime) -> Any:
    report = evaluate_clocks(db_session=db.session(), now=now)
    session.expire_all()
    return report


def move(api: Any, order: WorkOrder, to: str, at: dt.datetime, **extra: Any) -> Any:
    body = {"to": to, "occurred_at": at.isoformat(), **extra}
    r = api.post(f"{ORDERS}/{order.id}/transitions", json=body)
    assert r.status_code == 200, r.json
    return r


# --- calendars --------------------------------------------------------------------------


def test_calendar_crud_and_weekly_minutes(world: Any) -> None:
    body = {
        "name": "Berlin office",
        "timezone": "Europe/Berlin",
        "weekly_hours": {
            "mon": [{"start": "13:00", "end": "17:00"}, {"start": "08:00", "end": "12:00"}],
            "fri": [{"start": "08:00", "end": "14:00"}],
        },
        "holidays": [{"date": "2026-12-25", "name": "Christmas"}, {"date": "2026-12-24"}],
    }
    r = world.admin.post(f"{SLA}/calendars", json=body)
    assert r.status_code == 201, r.json
    cal = r.json
    assert cal["weekly_minutes"] == 14 * 60
    assert cal["weekly_hours"]["mon"][0] == {"start": "08:00", "end": "12:00"}
    assert [h["date"] for h in cal["holidays"]] == ["2026-12-24", "2026-12-25"]
    assert world.agent.get(f"{SLA}/calendars/{cal['id']}").json["name"] == "Berlin office"
    assert world.dispatcher.get(f"{SLA}/calendars").json[0]["id"] == cal["id"]
    r = world.admin.patch(f"{SLA}/calendars/{cal['id']}", json={"is_24x7": True})
    assert r.status_code == 200 and r.json["weekly_minutes"] == 7 * 24 * 60
    assert world.b_api.get(f"{SLA}/calendars/{cal['id']}").status_code == 404
    assert world.admin.delete(f"{SLA}/calendars/{cal['id']}").status_code == 204
    assert world.admin.get(f"{SLA}/calendars").json == []


@pytest.mark.parametrize(
    "patch,code",
    [
        ({"weekly_hours": {}}, "calendar_no_working_hours"),
        ({"weekly_hours": {"sat": []}}, "calendar_no_working_hours"),
        ({"timezone": "Europe/Atlantis"}, "invalid_timezone"),
        ({"weekly_hours": {"mon": [{"start": "10:00", "end": "09:00"}]}}, "invalid_working_hours"),
        ({"weekly_hours": {"mon": [{"start": "08:00", "end": "25:00"}]}}, "invalid_working_hours"),
        ({"weekly_hours": {"mon": [{"start": "24:00", "end": "24:00"}]}}, "invalid_working_hours"),
        (
            {
                "weekly_hours": {
                    "mon": [{"start": "08:00", "end": "12:00"}, {"start": "11:59", "end": "13:00"}]
                }
            },
            "invalid_working_hours",
        ),
        (
            {"weekly_hours": {"someday": [{"start": "08:00", "end": "12:00"}]}},
            "invalid_working_hours",
        ),
        ({"holidays": [{"date": "2026-05-01"}, {"date": "2026-05-01"}]}, "invalid_holidays"),
    ],
)
def test_bad_calendars_answer_a_code_and_store_nothing(
    world: Any, session: Any, patch: dict[str, Any], code: str
) -> None:
    body = {"name": "Bad", "timezone": "Europe/Berlin", "weekly_hours": office_hours(), **patch}
    r = world.admin.post(f"{SLA}/calendars", json=body)
    assert r.status_code == 422 and r.json["code"] == code, r.json
    assert session.scalar(select(func.count()).select_from(BusinessCalendar)) == 0
    # The same change to an existing calendar leaves it as it was.
    good = world.admin.post(
        f"{SLA}/calendars", json={"name": "Good", "weekly_hours": office_hours()}
    ).json
    r = world.admin.patch(f"{SLA}/calendars/{good['id']}", json=patch)
    assert r.status_code == 422 and r.json["code"] == code
    assert world.admin.get(f"{SLA}/calendars/{good['id']}").json == good


def test_calendar_names_are_unique_and_used_calendars_stay(world: Any, session: Any) -> None:
    cal = world.admin.post(f"{SLA}/calendars", json={"name": "Ops", "is_24x7": True}).json
    r = world.admin.post(f"{SLA}/calendars", json={"name": "Ops", "is_24x7": True})
    assert r.status_code == 409 and r.json["code"] == "calendar_name_taken"
    make_policy(session, world.a, resolution_minutes=60, calendar_id=uuid.UUID(cal["id"]))
    session.commit()
    r = world.admin.delete(f"{SLA}/calendars/{cal['id']}")
    assert r.status_code == 409 and r.json["code"] == "calendar_in_use"
    assert world.agent.post(f"{SLA}/calendars", json={"name": "x"}).status_code == 403


# --- policies ---------------------------------------------------------------------------


def test_policy_crud_defaults_and_conflicts(world: Any) -> None:
    cal = world.admin.post(
        f"{SLA}/calendars", json={"name": "Office", "weekly_hours": office_hours()}
    ).json
    body = {
        "name": "Normal",
        "priority": "normal",
        "first_response_minutes": 60,
        "resolution_minutes": 480,
        "calendar_id": cal["id"],
        "breach_actions": ["open_escalation", "raise_priority", "open_escalation"],
    }
    r = world.admin.post(f"{SLA}/policies", json=body)
    assert r.status_code == 201, r.json
    policy = r.json
    assert policy["customer_tier"] is None and policy["arrival_minutes"] is None
    assert policy["warn_at_percent"] == 75 and policy["active"] is True
    assert policy["pause_hold_reasons"] == ["customer", "parts"]
    assert policy["breach_actions"] == ["raise_priority", "open_escalation"]
    # Same priority and tier: refused; another tier is fine.
    r = world.admin.post(f"{SLA}/policies", json={**body, "name": "Twin"})
    assert r.status_code == 409 and r.json["code"] == "policy_conflict"
    vip = world.admin.post(f"{SLA}/policies", json={**body, "name": "VIP", "customer_tier": "vip"})
    assert vip.status_code == 201
    r = world.admin.patch(f"{SLA}/policies/{vip.json['id']}", json={"customer_tier": None})
    assert r.status_code == 409 and r.json["code"] == "policy_conflict"
    # Deactivated policies do not conflict.
    r = world.admin.patch(f"{SLA}/policies/{policy['id']}", json={"active": False})
    assert r.status_code == 200 and r.json["active"] is False
    assert world.admin.post(f"{SLA}/policies", json={**body, "name": "Twin"}).status_code == 201
    listed = world.agent.get(f"{SLA}/policies?active=true").json
    assert {p["name"] for p in listed} == {"Twin", "VIP"}
    assert world.agent.post(f"{SLA}/policies", json=body).status_code == 403


@pytest.mark.parametrize(
    "patch,code",
    [
        ({"resolution_minutes": -5}, "invalid_target"),
        ({"resolution_minutes": 0}, "invalid_target"),
        ({"arrival_minutes": 10**9}, "invalid_target"),
        ({"first_response_minutes": None, "resolution_minutes": None}, "invalid_target"),
        ({"warn_at_percent": 0}, "invalid_warn_percent"),
        ({"warn_at_percent": 100}, "invalid_warn_percent"),
        ({"calendar_id": "00000000-0000-4000-8000-000000000000"}, "unknown_calendar"),
    ],
)
def test_bad_policies_answer_a_code_and_store_nothing(
    world: Any, session: Any, patch: dict[str, Any], code: str
) -> None:
    body = {"name": "P", "priority": "high", "first_response_minutes": 30, **patch}
    r = world.admin.post(f"{SLA}/policies", json=body)
    assert r.status_code == 422 and r.json["code"] == code, r.json
    assert session.scalar(select(func.count()).select_from(SlaPolicy)) == 0
    good = world.admin.post(
        f"{SLA}/policies", json={"name": "P", "priority": "high", "first_response_minutes": 30}
    ).json
    r = world.admin.patch(f"{SLA}/policies/{good['id']}", json=patch)
    assert r.status_code == 422 and r.json["code"] == code
    assert world.admin.get(f"{SLA}/policies/{good['id']}").json == good


def test_shape_errors_are_422(world: Any) -> None:
    r = world.admin.post(
        f"{SLA}/policies", json={"name": "P", "priority": "high", "resolution_minutes": "5"}
    )
    assert r.status_code == 422
    r = world.admin.post(
        f"{SLA}/policies", json={"name": "P", "priority": "critical", "resolution_minutes": 5}
    )
    assert r.status_code == 422
    r = world.admin.post(f"{SLA}/calendars", json={"name": "C", "holidays": [{"date": "tomorrow"}]})
    assert r.status_code == 422


# --- starting clocks: policy choice, weekends, holidays, DST ----------------------------


def test_exact_tier_wins_over_any_tier(world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, name="any", resolution_minutes=480)
    vip = make_policy(session, world.a, name="vip", customer_tier="vip", resolution_minutes=120)
    make_policy(
        session,
        world.a,
        name="inactive vip",
        customer_tier="vip",
        resolution_minutes=5,
        active=False,
        match_key="x",
    )
    t0 = utc(2026, 5, 4, 8)
    standard_order = new_order(session, world, desk.berlin, t0)
    vip_order = new_order(session, world, desk.vip_site, t0)
    assert clocks(session, standard_order)["resolution"].target_seconds == 480 * MIN
    vip_clock = clocks(session, vip_order)["resolution"]
    assert vip_clock.policy_id == vip.id and vip_clock.due_at == t0 + dt.timedelta(hours=2)
    # No policy for the priority: no clocks, no SLA state.
    low = new_order(session, world, desk.berlin, t0, priority="low")
    assert clocks(session, low) == {} and low.sla_state is None and low.sla_due_at is None


def test_friday_afternoon_deadline_skips_weekend_and_holiday(
    world: Any, session: Any, desk: Any
) -> None:
    # Calendar without a zone: the Berlin site's. Easter Monday 2026-04-06 is a holiday.
    cal = make_calendar(
        session, world.a, holidays=[{"date": "2026-04-06", "name": "Easter Monday"}]
    )
    make_policy(session, world.a, first_response_minutes=120, calendar_id=cal.id)
    friday = utc(2026, 4, 3, 14)  # 16:00 CEST
    order = new_order(session, world, desk.berlin, friday)
    clock = clocks(session, order)["first_response"]
    assert clock.timezone == "Europe/Berlin"
    assert clock.due_at == utc(2026, 4, 7, 8)  # Tuesday 10:00 CEST
    assert order.sla_due_at == clock.due_at and order.sla_state == "ok"
    # The order view, evaluated on Saturday and on the holiday: one business hour left.
    for at in (utc(2026, 4, 4, 12), utc(2026, 4, 6, 12)):
        view = world.admin.get(f"{ORDERS}/{order.id}/sla", query_string={"at": at.isoformat()}).json
        only = view["clocks"][0]
        assert only["consumed_seconds"] == H and only["remaining_seconds"] == H
        assert only["percent_elapsed"] == 50.0 and only["state"] == "ok"
    view = world.admin.get(f"{ORDERS}/{order.id}/sla?at=2026-04-07T08:30:00Z").json
    assert (
        view["clocks"][0]["state"] == "breached" and view["clocks"][0]["remaining_seconds"] == -1800
    )
    assert view["sla_state"] == "breached"


def test_deadlines_across_dst_changes(world: Any, session: Any, desk: Any) -> None:
    cal = make_calendar(session, world.a)
    make_policy(session, world.a, first_response_minutes=120, calendar_id=cal.id)
    # Berlin: clocks go forward on Sunday 2026-03-29. Friday 16:00 CET + 2h = Monday 10:00 CEST.
    berlin = new_order(session, world, desk.berlin, utc(2026, 3, 27, 15))
    assert clocks(session, berlin)["first_response"].due_at == utc(2026, 3, 30, 8)
    # New York: forward on Sunday 2026-03-08. Friday 16:00 EST + 2h = Monday 10:00 EDT.
    ny = new_order(session, world, desk.new_york, utc(2026, 3, 6, 21))
    assert clocks(session, ny)["first_response"].due_at == utc(2026, 3, 9, 14)
    # Berlin falls back on 2026-10-25: Friday 16:00 CEST + 2h = Monday 10:00 CET.
    autumn = new_order(session, world, desk.berlin, utc(2026, 10, 23, 14))
    assert clocks(session, autumn)["first_response"].due_at == utc(2026, 10, 26, 9)


def test_order_created_through_the_api_starts_its_clocks(
    world: Any, session: Any, desk: Any
) -> None:
    make_policy(session, world.a, first_response_minutes=30, resolution_minutes=240)
    session.commit()
    r = world.agent.post(
        ORDERS, json={"title": "Lift", "order_type": "repair", "site_id": str(desk.berlin.id)}
    )
    assert r.status_code == 201
    assert r.json["sla_state"] == "ok"
    created = dt.datetime.fromisoformat(r.json["created_at"]).replace(microsecond=0)
    assert dt.datetime.fromisoformat(r.json["sla_due_at"]) == created + dt.timedelta(minutes=30)
    # Wall-clock time to breach, in every representation (lists included).
    assert 30 * 60 - 120 <= r.json["sla_remaining_seconds"] <= 30 * 60
    listed = world.agent.get(ORDERS, query_string={"sort": "sla_due_at"}).json
    mine = next(o for o in listed if o["id"] == r.json["id"])
    assert mine["sla_remaining_seconds"] <= r.json["sla_remaining_seconds"]
    view = world.agent.get(f"{ORDERS}/{r.json['id']}/sla").json
    assert [c["metric"] for c in view["clocks"]] == ["first_response", "resolution"]


# --- pauses and stops -------------------------------------------------------------------


def test_customer_hold_pauses_and_resumes_every_running_clock(
    world: Any, session: Any, desk: Any
) -> None:
    make_policy(session, world.a, arrival_minutes=240, resolution_minutes=480)
    t0 = utc(2026, 5, 4, 8)
    order = new_order(session, world, desk.berlin, t0)
    move(world.agent, order, "on_hold", t0 + dt.timedelta(hours=2), hold_reason="customer")
    held = clocks(session, order)
    assert {c.running_since for c in held.values()} == {None}
    assert held["resolution"].consumed_seconds == 2 * H and held["resolution"].due_at is None
    session.refresh(order)
    assert order.sla_state == "paused" and order.sla_due_at is None
    view = world.admin.get(f"{ORDERS}/{order.id}/sla?at=2026-05-05T00:00:00Z").json
    assert {c["state"] for c in view["clocks"]} == {"paused"}
    assert {c["consumed_seconds"] for c in view["clocks"]} == {2 * H}
    # A day later the customer is back: 6h of resolution and 2h of arrival left.
    back = utc(2026, 5, 5, 10)
    move(world.agent, order, "triaged", back)
    resumed = clocks(session, order)
    assert resumed["resolution"].due_at == back + dt.timedelta(hours=6)
    assert resumed["arrival"].due_at == back + dt.timedelta(hours=2)
    session.refresh(order)
    assert order.sla_state == "ok" and order.sla_due_at == back + dt.timedelta(hours=2)


def test_hold_for_a_reason_outside_the_pause_list_keeps_counting(
    world: Any, session: Any, desk: Any
) -> None:
    make_policy(session, world.a, resolution_minutes=480)
    t0 = utc(2026, 5, 4, 8)
    order = new_order(session, world, desk.berlin, t0)
    move(world.agent, order, "on_hold", t0 + dt.timedelta(hours=1), hold_reason="access")
    clock = clocks(session, order)["resolution"]
    assert clock.running_since == t0 and clock.due_at == t0 + dt.timedelta(hours=8)


def test_pause_inside_business_hours_calendar(world: Any, session: Any, desk: Any) -> None:
    # Mon-Fri 09-17 Berlin, resolution 8 business hours. Created Monday 09:00 CEST, parts
    # hold from 11:00 to Wednesday 15:00: 2h used, 6h left -> Thursday 13:00 CEST.
    cal = make_calendar(session, world.a)
    make_policy(session, world.a, resolution_minutes=480, calendar_id=cal.id)
    order = new_order(session, world, desk.berlin, utc(2026, 5, 4, 7))
    move(world.agent, order, "on_hold", utc(2026, 5, 4, 9), hold_reason="parts")
    move(world.agent, order, "triaged", utc(2026, 5, 6, 13))
    clock = clocks(session, order)["resolution"]
    assert clock.consumed_seconds == 2 * H and clock.due_at == utc(2026, 5, 7, 11)


def test_lifecycle_stops_clocks_and_reopen_resumes_resolution(
    world: Any, session: Any, desk: Any
) -> None:
    make_policy(
        session, world.a, first_response_minutes=60, arrival_minutes=120, resolution_minutes=240
    )
    t0 = utc(2026, 5, 4, 8)
    order = new_order(session, world, desk.berlin, t0)
    at = lambda minutes: t0 + dt.timedelta(minutes=minutes)  # noqa: E731
    move(world.agent, order, "triaged", at(30))
    move(
        world.dispatcher,
        order,
        "scheduled",
        at(40),
        lead_technician_id=str(world.tech.id),
        scheduled_start=at(60).isoformat(),
        scheduled_end=at(120).isoformat(),
    )
    move(world.dispatcher, order, "dispatched", at(45))
    move(world.technician, order, "accepted", at(50))
    move(world.technician, order, "on_site", at(150))  # 30 minutes late
    state = clocks(session, order)
    assert (state["first_response"].outcome, state["first_response"].consumed_seconds) == (
        "met",
        30 * MIN,
    )
    assert (state["arrival"].outcome, state["arrival"].consumed_seconds) == ("missed", 150 * MIN)
    assert state["resolution"].outcome is None
    # The arrival breach the scheduler never saw is still in the history.
    late = history(session, order, "sla_breached")
    assert [e.payload["metric"] for e in late] == ["arrival"]
    assert late[0].occurred_at == at(120) and late[0].payload["detected"] == "on_stop"
    move(world.technician, order, "completed", at(200), resolution_summary="Fixed")
    state = clocks(session, order)
    assert (
        state["resolution"].outcome == "met" and state["resolution"].consumed_seconds == 200 * MIN
    )
    session.refresh(order)
    assert order.sla_state == "missed" and order.sla_due_at is None
    # Closing changes nothing; reopening resumes resolution with its 200 minutes.
    move(world.agent, order, "closed", at(210))
    assert clocks(session, order)["resolution"].outcome == "met"
    move(world.agent, order, "reopened", at(300), reason="Broke again")
    clock = clocks(session, order)["resolution"]
    assert clock.outcome is None and clock.consumed_seconds == 200 * MIN
    assert clock.running_since == at(300) and clock.due_at == at(340)
    session.refresh(order)
    assert order.sla_due_at == at(340)
    move(world.agent, order, "cancelled", at(310), reason="Customer gave up")
    state = clocks(session, order)
    assert state["resolution"].outcome == "cancelled"
    assert state["first_response"].outcome == "met"  # history is kept
    session.refresh(order)
    assert order.sla_state == "missed"


def test_first_response_hook_and_cancel_while_new(world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, first_response_minutes=60, resolution_minutes=240)
    t0 = utc(2026, 5, 4, 8)
    answered = new_order(session, world, desk.berlin, t0)
    hooks.on_first_response(db_session=session, order=answered, at=t0 + dt.timedelta(minutes=20))
    hooks.on_first_response(db_session=session, order=answered, at=t0 + dt.timedelta(minutes=90))
    session.commit()
    clock = clocks(session, answered)["first_response"]
    assert clock.outcome == "met" and clock.stopped_at == t0 + dt.timedelta(minutes=20)
    dropped = new_order(session, world, desk.berlin, t0)
    move(world.agent, dropped, "cancelled", t0 + dt.timedelta(minutes=5), reason="Duplicate")
    assert {c.outcome for c in clocks(session, dropped).values()} == {"cancelled"}
    session.refresh(dropped)
    assert dropped.sla_state is None and dropped.sla_due_at is None


# --- priority changes -------------------------------------------------------------------


def test_priority_change_retargets_keeping_consumed_time(
    world: Any, session: Any, desk: Any
) -> None:
    normal = make_policy(session, world.a, resolution_minutes=480, arrival_minutes=240)
    high = make_policy(
        session, world.a, priority="high", resolution_minutes=240, first_response_minutes=30
    )
    t0 = utc(2026, 5, 4, 8)
    order = new_order(session, world, desk.berlin, t0)
    move(world.agent, order, "triaged", t0 + dt.timedelta(minutes=10))
    session.expire_all()
    order.priority = "high"
    hooks.on_order_changed(
        db_session=session, order=order, changed={"priority"}, now=t0 + dt.timedelta(hours=1)
    )
    session.commit()
    state = clocks(session, order)
    resolution = state["resolution"]
    assert resolution.policy_id == high.id and resolution.consumed_seconds == H
    assert resolution.due_at == t0 + dt.timedelta(hours=4)
    # high has no arrival target: that clock is stopped; first response is over (triaged).
    assert state["arrival"].outcome == "cancelled" and "first_response" not in state
    (event,) = history(session, order, "sla_retargeted")
    assert event.payload["from_policy_ids"] == [str(normal.id)]
    assert event.payload["retargeted"] == ["resolution"] and event.payload["cancelled"] == [
        "arrival"
    ]
    # Back to normal: arrival counts again from the order's creation.
    order.priority = "normal"
    hooks.on_order_changed(
        db_session=session, order=order, changed={"priority"}, now=t0 + dt.timedelta(hours=2)
    )
    session.commit()
    state = clocks(session, order)
    assert state["arrival"].outcome is None and state["arrival"].consumed_seconds == 2 * H
    assert state["arrival"].due_at == t0 + dt.timedelta(hours=4)
    assert (
        state["resolution"].target_seconds == 8 * H
        and state["resolution"].consumed_seconds == 2 * H
    )


def test_priority_patch_through_the_api_retargets(world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, resolution_minutes=480)
    make_policy(session, world.a, priority="urgent", resolution_minutes=60)
    order = new_order(session, world, desk.berlin, utc(2026, 5, 4, 8))
    etag = world.agent.get(f"{ORDERS}/{order.id}").headers["ETag"]
    r = world.agent.patch(
        f"{ORDERS}/{order.id}", json={"priority": "urgent"}, headers={"If-Match": etag}
    )
    assert r.status_code == 200
    assert clocks(session, order)["resolution"].target_seconds == H
    assert history(session, order, "sla_retargeted")


# --- the scheduler ----------------------------------------------------------------------


def test_warning_at_the_configured_percentage_once(world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, resolution_minutes=100, warn_at_percent=75)
    t0 = utc(2026, 5, 4, 8)
    order = new_order(session, world, desk.berlin, t0, lead_technician_id=world.tech.id)
    assert tick(session, t0 + dt.timedelta(minutes=74)).warnings == 0
    assert history(session, order, "sla_warning") == []
    report = tick(session, t0 + dt.timedelta(minutes=75))
    assert (report.orders, report.warnings, report.breaches) == (1, 1, 0)
    (event,) = history(session, order, "sla_warning")
    assert event.payload["metric"] == "resolution" and event.payload["percent_elapsed"] == 75.0
    assert event.occurred_at == t0 + dt.timedelta(minutes=75)
    assert event.actor_role == "agent"
    session.refresh(order)
    assert order.sla_state == "at_risk"
    rows = session.scalars(
        select(NotificationOutbox).where(NotificationOutbox.kind == "sla_warning")
    ).all()
    assert {r.user_id for r in rows} == {world.users["dispatcher"].id, world.users["technician"].id}
    assert rows[0].payload["work_order_id"] == str(order.id)
    # Idempotent: a second pass at the same or a later time warns nobody again.
    assert tick(session, t0 + dt.timedelta(minutes=75)).orders == 0
    assert tick(session, t0 + dt.timedelta(minutes=90)).warnings == 0
    assert len(history(session, order, "sla_warning")) == 1


def test_breach_runs_every_escalation_action_once(world: Any, session: Any, desk: Any) -> None:
    make_policy(
        session,
        world.a,
        resolution_minutes=60,
        breach_actions=["raise_priority", "notify_supervisor", "reassign", "open_escalation"],
    )
    high = make_policy(session, world.a, priority="high", resolution_minutes=30)
    t0 = utc(2026, 5, 4, 8)
    order = new_order(
        session,
        world,
        desk.berlin,
        t0,
        status="dispatched",
        lead_technician_id=world.tech.id,
        scheduled_start=t0 + dt.timedelta(hours=3),
        scheduled_end=t0 + dt.timedelta(hours=4),
    )
    first = tick(session, t0 + dt.timedelta(minutes=60))  # due, not past due: a warning
    assert (first.warnings, first.breaches) == (1, 0)
    report = tick(session, t0 + dt.timedelta(minutes=61))
    assert (report.breaches, report.escalations, report.warnings) == (1, 1, 0)
    session.refresh(order)
    # raise_priority: one step, as an ordinary update; the high policy took over.
    assert order.priority == "high"
    # reassign: the other technician leads; the order waits for dispatch again.
    assert order.lead_technician_id == world.other_tech.id and order.status == "scheduled"
    types = [e.event_type for e in history(session, order)]
    for expected in (
        "sla_breached",
        "updated",
        "sla_retargeted",
        "assigned",
        "status_changed",
        "escalated",
    ):
        assert expected in types, types
    (breach,) = history(session, order, "sla_breached")
    assert breach.occurred_at == t0 + dt.timedelta(minutes=60)
    (update,) = history(session, order, "updated")
    assert update.payload["changes"] == {"priority": {"from": "normal", "to": "high"}}
    (escalated,) = history(session, order, "escalated")
    actions = {a["action"]: a for a in escalated.payload["actions"]}
    assert actions["raise_priority"]["done"] and actions["reassign"]["to"] == str(
        world.other_tech.id
    )
    assert actions["notify_supervisor"]["recipients"] == 2
    rows = session.scalars(
        select(NotificationOutbox).where(NotificationOutbox.kind == "sla_breach")
    ).all()
    assert {r.user_id for r in rows} == {world.users["admin"].id, world.users["dispatcher"].id}
    (escalation,) = session.scalars(select(SlaEscalation)).all()
    assert escalation.work_order_id == order.id and escalation.metric == "resolution"
    clock = clocks(session, order)["resolution"]
    assert clock.policy_id == high.id and clock.breached_at == t0 + dt.timedelta(minutes=61)
    assert order.sla_state == "breached"
    # A second pass (same or later) changes nothing.
    before = len(history(session, order))
    assert tick(session, t0 + dt.timedelta(minutes=61)).orders == 0
    assert tick(session, t0 + dt.timedelta(hours=5)).breaches == 0
    session.refresh(order)
    assert len(history(session, order)) == before and order.priority == "high"


def test_reassign_is_skipped_once_work_started(world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, resolution_minutes=60, breach_actions=["reassign"])
    t0 = utc(2026, 5, 4, 8)
    order = new_order(
        session,
        world,
        desk.berlin,
        t0,
        status="en_route",
        lead_technician_id=world.tech.id,
        scheduled_start=t0,
        scheduled_end=t0 + dt.timedelta(hours=1),
    )
    tick(session, t0 + dt.timedelta(hours=2))
    session.refresh(order)
    assert order.lead_technician_id == world.tech.id and order.status == "en_route"
    (escalated,) = history(session, order, "escalated")
    assert escalated.payload["actions"] == [
        {"action": "reassign", "done": False, "reason": "not_reassignable"}
    ]


def test_breach_without_actions_and_urgent_stays_urgent(
    world: Any, session: Any, desk: Any
) -> None:
    make_policy(
        session,
        world.a,
        priority="urgent",
        resolution_minutes=30,
        breach_actions=["raise_priority"],
    )
    make_policy(session, world.a, resolution_minutes=30)
    t0 = utc(2026, 5, 4, 8)
    urgent = new_order(session, world, desk.berlin, t0, priority="urgent")
    quiet = new_order(session, world, desk.berlin, t0)
    report = tick(session, t0 + dt.timedelta(hours=1))
    assert report.breaches == 2 and report.escalations == 0
    (escalated,) = history(session, urgent, "escalated")
    assert escalated.payload["actions"] == [
        {"action": "raise_priority", "done": False, "reason": "already_highest"}
    ]
    assert history(session, quiet, "escalated") == []
    # Found already past due: the breach makes the warning moot.
    assert history(session, quiet, "sla_warning") == []
    assert [e.event_type for e in history(session, quiet, "sla_breached")] == ["sla_breached"]


def test_paused_clocks_do_not_breach(world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, resolution_minutes=60)
    t0 = utc(2026, 5, 4, 8)
    order = new_order(session, world, desk.berlin, t0)
    move(world.agent, order, "on_hold", t0 + dt.timedelta(minutes=30), hold_reason="parts")
    assert tick(session, t0 + dt.timedelta(days=3)).orders == 0
    move(world.agent, order, "triaged", utc(2026, 5, 8, 8))
    assert tick(session, utc(2026, 5, 8, 8, 30)).breaches == 0
    assert tick(session, utc(2026, 5, 8, 8, 31)).breaches == 1


def test_sla_tick_command(app: Any, world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, resolution_minutes=1)
    new_order(session, world, desk.berlin, utc(2026, 5, 4, 8))
    result = app.test_cli_runner().invoke(args=["sla-tick"])
    assert result.exit_code == 0, result.output
    assert "1 breaches" in result.output


# --- reading -----------------------------------------------------------------------------


def test_list_sorted_closest_to_breach_first(world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, resolution_minutes=480)
    t0 = utc(2026, 5, 4, 8)
    late = new_order(session, world, desk.berlin, t0 + dt.timedelta(hours=2))
    early = new_order(session, world, desk.berlin, t0)
    none = new_order(session, world, desk.berlin, t0, priority="low")
    middle = new_order(session, world, desk.berlin, t0 + dt.timedelta(hours=1))
    r = world.agent.get(f"{ORDERS}?sort=sla_due_at")
    assert r.status_code == 200
    assert [o["id"] for o in r.json] == [str(o.id) for o in (early, middle, late, none)]
    assert r.json[0]["sla_due_at"] == "2026-05-04T16:00:00+00:00"
    r = world.agent.get(f"{ORDERS}?sort=-sla_due_at")
    assert [o["id"] for o in r.json] == [str(o.id) for o in (late, middle, early, none)]


def test_technicians_read_the_sla_of_their_own_orders_only(
    world: Any, session: Any, desk: Any
) -> None:
    make_policy(session, world.a, resolution_minutes=480)
    t0 = utc(2026, 5, 4, 8)
    mine = new_order(session, world, desk.berlin, t0, lead_technician_id=world.tech.id)
    theirs = new_order(session, world, desk.berlin, t0, lead_technician_id=world.other_tech.id)
    r = world.technician.get(f"{ORDERS}/{mine.id}/sla?at=2026-05-04T14:00:00Z")
    assert r.status_code == 200
    (clock,) = r.json["clocks"]
    assert clock["state"] == "at_risk" and clock["percent_elapsed"] == 75.0
    assert clock["remaining_seconds"] == 2 * H and clock["due_at"] == "2026-05-04T16:00:00+00:00"
    assert world.technician.get(f"{ORDERS}/{theirs.id}/sla").status_code == 404
    assert world.b_api.get(f"{ORDERS}/{mine.id}/sla").status_code == 404


def test_escalations_list_and_acknowledge(world: Any, session: Any, desk: Any) -> None:
    make_policy(session, world.a, resolution_minutes=30, breach_actions=["open_escalation"])
    t0 = utc(2026, 5, 4, 8)
    order = new_order(session, world, desk.berlin, t0)
    tick(session, t0 + dt.timedelta(hours=1))
    listed = world.agent.get(f"{SLA}/escalations?acknowledged=false").json
    assert [e["work_order_id"] for e in listed] == [str(order.id)]
    esc = listed[0]
    r = world.dispatcher.post(f"{SLA}/escalations/{esc['id']}/acknowledge", json={"note": "On it"})
    assert r.status_code == 200
    assert r.json["acknowledged_by_id"] == str(world.users["dispatcher"].id)
    again = world.admin.post(f"{SLA}/escalations/{esc['id']}/acknowledge", json={})
    assert again.json["acknowledged_by_id"] == str(world.users["dispatcher"].id)
    assert world.agent.get(f"{SLA}/escalations?acknowledged=false").json == []
    assert (
        world.b_api.post(f"{SLA}/escalations/{esc['id']}/acknowledge", json={}).status_code == 404
    )
    assert world.technician.get(f"{SLA}/escalations").status_code == 403


def test_calendar_change_moves_running_deadlines(world: Any, session: Any, desk: Any) -> None:
    cal = make_calendar(session, world.a, timezone="UTC")
    make_policy(session, world.a, resolution_minutes=8 * 60, calendar_id=cal.id)
    order = new_order(session, world, desk.berlin, utc(2026, 5, 4, 9))  # Monday 09:00 UTC
    assert clocks(session, order)["resolution"].due_at == utc(2026, 5, 4, 17)
    from server.sla.service import update_calendar

    with_tenant = db.session()
    from server.db import set_tenant

    set_tenant(with_tenant, world.a.id)
    row = with_tenant.get(BusinessCalendar, cal.id)
    # At 13:00 (4h used) the office switches to 09:00-13:00: 4h left -> Tuesday 13:00.
    update_calendar(
        db_session=with_tenant,
        calendar=row,
        data={"weekly_hours": office_hours("09:00", "13:00")},
        now=utc(2026, 5, 4, 13),
    )
    clock = clocks(session, order)["resolution"]
    assert clock.consumed_seconds == 4 * H and clock.due_at == utc(2026, 5, 5, 13)
    session.refresh(order)
    assert order.sla_due_at == utc(2026, 5, 5, 13)
