"""The board: Gantt lanes (shifts, breaks, visits, travel, conflicts) and map GeoJSON."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import update

from geo import Point
from geo.sql import point_element
from server.board import service as board_service
from server.board.schemas import FeatureCollectionSchema, GanttSchema
from server.technicians.models import Shift, TechnicianSkill
from server.work_orders.models import WorkOrder, WorkOrderHelper
from tests import factories as f
from tests.factories import count_queries

GANTT = "/api/v1/board/gantt"
MAP = "/api/v1/board/map"
MONDAY = dt.date(2026, 12, 7)  # Shanghai is UTC+8 all year: 08:00 local = 00:00 UTC
HOME = f.SHANGHAI
JINGAN = Point(31.2286, 121.4480)  # ~2.5 km west of People's Square
PUDONG = Point(31.2397, 121.4998)  # ~2.6 km east
HONGQIAO = Point(31.1979, 121.3363)  # ~13.5 km west


def utc(hour: int, minute: int = 0, day: dt.date = MONDAY) -> dt.datetime:
    """A UTC instant on the test Monday."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)


def local(hour: int, minute: int = 0, day: dt.date = MONDAY) -> dt.datetime:
    """Shanghai wall-clock time as UTC."""
    return utc(hour, minute, day) - dt.timedelta(hours=8)


def iso(when: dt.datetime) -> str:
    return when.isoformat()


@pytest.fixture()
def board(world: Any, session: Any) -> Any:
    """Li Wei works weekdays 08-17 with a 45 min break at noon and holds hvac 2."""
    hvac = f.make_skill(session, world.a, "hvac")
    session.add(
        TechnicianSkill(
            tenant_id=world.a.id, technician_id=world.tech.id, skill_id=hvac.id, level=2
        )
    )
    for weekday in range(5):
        session.add(
            Shift(
                tenant_id=world.a.id,
                technician_id=world.tech.id,
                weekday=weekday,
                start_time=dt.time(8),
                end_time=dt.time(17),
                break_start=dt.time(12),
                break_minutes=45,
            )
        )
    customer = f.make_customer(session, world.a)
    sites = SimpleNamespace(
        jingan=f.make_site(session, world.a, customer, at=JINGAN),
        pudong=f.make_site(session, world.a, customer, at=PUDONG),
        hongqiao=f.make_site(session, world.a, customer, at=HONGQIAO),
    )
    session.commit()
    return SimpleNamespace(hvac=hvac, customer=customer, sites=sites)


def job(
    session: Any,
    world: Any,
    site: Any,
    start: dt.datetime,
    minutes: int = 60,
    lead: Any = None,
    **kw: Any,
) -> WorkOrder:
    order = f.make_work_order(
        session,
        world.a,
        site,
        status=kw.pop("status", "scheduled"),
        lead_technician_id=(lead or world.tech).id,
        scheduled_start=start,
        scheduled_end=start + dt.timedelta(minutes=minutes),
        **kw,
    )
    return order


def gantt(api: Any, day_from: dt.date = MONDAY, day_to: dt.date | None = None, **q: Any) -> Any:
    params = {"date_from": day_from.isoformat(), "date_to": (day_to or day_from).isoformat(), **q}
    return api.get(GANTT, query_string=params)


def lane_of(response: Any, tech: Any) -> dict[str, Any]:
    return next(lane for lane in response.json["lanes"] if lane["technician"]["id"] == str(tech.id))


def codes(lane: dict[str, Any]) -> list[str]:
    return sorted(c["code"] for c in lane["conflicts"])


# --- gantt ----------------------------------------------------------------------------


def test_lanes_show_shifts_breaks_jobs_and_travel(world: Any, board: Any, session: Any) -> None:
    first = job(session, world, board.sites.jingan, local(9), title="Chiller service")
    second = job(session, world, board.sites.pudong, local(11), minutes=90, priority="high")
    session.commit()
    r = gantt(world.dispatcher)
    assert r.status_code == 200, r.json
    assert GanttSchema().validate(r.json) == {}
    assert r.json["timezone"] == "Asia/Shanghai"
    assert r.json["start"] == iso(local(0)) and r.json["end"] == iso(local(0) + dt.timedelta(1))
    assert [lane["technician"]["name"] for lane in r.json["lanes"]] == ["Li Wei", "Zhang Min"]
    lane = lane_of(r, world.tech)
    assert lane["technician"]["home_base"] == {"lat": HOME.lat, "lon": HOME.lon}
    assert lane["shifts"] == [{"start": iso(local(8)), "end": iso(local(17))}]
    assert lane["breaks"] == [{"start": iso(local(12)), "end": iso(local(12, 45))}]
    assert [j["id"] for j in lane["jobs"]] == [str(first.id), str(second.id)]
    shown = lane["jobs"][0]
    assert shown == {
        "id": str(first.id),
        "number": first.number,
        "title": "Chiller service",
        "status": "scheduled",
        "priority": "normal",
        "role": "lead",
        "start": iso(local(9)),
        "end": iso(local(10)),
        "location": {"lat": pytest.approx(JINGAN.lat), "lon": pytest.approx(JINGAN.lon)},
        "requested_start": None,
        "requested_end": None,
    }
    home_leg, between = lane["travel"]
    assert home_leg["from_order_id"] is None and home_leg["to_order_id"] == str(first.id)
    assert home_leg["end"] == iso(local(9))
    assert 2.5 < home_leg["distance_km"] < 4.5  # crow-flies x 1.3 detour
    assert between["from_order_id"] == str(first.id) and between["start"] == iso(local(10))
    assert between["to_order_id"] == str(second.id)
    assert 5 < between["distance_km"] < 8 and 10 < between["duration_minutes"] < 16
    assert lane["conflicts"] == []
    other = lane_of(r, world.other_tech)
    assert other["jobs"] == other["shifts"] == other["travel"] == other["conflicts"] == []


def test_each_day_starts_from_the_home_base(world: Any, board: Any, session: Any) -> None:
    tuesday = MONDAY + dt.timedelta(days=1)
    monday_job = job(session, world, board.sites.jingan, local(9))
    tuesday_job = job(session, world, board.sites.pudong, local(9, day=tuesday))
    session.commit()
    lane = lane_of(gantt(world.admin, MONDAY, tuesday), world.tech)
    assert [t["from_order_id"] for t in lane["travel"]] == [None, None]
    assert [t["to_order_id"] for t in lane["travel"]] == [str(monday_job.id), str(tuesday_job.id)]
    assert len(lane["shifts"]) == 2 and len(lane["breaks"]) == 2


def test_conflicts_are_flagged_with_codes(world: Any, board: Any, session: Any) -> None:
    # 09:00-10:00 Jing'an, then Hongqiao at 10:05: ~17 km takes longer than five minutes.
    early = job(session, world, board.sites.jingan, local(9))
    late = job(session, world, board.sites.hongqiao, local(10, 5))
    # Overlaps the Hongqiao visit; needs hvac 4 (Li Wei holds 2); starts before its window.
    clash = job(
        session,
        world,
        board.sites.hongqiao,
        local(10, 30),
        required_skills=[{"skill": "hvac", "min_level": 4}],
        requested_start=local(11),
        requested_end=local(13),
    )
    evening = job(session, world, board.sites.jingan, local(18))
    session.commit()
    lane = lane_of(gantt(world.dispatcher), world.tech)
    found = {(c["code"], tuple(c["order_ids"])) for c in lane["conflicts"]}
    assert ("travel_makes_late", (str(early.id), str(late.id))) in found
    assert ("overlapping_jobs", (str(late.id), str(clash.id))) in found
    assert ("missing_skill", (str(clash.id),)) in found
    assert ("outside_requested_window", (str(clash.id),)) in found
    assert ("outside_shift", (str(evening.id),)) in found
    late_note = next(c for c in lane["conflicts"] if c["code"] == "travel_makes_late")
    assert "min late" in late_note["message"]
    skill_note = next(c for c in lane["conflicts"] if c["code"] == "missing_skill")
    assert "hvac 4" in skill_note["message"]


def test_a_start_inside_the_window_is_fine(world: Any, board: Any, session: Any) -> None:
    job(
        session,
        world,
        board.sites.jingan,
        local(9, 30),
        requested_start=local(9),
        requested_end=local(10),
        required_skills=[{"skill": "hvac", "min_level": 2}],
    )
    session.commit()
    assert lane_of(gantt(world.dispatcher), world.tech)["conflicts"] == []


def test_a_technician_without_shifts_is_always_outside(
    world: Any, board: Any, session: Any
) -> None:
    order = job(session, world, board.sites.jingan, local(9), lead=world.other_tech)
    session.commit()
    lane = lane_of(gantt(world.dispatcher), world.other_tech)
    assert lane["conflicts"] == [
        {"code": "outside_shift", "order_ids": [str(order.id)], "message": "Not inside a shift."}
    ]


def test_helpers_see_the_visit_in_their_lane(world: Any, board: Any, session: Any) -> None:
    order = job(
        session,
        world,
        board.sites.jingan,
        local(9),
        required_skills=[{"skill": "elevator", "min_level": 3}],
    )
    session.add(
        WorkOrderHelper(
            tenant_id=world.a.id, work_order_id=order.id, technician_id=world.other_tech.id
        )
    )
    session.commit()
    r = gantt(world.dispatcher)
    lead, helper = lane_of(r, world.tech), lane_of(r, world.other_tech)
    assert [(j["id"], j["role"]) for j in lead["jobs"]] == [(str(order.id), "lead")]
    assert [(j["id"], j["role"]) for j in helper["jobs"]] == [(str(order.id), "helper")]
    # Skills are the lead's business: only the lead's lane flags them.
    assert "missing_skill" in codes(lead) and "missing_skill" not in codes(helper)


def test_only_visits_starting_in_range_and_not_cancelled(
    world: Any, board: Any, session: Any
) -> None:
    inside = job(session, world, board.sites.jingan, local(23, 30))  # ends next day: shown
    job(session, world, board.sites.jingan, local(23, 59) - dt.timedelta(days=1))  # Sunday
    job(session, world, board.sites.jingan, local(0) + dt.timedelta(days=1))  # Tuesday 00:00
    job(session, world, board.sites.jingan, local(10), status="cancelled")
    done = job(session, world, board.sites.jingan, local(8), status="completed")
    session.commit()
    lane = lane_of(gantt(world.dispatcher), world.tech)
    assert [j["id"] for j in lane["jobs"]] == [str(done.id), str(inside.id)]


def test_shifts_follow_daylight_saving_time(app: Any, session: Any, client: Any) -> None:
    berlin = f.make_tenant(session, timezone="Europe/Berlin")
    admin = f.make_user(session, berlin, "admin")
    tech = f.make_technician(session, berlin, name="Anna")
    for weekday in (5, 6):  # Saturday, Sunday
        session.add(
            Shift(
                tenant_id=berlin.id,
                technician_id=tech.id,
                weekday=weekday,
                start_time=dt.time(8),
                end_time=dt.time(16),
                break_start=dt.time(12),
                break_minutes=30,
            )
        )
    session.commit()
    api = f.Api(client, app, admin)
    # Clocks go forward on Sunday 29 March 2026: 08:00 is 07:00 UTC on Saturday, 06:00 after.
    r = gantt(api, dt.date(2026, 3, 28), dt.date(2026, 3, 29))
    assert r.status_code == 200, r.json
    assert r.json["timezone"] == "Europe/Berlin"
    lane = r.json["lanes"][0]
    assert lane["shifts"] == [
        {"start": "2026-03-28T07:00:00+00:00", "end": "2026-03-28T15:00:00+00:00"},
        {"start": "2026-03-29T06:00:00+00:00", "end": "2026-03-29T14:00:00+00:00"},
    ]
    assert lane["breaks"][1] == {
        "start": "2026-03-29T10:00:00+00:00",
        "end": "2026-03-29T10:30:00+00:00",
    }
    # The local day that lost an hour is 23 hours long.
    assert r.json["start"] == "2026-03-27T23:00:00+00:00"
    assert r.json["end"] == "2026-03-29T22:00:00+00:00"


def test_filters_by_territory_and_technician(world: Any, board: Any, session: Any) -> None:
    north = f.make_territory(session, world.a)
    world.other_tech.territories = [north]
    inactive = f.make_technician(session, world.a, name="Retired", active=False)
    session.commit()
    assert [lane["technician"]["id"] for lane in gantt(world.agent).json["lanes"]] == [
        str(world.tech.id),
        str(world.other_tech.id),
    ]
    r = gantt(world.agent, territory_id=str(north.id))
    assert [lane["technician"]["id"] for lane in r.json["lanes"]] == [str(world.other_tech.id)]
    r = gantt(world.agent, technician_id=str(world.tech.id))
    assert [lane["technician"]["id"] for lane in r.json["lanes"]] == [str(world.tech.id)]
    # Asked for by id, an inactive technician's lane is shown (their history is real).
    r = gantt(world.agent, technician_id=str(inactive.id))
    assert [lane["technician"]["name"] for lane in r.json["lanes"]] == ["Retired"]


@pytest.mark.parametrize(
    "params,code,field",
    [
        ({"date_from": "2026-12-07", "date_to": "2026-12-06"}, "invalid_date_range", "date_to"),
        ({"date_from": "2026-12-01", "date_to": "2027-01-01"}, "date_range_too_long", "date_to"),
        ({"date_to": "2026-12-07"}, "validation_error", "date_from"),
        ({"date_from": "2026-12-07"}, "validation_error", "date_to"),
        ({"date_from": "07/12/2026", "date_to": "2026-12-07"}, "validation_error", "date_from"),
        ({"date_from": "2026-02-30", "date_to": "2026-12-07"}, "validation_error", "date_from"),
        ({"date_from": "0001-01-01", "date_to": "0001-01-02"}, "validation_error", "date_from"),
        ({"date_from": "9999-12-30", "date_to": "9999-12-31"}, "validation_error", "date_to"),
        (
            {"date_from": "2026-12-07", "date_to": "2026-12-07", "territory_id": "x"},
            "validation_error",
            "territory_id",
        ),
        (
            {"date_from": "2026-12-07", "date_to": "2026-12-07", "territory_id": f.new_id()},
            "unknown_territory",
            "territory_id",
        ),
        (
            {"date_from": "2026-12-07", "date_to": "2026-12-07", "technician_id": f.new_id()},
            "unknown_technician",
            "technician_id",
        ),
    ],
)
def test_bad_gantt_queries(world: Any, params: dict[str, str], code: str, field: str) -> None:
    r = world.dispatcher.get(GANTT, query_string=params)
    assert r.status_code == 422, r.json
    assert r.json["code"] == code
    errors = r.json["errors"]
    assert field in errors.get("query", errors)


def test_thirty_one_days_is_the_limit(world: Any) -> None:
    r = gantt(world.dispatcher, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert r.status_code == 200 and len(r.json["lanes"]) == 2


def test_other_tenants_technicians_are_unknown(world: Any, session: Any) -> None:
    b_tech = f.make_technician(session, world.b, name="B tech")
    session.commit()
    r = gantt(world.dispatcher, technician_id=str(b_tech.id))
    assert r.status_code == 422 and r.json["code"] == "unknown_technician"
    assert [lane["technician"]["name"] for lane in gantt(world.b_api).json["lanes"]] == ["B tech"]


def test_gantt_makes_a_fixed_number_of_queries(
    world: Any, board: Any, session: Any, connection: Any
) -> None:
    job(session, world, board.sites.jingan, local(9))
    session.commit()
    with count_queries(connection) as small:
        assert gantt(world.dispatcher).status_code == 200
    hvac = board.hvac
    for i in range(6):
        tech = f.make_technician(session, world.a, name=f"Extra {i}")
        tech.skills.append(TechnicianSkill(tenant_id=world.a.id, skill_id=hvac.id, level=3))
        session.add(
            Shift(
                tenant_id=world.a.id,
                technician_id=tech.id,
                weekday=0,
                start_time=dt.time(8),
                end_time=dt.time(17),
            )
        )
        for hour in (9, 11, 14):
            order = job(session, world, board.sites.pudong, local(hour), lead=tech)
            session.add(
                WorkOrderHelper(
                    tenant_id=world.a.id, work_order_id=order.id, technician_id=world.other_tech.id
                )
            )
    session.commit()
    with count_queries(connection) as large:
        r = gantt(world.dispatcher, MONDAY, MONDAY + dt.timedelta(days=6))
    assert r.status_code == 200 and len(r.json["lanes"]) == 8
    assert len(lane_of(r, world.other_tech)["jobs"]) == 18
    assert len(large) == len(small), large


# --- map ------------------------------------------------------------------------------


CITY = "121.0,30.9,121.9,31.5"
DISTRICT = "121.40,31.20,121.52,31.26"  # People's Square, Jing'an, the Bund, Lujiazui


@pytest.fixture()
def city(world: Any, board: Any, session: Any) -> Any:
    """Open orders at three spots, finished ones, one far away; Li Wei on site at Jing'an."""
    s = board.sites
    on_site = job(session, world, s.jingan, local(9), status="on_site")
    later = job(session, world, s.pudong, local(14), status="dispatched")
    orders = [
        f.make_work_order(session, world.a, s.jingan, priority="urgent"),
        f.make_work_order(session, world.a, s.pudong, priority="low"),
        f.make_work_order(session, world.a, s.hongqiao, priority="high", status="on_hold"),
    ]
    for status in ("closed", "cancelled", "completed"):
        f.make_work_order(session, world.a, s.jingan, status=status)
    far_site = f.make_site(session, world.a, board.customer, at=Point(39.9, 116.4))  # Beijing
    far = f.make_work_order(session, world.a, far_site)
    b_site = f.make_site(session, world.b, f.make_customer(session, world.b), at=JINGAN)
    f.make_work_order(session, world.b, b_site)
    world.tech.last_position = point_element(JINGAN)
    world.tech.last_position_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    world.tech.last_position_accuracy_m = 12.0
    world.other_tech.last_position = point_element(Point(39.9, 116.4))
    world.other_tech.last_position_at = dt.datetime.now(dt.UTC)
    session.commit()
    return SimpleNamespace(on_site=on_site, later=later, orders=orders, far=far)


def features(response: Any, kind: str) -> list[dict[str, Any]]:
    return [x for x in response.json["features"] if x["properties"]["kind"] == kind]


def test_map_shows_single_orders_and_technicians_when_zoomed_in(world: Any, city: Any) -> None:
    r = world.dispatcher.get(MAP, query_string={"bbox": CITY, "zoom": 14})
    assert r.status_code == 200, r.json
    assert FeatureCollectionSchema().validate(r.json) == {}
    assert r.json["type"] == "FeatureCollection"
    assert r.json["clustered"] is False and r.json["truncated"] is False
    assert r.json["cell_deg"] is None and r.json["zoom"] == 14
    orders = features(r, "order")
    expected = {city.on_site.id, city.later.id, *(o.id for o in city.orders)}
    assert {o["properties"]["id"] for o in orders} == {str(i) for i in expected}
    assert orders[0]["properties"]["priority"] == "urgent"  # most urgent first
    one = next(o for o in orders if o["properties"]["id"] == str(city.orders[0].id))
    assert one["geometry"] == {
        "type": "Point",
        "coordinates": [pytest.approx(JINGAN.lon), pytest.approx(JINGAN.lat)],
    }
    assert one["id"] == f"order:{city.orders[0].id}"
    assert one["properties"]["number"] == city.orders[0].number
    techs = features(r, "technician")
    assert [t["properties"]["name"] for t in techs] == ["Li Wei"]  # Zhang Min is in Beijing
    li = techs[0]["properties"]
    assert li["status"] == "on_site" and li["current_order"] == {
        "id": str(city.on_site.id),
        "number": city.on_site.number,
        "status": "on_site",
    }
    assert 170 <= li["position_age_s"] <= 400 and li["accuracy_m"] == 12.0


def test_map_statuses_can_be_chosen(world: Any, city: Any) -> None:
    r = world.agent.get(MAP, query_string={"bbox": CITY, "zoom": 16, "status": "on_hold,new"})
    assert r.status_code == 200
    assert sorted(o["properties"]["status"] for o in features(r, "order")) == [
        "new",
        "new",
        "on_hold",
    ]
    r = world.agent.get(MAP, query_string={"bbox": CITY, "zoom": 16, "status": "new,lost"})
    assert r.status_code == 422 and r.json["code"] == "unknown_status"
    assert r.json["errors"]["status"] == ["lost"]


def test_a_technician_with_nothing_on_is_idle(world: Any, city: Any, session: Any) -> None:
    session.execute(update(WorkOrder).where(WorkOrder.id == city.on_site.id).values(status="new"))
    session.execute(update(WorkOrder).where(WorkOrder.id == city.later.id).values(status="new"))
    session.commit()
    r = world.dispatcher.get(MAP, query_string={"bbox": CITY, "zoom": 14})
    li = features(r, "technician")[0]["properties"]
    assert li["status"] == "idle" and li["current_order"] is None


def test_map_clusters_orders_when_zoomed_out(world: Any, city: Any) -> None:
    r = world.dispatcher.get(MAP, query_string={"bbox": CITY, "zoom": 11})
    assert r.status_code == 200
    assert FeatureCollectionSchema().validate(r.json) == {}
    assert r.json["clustered"] is True
    assert r.json["cell_deg"] == pytest.approx(360 / 2**11 / 8)
    clusters = features(r, "cluster")
    assert sum(c["properties"]["count"] for c in clusters) == 5
    assert features(r, "order") == []
    assert len(features(r, "technician")) == 1
    # Jing'an (2 open orders) and Pudong (2) and Hongqiao (1) are cells of their own at z11.
    by_count = sorted((c["properties"]["count"], c["properties"]["max_priority"]) for c in clusters)
    assert by_count == [(1, "high"), (2, "normal"), (2, "urgent")]
    jingan = next(c for c in clusters if c["properties"]["max_priority"] == "urgent")
    assert jingan["geometry"]["coordinates"] == [
        pytest.approx(JINGAN.lon),
        pytest.approx(JINGAN.lat),
    ]
    assert jingan["properties"]["bbox"] == [
        pytest.approx(JINGAN.lon),
        pytest.approx(JINGAN.lat),
        pytest.approx(JINGAN.lon),
        pytest.approx(JINGAN.lat),
    ]


def test_a_coarse_grid_merges_clusters(world: Any, city: Any) -> None:
    r = world.dispatcher.get(MAP, query_string={"bbox": "100,20,130,45", "zoom": 3})
    clusters = features(r, "cluster")
    counts = sorted(c["properties"]["count"] for c in clusters)
    assert counts == [1, 5]  # Shanghai in one cell, Beijing in another
    shanghai = next(c for c in clusters if c["properties"]["count"] == 5)
    lon, lat = shanghai["geometry"]["coordinates"]
    assert 121.3 < lon < 121.5 and 31.19 < lat < 31.24  # the centroid of five orders
    assert shanghai["properties"]["max_priority"] == "urgent"


def test_clusters_split_exactly_on_cell_edges(world: Any, board: Any, session: Any) -> None:
    """Floor on both engines: points either side of a cell edge, also west and south."""
    cell = board_service.cell_size(10)
    for lon, lat in ((-73.99, -33.45), (-73.99 + 0.2 * cell, -33.45), (10.0, 10.0)):
        site = f.make_site(session, world.a, board.customer, at=Point(lat, lon))
        f.make_work_order(session, world.a, site)
    session.commit()
    r = world.dispatcher.get(MAP, query_string={"bbox": "-80,-40,20,20", "zoom": 10})
    cells = {c["id"]: c["properties"]["count"] for c in features(r, "cluster")}
    edge = int((-73.99 + 180) // cell)
    same = int((-73.99 + 0.2 * cell + 180) // cell)
    expected_cells = {f"cluster:{edge}:{int((-33.45 + 90) // cell)}"}
    expected_cells.add(f"cluster:{same}:{int((-33.45 + 90) // cell)}")
    assert set(cells) >= expected_cells
    assert sum(cells.values()) == 3


def test_unclustered_output_is_capped(
    world: Any, city: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(board_service, "MAX_ORDER_FEATURES", 2)
    r = world.dispatcher.get(MAP, query_string={"bbox": CITY, "zoom": 15})
    assert r.json["truncated"] is True
    assert [o["properties"]["priority"] for o in features(r, "order")] == ["urgent", "high"]


def test_the_bbox_limits_orders(world: Any, city: Any) -> None:
    r = world.dispatcher.get(MAP, query_string={"bbox": DISTRICT, "zoom": 15})
    ids = {o["properties"]["id"] for o in features(r, "order")}
    assert str(city.orders[2].id) not in ids  # Hongqiao is west of the district
    assert str(city.orders[0].id) in ids and str(city.far.id) not in ids
    beijing = world.dispatcher.get(MAP, query_string={"bbox": "116,39,117,40.5", "zoom": 13})
    assert [o["properties"]["id"] for o in features(beijing, "order")] == [str(city.far.id)]
    assert [t["properties"]["name"] for t in features(beijing, "technician")] == ["Zhang Min"]


def test_other_tenants_see_only_their_own(world: Any, city: Any) -> None:
    r = world.b_api.get(MAP, query_string={"bbox": CITY, "zoom": 15})
    assert len(features(r, "order")) == 1 and features(r, "technician") == []


@pytest.mark.parametrize(
    "params,code,field",
    [
        ({"bbox": "121,31,122", "zoom": 12}, "invalid_bbox", "bbox"),
        ({"bbox": "a,b,c,d", "zoom": 12}, "invalid_bbox", "bbox"),
        ({"bbox": "122,31,121,32", "zoom": 12}, "invalid_bbox", "bbox"),
        ({"bbox": "121,95,122,96", "zoom": 12}, "invalid_bbox", "bbox"),
        ({"bbox": "nan,31,122,32", "zoom": 12}, "invalid_bbox", "bbox"),
        ({"bbox": "-inf,31,122,32", "zoom": 12}, "invalid_bbox", "bbox"),
        ({"bbox": "", "zoom": 12}, "invalid_bbox", "bbox"),
        ({"bbox": CITY, "zoom": 23}, "validation_error", "zoom"),
        ({"bbox": CITY, "zoom": -1}, "validation_error", "zoom"),
        ({"bbox": CITY, "zoom": "near"}, "validation_error", "zoom"),
        ({"bbox": CITY, "zoom": "12.5"}, "validation_error", "zoom"),
        ({"bbox": CITY}, "validation_error", "zoom"),
        ({"zoom": 12}, "validation_error", "bbox"),
        ({"bbox": CITY, "zoom": 12, "status": ","}, "unknown_status", "status"),
    ],
)
def test_bad_map_queries(world: Any, params: dict[str, Any], code: str, field: str) -> None:
    r = world.dispatcher.get(MAP, query_string=params)
    assert r.status_code == 422, r.json
    assert r.json["code"] == code
    errors = r.json["errors"]
    assert field in errors.get("query", errors)


def test_map_makes_a_fixed_number_of_queries(
    world: Any, city: Any, board: Any, session: Any, connection: Any
) -> None:
    counts = []
    for zoom in (11, 15):
        with count_queries(connection) as seen:
            world.dispatcher.get(MAP, query_string={"bbox": CITY, "zoom": zoom})
        counts.append(len(seen))
    for i in range(10):
        tech = f.make_technician(session, world.a, name=f"Extra {i}")
        tech.last_position = point_element(PUDONG)
        tech.last_position_at = dt.datetime.now(dt.UTC)
        job(session, world, board.sites.pudong, local(9), lead=tech, status="en_route")
        f.make_work_order(session, world.a, board.sites.hongqiao)
    session.commit()
    for zoom, before in zip((11, 15), counts, strict=True):
        with count_queries(connection) as seen:
            r = world.dispatcher.get(MAP, query_string={"bbox": CITY, "zoom": zoom})
        assert len(features(r, "technician")) == 11
        assert len(seen) == before, seen
