"""Sites: CRUD, territory auto-assignment, map filters (bbox, near) on both engines, access."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from geo import Point, haversine_m
from geo.sql import polygon_element
from server.organization.models import Territory
from tests import factories as f

BASE = "/api/v1/sites"
PEOPLES_SQUARE = Point(31.2304, 121.4737)
JINGAN = Point(31.2230, 121.4450)  # ~2.9 km west
PUDONG = Point(31.2397, 121.4998)  # ~2.7 km east
HONGQIAO = Point(31.1940, 121.3270)  # ~14.5 km west
HANGZHOU = Point(30.2741, 120.1551)  # ~165 km south-west
BERLIN = Point(52.5200, 13.4050)


def ids(response: Any) -> list[str]:
    return [item["id"] for item in response.json]


def territory(session: Any, tenant: Any, ring: list[Point] | None, code: str) -> Territory:
    t = Territory(
        tenant_id=tenant.id,
        code=code,
        name=code.title(),
        boundary=polygon_element(ring) if ring else None,
    )
    session.add(t)
    session.flush()
    return t


def square(center: Point, half_deg: float) -> list[Point]:
    return [
        Point(center.lat - half_deg, center.lon - half_deg),
        Point(center.lat - half_deg, center.lon + half_deg),
        Point(center.lat + half_deg, center.lon + half_deg),
        Point(center.lat + half_deg, center.lon - half_deg),
    ]


@pytest.fixture()
def geo(world: Any, session: Any) -> Any:
    """Sites around Shanghai for two customers, territories, and a tenant B site."""
    acme = f.make_customer(session, world.a, name="Acme")
    bolt = f.make_customer(session, world.a, name="Bolt")
    puxi = territory(session, world.a, square(Point(31.22, 121.44), 0.05), "puxi")
    sites = SimpleNamespace(
        square=f.make_site(session, world.a, acme, PEOPLES_SQUARE, name="People's Square"),
        jingan=f.make_site(session, world.a, acme, JINGAN, name="Jing'an", territory_id=puxi.id),
        pudong=f.make_site(session, world.a, bolt, PUDONG, name="Pudong"),
        hongqiao=f.make_site(session, world.a, bolt, HONGQIAO, name="Hongqiao"),
        hangzhou=f.make_site(session, world.a, acme, HANGZHOU, name="Hangzhou"),
    )
    b_customer = f.make_customer(session, world.b)
    b_site = f.make_site(session, world.b, b_customer, PEOPLES_SQUARE, name="Foreign")
    session.commit()
    return SimpleNamespace(acme=acme, bolt=bolt, puxi=puxi, b_site=b_site, **vars(sites))


def site_body(customer_id: Any, at: Point = PEOPLES_SQUARE, **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": str(customer_id),
        "name": "Plant 7",
        "address": "7 Huaihai Road",
        "location": {"lat": at.lat, "lon": at.lon},
        **extra,
    }


# --- create / read / update -------------------------------------------------------------


def test_create_site_defaults_and_round_trip(world: Any, session: Any, geo: Any) -> None:
    world.a.timezone = "Europe/Berlin"
    session.commit()
    r = world.dispatcher.post(BASE, json=site_body(geo.acme.id, access_notes="Badge at gate 2"))
    assert r.status_code == 201, r.json
    body = r.json
    assert body["customer_id"] == str(geo.acme.id)
    assert body["location"] == {"lat": PEOPLES_SQUARE.lat, "lon": PEOPLES_SQUARE.lon}
    assert body["timezone"] == "Europe/Berlin"  # the tenant's
    assert body["access_notes"] == "Badge at gate 2"
    assert body["territory_id"] == str(geo.puxi.id)  # contains People's Square
    assert "distance_m" not in body
    got = world.agent.get(f"{BASE}/{body['id']}")
    assert got.status_code == 200 and got.json == body

    r = world.agent.post(BASE, json=site_body(geo.acme.id, timezone="Asia/Shanghai"))
    assert r.json["timezone"] == "Asia/Shanghai"


def test_territory_assignment_rules(world: Any, session: Any, geo: Any) -> None:
    east = territory(session, world.a, square(PUDONG, 0.02), "east")
    b_territory = territory(session, world.b, square(PEOPLES_SQUARE, 1.0), "b-all")
    session.commit()
    outside = world.admin.post(BASE, json=site_body(geo.acme.id, HANGZHOU))
    assert outside.status_code == 201 and outside.json["territory_id"] is None
    east_site = world.admin.post(BASE, json=site_body(geo.acme.id, PUDONG))
    assert east_site.json["territory_id"] == str(east.id)
    explicit = world.admin.post(
        BASE, json=site_body(geo.acme.id, HANGZHOU, territory_id=str(east.id))
    )
    assert explicit.json["territory_id"] == str(east.id)
    none = world.admin.post(BASE, json=site_body(geo.acme.id, territory_id=None))
    assert none.status_code == 201 and none.json["territory_id"] is None

    for bad in (f.new_id(), str(b_territory.id)):
        r = world.admin.post(BASE, json=site_body(geo.acme.id, territory_id=bad))
        assert r.status_code == 422 and r.json["code"] == "unknown_territory"
        assert "territory_id" in r.json["errors"]["json"]


def test_unknown_or_foreign_customer_is_422(world: Any, geo: Any) -> None:
    for customer_id in (f.new_id(), geo.b_site.customer_id):
        r = world.admin.post(BASE, json=site_body(customer_id))
        assert r.status_code == 422 and r.json["code"] == "unknown_customer"
        assert "customer_id" in r.json["errors"]["json"]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"location": {"lat": 91, "lon": 0}}, "location"),
        ({"location": {"lat": 0, "lon": -180.5}}, "location"),
        ({"location": {"lat": "31.2", "lon": 121.4}}, "location"),
        ({"location": {"lat": True, "lon": 121.4}}, "location"),
        ({"location": {"lat": 31.2}}, "location"),
        ({"location": {"lat": 31.2, "lon": 121.4, "alt": 3}}, "location"),
        ({"location": None}, "location"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": ""}, "name"),
        ({"customer_id": "not-a-uuid"}, "customer_id"),
        ({"territory_id": 5}, "territory_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_site_payloads_are_422(
    world: Any, geo: Any, change: dict[str, Any], field: str
) -> None:
    # Encoded here (ASCII escapes) so lone surrogates reach the server as a client sends them.
    body = json.dumps({**site_body(geo.acme.id), **change})
    r = world.admin.post(BASE, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.json
    assert r.json["code"] == "validation_error" and field in r.json["errors"]["json"]


def test_location_is_required(world: Any, geo: Any) -> None:
    body = site_body(geo.acme.id)
    del body["location"]
    r = world.admin.post(BASE, json=body)
    assert r.status_code == 422 and set(r.json["errors"]["json"]) == {"location"}


def test_patch_site_and_move_rederives_territory(world: Any, session: Any, geo: Any) -> None:
    east = territory(session, world.a, square(PUDONG, 0.02), "east")
    session.commit()
    url = f"{BASE}/{geo.square.id}"
    r = world.agent.patch(url, json={"name": "Renamed", "access_notes": None})
    assert r.status_code == 200 and r.json["name"] == "Renamed"
    assert r.json["territory_id"] is None  # untouched: no move, no territory given

    r = world.agent.patch(url, json={"location": {"lat": PUDONG.lat, "lon": PUDONG.lon}})
    assert r.status_code == 200
    assert r.json["location"] == {"lat": PUDONG.lat, "lon": PUDONG.lon}
    assert r.json["territory_id"] == str(east.id)
    moved = world.agent.get(url).json
    assert moved["location"] == {"lat": PUDONG.lat, "lon": PUDONG.lon}

    r = world.agent.patch(
        url,
        json={"location": {"lat": PUDONG.lat, "lon": PUDONG.lon}, "territory_id": str(geo.puxi.id)},
    )
    assert r.json["territory_id"] == str(geo.puxi.id)  # an explicit choice wins
    r = world.agent.patch(url, json={"territory_id": None})
    assert r.status_code == 200 and r.json["territory_id"] is None

    # A site cannot change hands; unknown fields are refused.
    r = world.agent.patch(url, json={"customer_id": str(geo.bolt.id)})
    assert r.status_code == 422 and "customer_id" in r.json["errors"]["json"]
    r = world.agent.patch(url, json={"location": {"lat": -95, "lon": 0}})
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    r = world.agent.patch(url, json={"territory_id": f.new_id()})
    assert r.status_code == 422 and r.json["code"] == "unknown_territory"


# --- list filters -----------------------------------------------------------------------


def test_list_filters_by_customer_territory_and_text(world: Any, geo: Any) -> None:
    r = world.agent.get(BASE)
    assert r.status_code == 200
    assert ids(r) == [
        str(s.id) for s in (geo.hangzhou, geo.hongqiao, geo.jingan, geo.square, geo.pudong)
    ]
    assert json.loads(r.headers["X-Pagination"])["total"] == 5
    r = world.agent.get(f"{BASE}?customer_id={geo.bolt.id}")
    assert ids(r) == [str(geo.hongqiao.id), str(geo.pudong.id)]
    assert ids(world.agent.get(f"{BASE}?territory_id={geo.puxi.id}")) == [str(geo.jingan.id)]
    assert ids(world.agent.get(f"{BASE}?q=pudo")) == [str(geo.pudong.id)]
    assert ids(world.agent.get(f"{BASE}?sort=-name&customer_id={geo.bolt.id}")) == [
        str(geo.pudong.id),
        str(geo.hongqiao.id),
    ]


def test_bbox_filter(world: Any, geo: Any) -> None:
    # Central Shanghai only: People's Square, Jing'an, Pudong.
    r = world.agent.get(f"{BASE}?bbox=121.40,31.20,121.55,31.26")
    assert r.status_code == 200, r.json
    assert set(ids(r)) == {str(geo.square.id), str(geo.jingan.id), str(geo.pudong.id)}
    r = world.agent.get(f"{BASE}?bbox=121.40,31.20,121.55,31.26&customer_id={geo.bolt.id}")
    assert ids(r) == [str(geo.pudong.id)]
    # Greater region (includes Hangzhou), paginated with an exact total.
    r = world.agent.get(f"{BASE}?bbox=119,29,123,33&page_size=2")
    assert len(r.json) == 2 and json.loads(r.headers["X-Pagination"])["total"] == 5
    assert ids(world.agent.get(f"{BASE}?bbox=0,0,1,1")) == []
    # Tenant B's site in the same box stays invisible.
    assert str(geo.b_site.id) not in ids(world.agent.get(f"{BASE}?bbox=-180,-90,180,90"))


def test_near_filter_sorts_by_real_distance(world: Any, geo: Any) -> None:
    near = f"{PEOPLES_SQUARE.lat},{PEOPLES_SQUARE.lon}"
    r = world.agent.get(f"{BASE}?near={near}")  # default radius 5 km
    assert r.status_code == 200, r.json
    assert ids(r) == [str(geo.square.id), str(geo.pudong.id), str(geo.jingan.id)]
    for item, at in zip(r.json, (PEOPLES_SQUARE, PUDONG, JINGAN), strict=True):
        expected = haversine_m(PEOPLES_SQUARE, at)
        assert item["distance_m"] == pytest.approx(expected, rel=0.006, abs=0.5)
    assert r.json[1]["distance_m"] < r.json[2]["distance_m"]
    assert 2_000 < r.json[2]["distance_m"] < 3_500

    r = world.agent.get(f"{BASE}?near={near}&radius_m=20000")
    assert ids(r)[-1] == str(geo.hongqiao.id) and len(r.json) == 4
    assert r.json[-1]["distance_m"] == pytest.approx(
        haversine_m(PEOPLES_SQUARE, HONGQIAO), rel=0.006
    )
    r = world.agent.get(f"{BASE}?near={near}&radius_m=200000")
    assert ids(r)[-1] == str(geo.hangzhou.id)
    assert 150_000 < r.json[-1]["distance_m"] < 180_000
    r = world.agent.get(f"{BASE}?near={near}&radius_m=200000&customer_id={geo.bolt.id}&page_size=1")
    assert ids(r) == [str(geo.pudong.id)]
    assert json.loads(r.headers["X-Pagination"])["total"] == 2
    page2 = world.agent.get(
        f"{BASE}?near={near}&radius_m=200000&customer_id={geo.bolt.id}&page_size=1&page=2"
    )
    assert ids(page2) == [str(geo.hongqiao.id)]
    assert world.agent.get(f"{BASE}?near={BERLIN.lat},{BERLIN.lon}&radius_m=200000").json == []


def test_near_and_bbox_combine(world: Any, geo: Any) -> None:
    # East half of the centre only, then nearest first.
    r = world.agent.get(f"{BASE}?near=31.2304,121.4737&radius_m=20000&bbox=121.46,31.0,121.6,31.3")
    assert ids(r) == [str(geo.square.id), str(geo.pudong.id)]


@pytest.mark.parametrize(
    "query,code",
    [
        ("bbox=1,2,3", "invalid_geo_filter"),
        ("bbox=a,b,c,d", "invalid_geo_filter"),
        ("bbox=10,10,5,5", "invalid_geo_filter"),
        ("bbox=0,0,200,10", "invalid_geo_filter"),
        ("bbox=nan,0,1,1", "invalid_geo_filter"),
        ("near=31.2", "invalid_geo_filter"),
        ("near=91,0", "invalid_geo_filter"),
        ("near=x,y", "invalid_geo_filter"),
        ("near=inf,0", "invalid_geo_filter"),
        ("radius_m=1000", "invalid_geo_filter"),
        ("near=31,121&radius_m=200001", "validation_error"),
        ("near=31,121&radius_m=0", "validation_error"),
        ("near=31,121&radius_m=far", "validation_error"),
        ("near=31,121&radius_m=nan", "validation_error"),
        ("near=31,121&sort=name", "invalid_sort"),
        ("sort=distance", "invalid_sort"),
        ("customer_id=nope", "validation_error"),
    ],
)
def test_bad_geo_queries_are_422(world: Any, geo: Any, query: str, code: str) -> None:
    r = world.agent.get(f"{BASE}?{query}")
    assert r.status_code == 422, r.json
    assert r.json["code"] == code


# --- roles, technician visibility, tenants ----------------------------------------------


def test_roles(world: Any, geo: Any) -> None:
    assert world.api.get(BASE).status_code == 401
    assert world.api.get(f"{BASE}/{geo.square.id}").status_code == 401
    r = world.technician.get(BASE)
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    assert world.technician.post(BASE, json=site_body(geo.acme.id)).status_code == 403
    assert world.technician.patch(f"{BASE}/{geo.square.id}", json={"name": "x"}).status_code == 403


def test_technician_reads_only_sites_of_their_orders(world: Any, session: Any, geo: Any) -> None:
    f.make_work_order(session, world.a, geo.pudong, lead_technician_id=world.tech.id)
    f.make_work_order(session, world.a, geo.jingan, lead_technician_id=world.other_tech.id)
    session.commit()
    r = world.technician.get(f"{BASE}/{geo.pudong.id}")
    assert r.status_code == 200 and r.json["name"] == "Pudong"
    r = world.technician.get(f"{BASE}/{geo.jingan.id}")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    assert world.technician.get(f"{BASE}/{geo.square.id}").status_code == 404
    assert world.other_technician.get(f"{BASE}/{geo.jingan.id}").status_code == 200


def test_other_tenant_sites_are_404(world: Any, session: Any, geo: Any) -> None:
    url = f"{BASE}/{geo.b_site.id}"
    assert world.admin.get(url).status_code == 404
    assert world.admin.patch(url, json={"name": "pwned"}).status_code == 404
    session.refresh(geo.b_site)
    assert geo.b_site.name == "Foreign"
    assert world.b_api.get(f"{BASE}/{geo.square.id}").status_code == 404
    assert ids(world.b_api.get(BASE)) == [str(geo.b_site.id)]
    r = world.b_api.get(f"{BASE}?near={PEOPLES_SQUARE.lat},{PEOPLES_SQUARE.lon}")
    assert ids(r) == [str(geo.b_site.id)] and r.json[0]["distance_m"] == pytest.approx(0, abs=0.01)


def test_moving_a_site_moves_its_open_orders_only(world: Any, session: Any) -> None:
    """Open orders follow the site on the map; finished ones stay where the work was done."""
    from geo import Point
    from tests import factories as fx

    customer = fx.make_customer(session, world.a)
    site = fx.make_site(session, world.a, customer, at=Point(31.20, 121.40))
    open_order = fx.make_work_order(session, world.a, site, status="scheduled")
    done_order = fx.make_work_order(session, world.a, site, status="closed")
    session.commit()
    before = world.dispatcher.get(f"/api/v1/work-orders/{open_order.id}").headers["ETag"]
    r = world.dispatcher.patch(
        f"/api/v1/sites/{site.id}", json={"location": {"lat": 31.3, "lon": 121.5}}
    )
    assert r.status_code == 200, r.json
    moved = world.dispatcher.get(f"/api/v1/work-orders/{open_order.id}")
    assert moved.json["location"] == {"lat": 31.3, "lon": 121.5}
    assert moved.headers["ETag"] != before
    events = world.dispatcher.get(f"/api/v1/work-orders/{open_order.id}/events").json
    assert events[-1]["event_type"] == "relocated"
    kept = world.dispatcher.get(f"/api/v1/work-orders/{done_order.id}").json
    assert kept["location"] == {"lat": 31.2, "lon": 121.4}
