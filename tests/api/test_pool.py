"""The order pool: publish, ranked offers for eligible technicians, atomic claims, expiry."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, update

from geo import Point, haversine_m
from geo.sql import point_element, polygon_element
from server.dispatch.models import PoolEntry
from server.notifications.models import KIND_ASSIGNMENT, NotificationOutbox
from server.sync.models import SyncScopeExit
from server.technicians.models import TechnicianSkill
from server.work_orders.models import WorkOrder, WorkOrderEvent
from tests import factories as f
from tests.factories import count_queries

BASE = "/api/v1/pool"
NEAR = Point(31.2304, 121.4737)  # People's Square, where the factory's home base is
FAR = Point(31.10, 121.80)  # Pudong, ~33 km away


@pytest.fixture()
def pool(world: Any, session: Any) -> Any:
    """Li Wei holds hvac 3; Zhang Min holds nothing. Four orders in several states."""
    hvac = f.make_skill(session, world.a, "hvac")
    session.add(
        TechnicianSkill(
            tenant_id=world.a.id, technician_id=world.tech.id, skill_id=hvac.id, level=3
        )
    )
    customer = f.make_customer(session, world.a)
    site = f.make_site(
        session, world.a, customer, at=NEAR, name="Raffles City", address="268 Xizang Middle Rd"
    )
    far_site = f.make_site(session, world.a, customer, at=FAR, name="Pudong Airport")
    needs_hvac = f.make_work_order(
        session,
        world.a,
        site,
        title="AC leaking",
        priority="normal",
        required_skills=[{"skill": "hvac", "min_level": 2}],
    )
    urgent = f.make_work_order(
        session, world.a, far_site, title="Door jammed", priority="urgent", status="triaged"
    )
    scheduled = f.make_work_order(
        session,
        world.a,
        site,
        status="scheduled",
        lead_technician_id=world.other_tech.id,
        scheduled_start=f.aware(2030, 1, 1, 1),
        scheduled_end=f.aware(2030, 1, 1, 2),
    )
    closed = f.make_work_order(session, world.a, site, status="closed")
    b_site = f.make_site(session, world.b, f.make_customer(session, world.b))
    b_order = f.make_work_order(session, world.b, b_site)
    session.commit()
    return SimpleNamespace(
        hvac=hvac,
        site=site,
        far_site=far_site,
        needs_hvac=needs_hvac,
        urgent=urgent,
        scheduled=scheduled,
        closed=closed,
        b_order=b_order,
        customer=customer,
    )


def publish(api: Any, *orders: Any, **extra: Any) -> Any:
    return api.post(BASE, json={"work_order_ids": [str(o.id) for o in orders], **extra})


def entry_of(response: Any, order: Any) -> dict[str, Any]:
    return next(e for e in response.json if e["work_order_id"] == str(order.id))


def events(api: Any, order: Any) -> list[str]:
    r = api.get(f"/api/v1/work-orders/{order.id}/events")
    return [e["event_type"] for e in r.json]


def age_entries(session: Any, minutes: int = 1) -> None:
    """Make every entry's deadline lie in the past."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
    session.execute(update(PoolEntry).values(expires_at=past))
    session.commit()


# --- publish --------------------------------------------------------------------------


def test_dispatcher_publishes_orders(world: Any, pool: Any) -> None:
    before = dt.datetime.now(dt.UTC)
    r = publish(world.dispatcher, pool.needs_hvac, pool.urgent, radius_km=50, note="Today please")
    assert r.status_code == 201, r.json
    assert [e["work_order_id"] for e in r.json] == [str(pool.needs_hvac.id), str(pool.urgent.id)]
    entry = entry_of(r, pool.needs_hvac)
    assert (
        entry["status"] == "open" and entry["radius_km"] == 50 and entry["note"] == "Today please"
    )
    assert entry["published_by_id"] == str(world.users["dispatcher"].id)
    assert entry["claimed_by_id"] is None and entry["claimed_at"] is None
    expires = dt.datetime.fromisoformat(entry["expires_at"])
    assert dt.timedelta(minutes=119) < expires - before < dt.timedelta(minutes=121)
    order = entry["order"]
    assert order["number"] == pool.needs_hvac.number and order["title"] == "AC leaking"
    assert order["site"] == {
        "id": str(pool.site.id),
        "name": "Raffles City",
        "address": "268 Xizang Middle Rd",
    }
    assert order["location"] == {"lat": pytest.approx(NEAR.lat), "lon": pytest.approx(NEAR.lon)}
    assert order["required_skills"] == [{"skill": "hvac", "min_level": 2}]
    assert order["status"] == "new" and order["priority"] == "normal"
    assert events(world.dispatcher, pool.needs_hvac) == ["published_to_pool"]


def test_expiry_and_radius_are_optional_with_defaults(world: Any, pool: Any) -> None:
    r = publish(world.admin, pool.needs_hvac, expires_in_minutes=5)
    assert r.status_code == 201
    entry = r.json[0]
    assert entry["radius_km"] is None and entry["note"] is None
    left = dt.datetime.fromisoformat(entry["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=4) < left <= dt.timedelta(minutes=5)


def test_publishing_is_all_or_nothing(world: Any, pool: Any) -> None:
    for bad in (pool.scheduled, pool.closed):
        r = publish(world.dispatcher, pool.needs_hvac, bad)
        assert r.status_code == 409 and r.json["code"] == "order_not_poolable"
        assert list(r.json["errors"]["work_order_ids"]) == [str(bad.id)]
    assert world.dispatcher.get(BASE).json == []
    assert events(world.dispatcher, pool.needs_hvac) == []


def test_an_assigned_new_order_is_not_poolable(world: Any, pool: Any, session: Any) -> None:
    pool.needs_hvac.lead_technician_id = world.tech.id
    session.commit()
    r = publish(world.dispatcher, pool.needs_hvac)
    assert r.status_code == 409 and r.json["code"] == "order_not_poolable"


def test_an_order_is_open_in_the_pool_once(world: Any, pool: Any) -> None:
    assert publish(world.dispatcher, pool.needs_hvac).status_code == 201
    r = publish(world.dispatcher, pool.urgent, pool.needs_hvac)
    assert r.status_code == 409 and r.json["code"] == "already_in_pool"
    assert r.json["errors"]["work_order_ids"] == [str(pool.needs_hvac.id)]
    assert len(world.dispatcher.get(BASE).json) == 1


def test_withdrawn_orders_can_be_published_again(world: Any, pool: Any) -> None:
    first = publish(world.dispatcher, pool.needs_hvac).json[0]
    assert world.dispatcher.delete(f"{BASE}/{first['id']}").status_code == 200
    again = publish(world.dispatcher, pool.needs_hvac)
    assert again.status_code == 201 and again.json[0]["id"] != first["id"]


def test_unknown_and_other_tenants_orders_are_refused(world: Any, pool: Any) -> None:
    for ident in (pool.b_order.id, f.new_id()):
        r = world.dispatcher.post(
            BASE, json={"work_order_ids": [str(pool.needs_hvac.id), str(ident)]}
        )
        assert r.status_code == 422 and r.json["code"] == "unknown_work_order"
        assert r.json["errors"]["work_order_ids"] == [str(ident)]
    assert world.b_api.get(BASE).json == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({"work_order_ids": []}, "work_order_ids"),
        ({"work_order_ids": "x"}, "work_order_ids"),
        ({"work_order_ids": ["not-a-uuid"]}, "work_order_ids"),
        ({}, "work_order_ids"),
        ({"expires_in_minutes": 4}, "expires_in_minutes"),
        ({"expires_in_minutes": 10081}, "expires_in_minutes"),
        ({"expires_in_minutes": "60"}, "expires_in_minutes"),
        ({"expires_in_minutes": 60.5}, "expires_in_minutes"),
        ({"radius_km": 0.05}, "radius_km"),
        ({"radius_km": 501}, "radius_km"),
        ({"radius_km": "5"}, "radius_km"),
        ({"note": "x" * 2001}, "note"),
        ({"note": "a\x00b"}, None),
        ({"claim": True}, "claim"),
    ],
)
def test_bad_publish_input(world: Any, pool: Any, body: dict[str, Any], field: str | None) -> None:
    payload = {"work_order_ids": [str(pool.needs_hvac.id)], **body}
    if "work_order_ids" in body or body == {}:
        payload = body
    r = world.dispatcher.post(BASE, json=payload)
    assert r.status_code == 422, r.json
    if field:
        assert field in r.json["errors"]["json"]


def test_duplicate_ids_are_refused(world: Any, pool: Any) -> None:
    ident = str(pool.needs_hvac.id)
    r = world.dispatcher.post(BASE, json={"work_order_ids": [ident, ident]})
    assert r.status_code == 422 and "work_order_ids" in r.json["errors"]["json"]


# --- what technicians see -------------------------------------------------------------


def test_technicians_see_offers_they_are_eligible_for_ranked(world: Any, pool: Any) -> None:
    publish(world.dispatcher, pool.needs_hvac, pool.urgent)
    mine = world.technician.get(BASE)
    assert mine.status_code == 200
    # Urgent beats near: 100 priority points outweigh 33 km.
    assert [e["work_order_id"] for e in mine.json] == [str(pool.urgent.id), str(pool.needs_hvac.id)]
    near, far = mine.json[1], mine.json[0]
    assert near["distance_km"] == pytest.approx(0, abs=0.01)
    assert far["distance_km"] == pytest.approx(haversine_m(NEAR, FAR) / 1000, rel=0.01)
    assert near["score"] == 70.0  # normal 20 + 50 for being right there
    assert far["score"] > near["score"]
    # Zhang Min lacks hvac: only the door.
    theirs = world.other_technician.get(BASE)
    assert [e["work_order_id"] for e in theirs.json] == [str(pool.urgent.id)]


def test_higher_priority_and_closeness_rank_first(world: Any, pool: Any, session: Any) -> None:
    close_high = f.make_work_order(session, world.a, pool.site, priority="high")
    far_high = f.make_work_order(session, world.a, pool.far_site, priority="high")
    close_low = f.make_work_order(session, world.a, pool.site, priority="low")
    session.commit()
    publish(world.dispatcher, close_low, far_high, close_high)
    ranked = [e["work_order_id"] for e in world.technician.get(BASE).json]
    assert ranked == [str(close_high.id), str(close_low.id), str(far_high.id)]


def test_a_customer_window_within_a_day_ranks_higher(world: Any, pool: Any, session: Any) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    soon_order = f.make_work_order(
        session,
        world.a,
        pool.site,
        requested_start=soon,
        requested_end=soon + dt.timedelta(hours=2),
    )
    session.commit()
    publish(world.dispatcher, pool.needs_hvac, soon_order)
    ranked = world.technician.get(BASE).json
    assert ranked[0]["work_order_id"] == str(soon_order.id) and ranked[0]["score"] == 90.0


def test_skill_level_matters(world: Any, pool: Any, session: Any) -> None:
    expert = f.make_work_order(
        session, world.a, pool.site, required_skills=[{"skill": "hvac", "min_level": 4}]
    )
    session.commit()
    publish(world.dispatcher, expert)
    assert world.technician.get(BASE).json == []
    r = world.technician.post(f"{BASE}/{world.dispatcher.get(BASE).json[0]['id']}/claim")
    assert r.status_code == 403 and r.json["code"] == "not_eligible"
    assert r.json["reason"] == "missing_skill"


def _territory(session: Any, world: Any, ring: list[Point] | None) -> Any:
    territory = f.make_territory(session, world.a)
    if ring is not None:
        territory.boundary = polygon_element(ring)
    return territory


PEOPLES_SQUARE = [
    Point(31.20, 121.44),
    Point(31.20, 121.50),
    Point(31.26, 121.50),
    Point(31.26, 121.44),
]
SOMEWHERE_ELSE = [Point(30.0, 120.0), Point(30.0, 120.1), Point(30.1, 120.1), Point(30.1, 120.0)]


def test_territories_limit_offers(world: Any, pool: Any, session: Any) -> None:
    publish(world.dispatcher, pool.needs_hvac, pool.urgent)
    # A technician without territories works anywhere.
    assert len(world.technician.get(BASE).json) == 2
    elsewhere = _territory(session, world, SOMEWHERE_ELSE)
    world.tech.territories = [elsewhere]
    session.commit()
    assert world.technician.get(BASE).json == []
    entry = world.dispatcher.get(BASE).json[0]
    r = world.technician.post(f"{BASE}/{entry['id']}/claim")
    assert r.status_code == 403 and r.json["reason"] == "outside_territory"
    world.tech.territories = [elsewhere, _territory(session, world, PEOPLES_SQUARE)]
    session.commit()
    assert [e["work_order_id"] for e in world.technician.get(BASE).json] == [
        str(pool.needs_hvac.id)
    ]


def test_a_site_assigned_to_a_territory_counts_without_a_boundary(
    world: Any, pool: Any, session: Any
) -> None:
    drawn_nowhere = _territory(session, world, None)
    world.tech.territories = [drawn_nowhere]
    pool.far_site.territory_id = drawn_nowhere.id
    session.commit()
    publish(world.dispatcher, pool.needs_hvac, pool.urgent)
    assert [e["work_order_id"] for e in world.technician.get(BASE).json] == [str(pool.urgent.id)]


def test_radius_uses_the_last_position_or_else_the_home_base(
    world: Any, pool: Any, session: Any
) -> None:
    publish(world.dispatcher, pool.needs_hvac, pool.urgent, radius_km=5)
    # Home base at People's Square: only the near order is within 5 km.
    assert [e["work_order_id"] for e in world.technician.get(BASE).json] == [
        str(pool.needs_hvac.id)
    ]
    # A fresh fix near the airport turns it around.
    r = world.technician.post(
        "/api/v1/technicians/me/position", json={"lat": FAR.lat, "lon": FAR.lon}
    )
    assert r.status_code == 200
    offers = world.technician.get(BASE).json
    assert [e["work_order_id"] for e in offers] == [str(pool.urgent.id)]
    assert offers[0]["distance_km"] == pytest.approx(0, abs=0.01)
    # A stale fix (13 h old) says nothing about now: back to the home base.
    world.tech.last_position_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=13)
    session.commit()
    assert [e["work_order_id"] for e in world.technician.get(BASE).json] == [
        str(pool.needs_hvac.id)
    ]


def test_no_known_position_means_no_offers_with_a_radius(
    world: Any, pool: Any, session: Any
) -> None:
    world.tech.home_base = None
    session.commit()
    entries = publish(world.dispatcher, pool.needs_hvac, radius_km=5).json
    publish(world.dispatcher, pool.urgent)
    assert [e["work_order_id"] for e in world.technician.get(BASE).json] == [str(pool.urgent.id)]
    r = world.technician.post(f"{BASE}/{entries[0]['id']}/claim")
    assert r.status_code == 403 and r.json["reason"] == "no_position"


def test_a_full_day_hides_offers_for_that_day(world: Any, pool: Any, session: Any) -> None:
    world.tech.max_jobs_per_day = 1
    now = dt.datetime.now(dt.UTC)
    f.make_work_order(
        session,
        world.a,
        pool.site,
        status="scheduled",
        lead_technician_id=world.tech.id,
        scheduled_start=now + dt.timedelta(hours=1, minutes=30),
        scheduled_end=now + dt.timedelta(hours=2, minutes=30),
    )
    later = now + dt.timedelta(days=3)
    next_week = f.make_work_order(
        session,
        world.a,
        pool.site,
        requested_start=later,
        requested_end=later + dt.timedelta(hours=1),
    )
    session.commit()
    entries = publish(world.dispatcher, pool.needs_hvac, next_week).json
    # Today is full; the order wanted in three days still fits.
    assert [e["work_order_id"] for e in world.technician.get(BASE).json] == [str(next_week.id)]
    r = world.technician.post(f"{BASE}/{entries[0]['id']}/claim")
    assert r.status_code == 403 and r.json["reason"] == "no_capacity"
    assert "maximum" in r.json["message"]


def test_cancelled_jobs_do_not_use_capacity(world: Any, pool: Any, session: Any) -> None:
    world.tech.max_jobs_per_day = 1
    now = dt.datetime.now(dt.UTC)
    f.make_work_order(
        session,
        world.a,
        pool.site,
        status="cancelled",
        lead_technician_id=world.tech.id,
        scheduled_start=now + dt.timedelta(hours=1),
        scheduled_end=now + dt.timedelta(hours=2),
    )
    session.commit()
    publish(world.dispatcher, pool.needs_hvac)
    assert len(world.technician.get(BASE).json) == 1


def test_inactive_technicians_see_nothing(world: Any, pool: Any, session: Any) -> None:
    world.tech.active = False
    session.commit()
    publish(world.dispatcher, pool.urgent)
    assert world.technician.get(BASE).json == []


def test_technicians_see_only_open_unexpired_offers(world: Any, pool: Any, session: Any) -> None:
    entries = publish(world.dispatcher, pool.needs_hvac, pool.urgent).json
    world.dispatcher.delete(f"{BASE}/{entries[0]['id']}")
    assert [e["work_order_id"] for e in world.technician.get(BASE).json] == [str(pool.urgent.id)]
    age_entries(session)
    assert world.technician.get(BASE).json == []


def test_listing_offers_makes_a_fixed_number_of_queries(
    world: Any, pool: Any, session: Any, connection: Any
) -> None:
    publish(world.dispatcher, pool.needs_hvac)
    with count_queries(connection) as few:
        assert len(world.technician.get(BASE).json) == 1
    more = [f.make_work_order(session, world.a, pool.far_site, priority="high") for _ in range(8)]
    session.commit()
    publish(world.dispatcher, *more)
    with count_queries(connection) as many:
        assert len(world.technician.get(BASE).json) == 9
    assert len(many) == len(few), many
    with count_queries(connection) as planner_few:
        world.dispatcher.get(BASE)
    publish(world.dispatcher, pool.urgent)
    with count_queries(connection) as planner_many:
        assert len(world.dispatcher.get(BASE).json) == 10
    assert len(planner_many) == len(planner_few), planner_many


def test_offers_are_paginated(world: Any, pool: Any, session: Any) -> None:
    orders = [f.make_work_order(session, world.a, pool.site) for _ in range(5)]
    session.commit()
    publish(world.dispatcher, *orders)
    r = world.technician.get(f"{BASE}?page=2&page_size=2")
    assert r.status_code == 200 and len(r.json) == 2
    assert '"total": 5' in r.headers["X-Pagination"]
    everyone = [e["id"] for e in world.technician.get(BASE).json]
    assert [e["id"] for e in r.json] == everyone[2:4]
    assert world.technician.get(f"{BASE}?page=9").json == []


def test_planners_see_every_entry_and_filter_by_status(world: Any, pool: Any) -> None:
    entries = publish(world.dispatcher, pool.needs_hvac, pool.urgent).json
    world.dispatcher.delete(f"{BASE}/{entries[0]['id']}")
    assert len(world.admin.get(BASE).json) == 2
    withdrawn = world.admin.get(f"{BASE}?status=withdrawn").json
    assert [e["id"] for e in withdrawn] == [entries[0]["id"]]
    assert [e["id"] for e in world.admin.get(f"{BASE}?status=open").json] == [entries[1]["id"]]
    assert withdrawn[0]["distance_km"] is None and withdrawn[0]["score"] is None
    r = world.admin.get(f"{BASE}?status=lost")
    assert r.status_code == 422 and "status" in r.json["errors"]["query"]


# --- claims ---------------------------------------------------------------------------


def test_a_claim_assigns_and_schedules_the_order(world: Any, pool: Any, session: Any) -> None:
    entry = publish(world.dispatcher, pool.needs_hvac).json[0]
    before = dt.datetime.now(dt.UTC)
    r = world.technician.post(f"{BASE}/{entry['id']}/claim")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "claimed" and r.json["claimed_by_id"] == str(world.tech.id)
    assert r.json["claimed_at"] is not None
    order = r.json["order"]
    assert order["status"] == "scheduled" and order["lead_technician_id"] == str(world.tech.id)
    start = dt.datetime.fromisoformat(order["scheduled_start"])
    end = dt.datetime.fromisoformat(order["scheduled_end"])
    assert dt.timedelta(minutes=59) < start - before < dt.timedelta(minutes=61)
    assert end - start == dt.timedelta(minutes=60)
    full = world.dispatcher.get(f"/api/v1/work-orders/{pool.needs_hvac.id}").json
    assert full["status"] == "scheduled" and full["lead_technician_id"] == str(world.tech.id)
    assert full["scheduled_start"] == order["scheduled_start"]
    assert events(world.dispatcher, pool.needs_hvac) == [
        "published_to_pool",
        "assigned",
        "status_changed",
        "claimed_from_pool",
    ]
    history = world.dispatcher.get(f"/api/v1/work-orders/{pool.needs_hvac.id}/events").json
    assert {e["actor_user_id"] for e in history[1:]} == {str(world.users["technician"].id)}
    assert history[2]["from_status"] == "new" and history[2]["to_status"] == "scheduled"
    assert history[3]["payload"] == {
        "pool_entry_id": entry["id"],
        "technician_id": str(world.tech.id),
    }
    # The technician now sees the order as their own, and gets the push as for any assignment.
    mine = world.technician.get("/api/v1/work-orders").json
    assert [o["id"] for o in mine] == [str(pool.needs_hvac.id)]
    push = session.scalars(
        select(NotificationOutbox).where(
            NotificationOutbox.user_id == world.users["technician"].id,
            NotificationOutbox.kind == KIND_ASSIGNMENT,
        )
    ).all()
    assert [p.payload["data"]["work_order_id"] for p in push] == [str(pool.needs_hvac.id)]
    entered = session.scalars(
        select(SyncScopeExit).where(SyncScopeExit.work_order_id == pool.needs_hvac.id)
    ).all()
    assert [(x.technician_id, x.entered) for x in entered] == [(world.tech.id, True)]


def test_a_claim_takes_the_customer_window(world: Any, pool: Any, session: Any) -> None:
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    pool.needs_hvac.requested_start = start
    pool.needs_hvac.requested_end = start + dt.timedelta(hours=3)
    session.commit()
    entry = publish(world.dispatcher, pool.needs_hvac).json[0]
    order = world.technician.post(f"{BASE}/{entry['id']}/claim").json["order"]
    assert dt.datetime.fromisoformat(order["scheduled_start"]) == start
    assert dt.datetime.fromisoformat(order["scheduled_end"]) == start + dt.timedelta(hours=3)


def test_a_window_already_open_schedules_in_an_hour(world: Any, pool: Any, session: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    pool.needs_hvac.requested_start = now - dt.timedelta(hours=1)
    pool.needs_hvac.requested_end = now + dt.timedelta(hours=5)
    pool.needs_hvac.estimated_duration_minutes = 90
    session.commit()
    entry = publish(world.dispatcher, pool.needs_hvac).json[0]
    order = world.technician.post(f"{BASE}/{entry['id']}/claim").json["order"]
    start = dt.datetime.fromisoformat(order["scheduled_start"])
    assert dt.timedelta(minutes=59) < start - now < dt.timedelta(minutes=61)
    end = dt.datetime.fromisoformat(order["scheduled_end"])
    assert end - start == dt.timedelta(minutes=90)


def test_the_first_claim_wins_and_later_ones_get_409(world: Any, pool: Any) -> None:
    entry = publish(world.dispatcher, pool.urgent).json[0]
    assert world.other_technician.post(f"{BASE}/{entry['id']}/claim").status_code == 200
    r = world.technician.post(f"{BASE}/{entry['id']}/claim")
    assert r.status_code == 409 and r.json["code"] == "already_claimed"
    assert r.json["claimed_by_you"] is False
    again = world.other_technician.post(f"{BASE}/{entry['id']}/claim")
    assert again.status_code == 409 and again.json["claimed_by_you"] is True
    order = world.dispatcher.get(f"/api/v1/work-orders/{pool.urgent.id}").json
    assert order["lead_technician_id"] == str(world.other_tech.id)
    assert world.technician.get(BASE).json == []


def test_claiming_a_withdrawn_or_expired_entry_is_refused(
    world: Any, pool: Any, session: Any
) -> None:
    withdrawn, expiring = publish(world.dispatcher, pool.needs_hvac, pool.urgent).json
    world.dispatcher.delete(f"{BASE}/{withdrawn['id']}")
    r = world.technician.post(f"{BASE}/{withdrawn['id']}/claim")
    assert r.status_code == 409 and r.json["code"] == "pool_entry_withdrawn"
    age_entries(session)
    r = world.technician.post(f"{BASE}/{expiring['id']}/claim")
    assert r.status_code == 409 and r.json["code"] == "pool_entry_expired"
    order = world.dispatcher.get(f"/api/v1/work-orders/{pool.urgent.id}").json
    assert order["lead_technician_id"] is None and order["status"] == "triaged"


def test_claiming_an_order_planned_meanwhile_is_refused(
    world: Any, pool: Any, session: Any
) -> None:
    entry = publish(world.dispatcher, pool.needs_hvac).json[0]
    pool.needs_hvac.status = "cancelled"
    session.commit()
    r = world.technician.post(f"{BASE}/{entry['id']}/claim")
    assert r.status_code == 409 and r.json["code"] == "order_not_available"


def test_unknown_and_other_tenants_entries_are_404(world: Any, pool: Any, session: Any) -> None:
    b_entry = PoolEntry(
        tenant_id=world.b.id,
        work_order_id=pool.b_order.id,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    session.add(b_entry)
    session.commit()
    for ident in (b_entry.id, f.new_id()):
        r = world.technician.post(f"{BASE}/{ident}/claim")
        assert r.status_code == 404 and r.json["code"] == "not_found"
        assert world.dispatcher.delete(f"{BASE}/{ident}").status_code == 404
    assert world.b_api.get(BASE).json[0]["id"] == str(b_entry.id)


def test_technician_user_without_record_cannot_use_the_pool(
    world: Any, pool: Any, session: Any
) -> None:
    loose = world.api.as_(f.make_user(session, world.a, "technician"))
    session.commit()
    entry = publish(world.dispatcher, pool.urgent).json[0]
    for r in (loose.get(BASE), loose.post(f"{BASE}/{entry['id']}/claim")):
        assert r.status_code == 403 and r.json["code"] == "not_a_technician"


# --- withdraw and expiry --------------------------------------------------------------


def test_withdrawing(world: Any, pool: Any) -> None:
    entry = publish(world.dispatcher, pool.needs_hvac).json[0]
    r = world.admin.delete(f"{BASE}/{entry['id']}")
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    again = world.admin.delete(f"{BASE}/{entry['id']}")
    assert again.status_code == 200 and again.json["status"] == "withdrawn"
    assert events(world.dispatcher, pool.needs_hvac) == ["published_to_pool", "withdrawn_from_pool"]


def test_a_claimed_or_expired_entry_cannot_be_withdrawn(
    world: Any, pool: Any, session: Any
) -> None:
    claimed, expiring = publish(world.dispatcher, pool.needs_hvac, pool.urgent).json
    world.technician.post(f"{BASE}/{claimed['id']}/claim")
    r = world.dispatcher.delete(f"{BASE}/{claimed['id']}")
    assert r.status_code == 409 and r.json["code"] == "already_claimed"
    age_entries(session)
    world.dispatcher.get(BASE)  # the lazy sweep marks it expired
    r = world.dispatcher.delete(f"{BASE}/{expiring['id']}")
    assert r.status_code == 409 and r.json["code"] == "pool_entry_expired"


def test_listing_expires_timed_out_entries(world: Any, pool: Any, session: Any) -> None:
    publish(world.dispatcher, pool.urgent, expires_in_minutes=5)
    age_entries(session)
    listed = world.dispatcher.get(BASE).json
    assert [e["status"] for e in listed] == ["expired"]
    order = world.dispatcher.get(f"/api/v1/work-orders/{pool.urgent.id}").json
    assert order["status"] == "triaged" and order["lead_technician_id"] is None
    history = world.dispatcher.get(f"/api/v1/work-orders/{pool.urgent.id}/events").json
    assert [e["event_type"] for e in history] == ["published_to_pool", "pool_expired"]
    assert history[1]["actor_role"] == "system" and history[1]["actor_user_id"] is None
    # Expired entries do not block publishing the order again.
    assert publish(world.dispatcher, pool.urgent).status_code == 201


def test_cli_expires_entries_of_every_tenant(app: Any, world: Any, pool: Any, session: Any) -> None:
    publish(world.dispatcher, pool.urgent, pool.needs_hvac)
    session.add(
        PoolEntry(
            tenant_id=world.b.id,
            work_order_id=pool.b_order.id,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        )
    )
    session.commit()
    age_entries(session)
    result = app.test_cli_runner().invoke(args=["pool-expire"])
    assert result.exit_code == 0, result.output
    assert "closed 3" in result.output
    statuses = session.scalars(select(PoolEntry.status)).all()
    assert statuses == ["expired"] * 3
    expired_events = session.scalar(
        select(func.count()).where(WorkOrderEvent.event_type == "pool_expired")
    )
    assert expired_events == 3
    again = app.test_cli_runner().invoke(args=["pool-expire"])
    assert "closed 0" in again.output


def test_orders_planned_elsewhere_leave_the_pool(world: Any, pool: Any, session: Any) -> None:
    entry = publish(world.dispatcher, pool.needs_hvac).json[0]
    order = world.dispatcher.get(f"/api/v1/work-orders/{pool.needs_hvac.id}")
    r = world.dispatcher.patch(
        f"/api/v1/work-orders/{pool.needs_hvac.id}",
        json={"lead_technician_id": str(world.other_tech.id)},
        headers={"If-Match": order.headers["ETag"]},
    )
    assert r.status_code == 200, r.json
    assert world.technician.get(BASE).json == []
    listed = world.dispatcher.get(BASE).json
    assert [(e["id"], e["status"]) for e in listed] == [(entry["id"], "withdrawn")]
    assert events(world.dispatcher, pool.needs_hvac)[-1] == "withdrawn_from_pool"


def test_order_location_may_be_missing(world: Any, pool: Any, session: Any) -> None:
    nowhere = f.make_work_order(session, world.a, pool.site)
    session.execute(update(WorkOrder).where(WorkOrder.id == nowhere.id).values(location=None))
    session.commit()
    publish(world.dispatcher, nowhere, radius_km=10)
    publish(world.dispatcher, pool.urgent)
    offers = world.technician.get(BASE).json
    assert [e["work_order_id"] for e in offers] == [str(pool.urgent.id)]
    planner = {e["work_order_id"]: e for e in world.dispatcher.get(BASE).json}
    assert planner[str(nowhere.id)]["order"]["location"] is None


def test_home_base_point_is_used_for_distance(world: Any, pool: Any, session: Any) -> None:
    world.tech.home_base = point_element(FAR)
    session.commit()
    publish(world.dispatcher, pool.urgent)
    assert world.technician.get(BASE).json[0]["distance_km"] == pytest.approx(0, abs=0.01)
