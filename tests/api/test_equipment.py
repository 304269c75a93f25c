"""Equipment: CRUD, component tree rules, config revisions, history, filters, access."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from geo import Point
from server.equipment.models import Equipment, EquipmentConfigRevision
from server.parts.models import Part, PartUsage
from server.work_orders.models import WorkOrderEvent, WorkOrderHelper
from tests import factories as f
from tests.factories import count_queries

BASE = "/api/v1/equipment"
# The tenant's local date (the factories' tenants live in Asia/Shanghai), not UTC's: after
# 16:00 UTC the two differ and warranty filters follow the tenant's calendar.
TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def nested(depth: int) -> Any:
    """A list inside a list ... ``depth`` levels deep."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def ids(response: Any) -> list[str]:
    return [item["id"] for item in response.json]


@pytest.fixture()
def plant(world: Any, session: Any) -> Any:
    """Two sites of one customer, another customer's site, and a tenant B site."""
    customer = f.make_customer(session, world.a)
    site = f.make_site(session, world.a, customer, name="Tower")
    annex = f.make_site(session, world.a, customer, name="Annex", at=Point(31.24, 121.48))
    other_customer = f.make_customer(session, world.a)
    other_site = f.make_site(session, world.a, other_customer, name="Elsewhere")
    b_site = f.make_site(session, world.b, f.make_customer(session, world.b))
    b_unit = f.make_equipment(session, world.b, b_site, name="Foreign lift")
    session.commit()
    return SimpleNamespace(
        customer=customer,
        site=site,
        annex=annex,
        other_customer=other_customer,
        other_site=other_site,
        b_site=b_site,
        b_unit=b_unit,
    )


def unit_body(site: Any, **extra: Any) -> dict[str, Any]:
    return {
        "site_id": str(site.id),
        "name": "Lift A",
        "category": "elevator",
        "manufacturer": "Kone",
        "model": "MonoSpace 500",
        "serial_number": f"K-{f.n()}",
        **extra,
    }


def create(api: Any, site: Any, **extra: Any) -> Any:
    r = api.post(BASE, json=unit_body(site, **extra))
    assert r.status_code == 201, r.json
    return r.json


# --- create / read / update -------------------------------------------------------------


def test_create_and_get_with_children(world: Any, plant: Any) -> None:
    r = world.dispatcher.post(
        BASE,
        json=unit_body(
            plant.site,
            install_date="2024-03-01",
            warranty_end="2027-03-01",
            configuration={"floors": 32, "speed_mps": 2.5, "doors": ["front", "rear"]},
        ),
    )
    assert r.status_code == 201, r.json
    lift = r.json
    assert lift["customer_id"] == str(plant.customer.id)  # derived from the site
    assert lift["status"] == "in_service" and lift["parent_id"] is None
    assert lift["config_revision"] == 1
    assert lift["configuration"]["doors"] == ["front", "rear"]
    motor = create(
        world.agent, plant.site, name="Door motor", category="component", parent_id=lift["id"]
    )
    brake = create(
        world.agent, plant.site, name="Brake", category="component", parent_id=lift["id"]
    )
    assert motor["parent_id"] == lift["id"]

    got = world.agent.get(f"{BASE}/{lift['id']}")
    assert got.status_code == 200
    assert got.json["install_date"] == "2024-03-01" and got.json["warranty_end"] == "2027-03-01"
    assert [c["id"] for c in got.json["children"]] == [brake["id"], motor["id"]]
    assert got.json["children"][0]["name"] == "Brake"
    assert world.agent.get(f"{BASE}/{motor['id']}").json["children"] == []


def test_patch_fields(world: Any, plant: Any) -> None:
    unit = create(world.admin, plant.site)
    r = world.agent.patch(
        f"{BASE}/{unit['id']}",
        json={"status": "out_of_service", "name": "Lift A (old)", "warranty_end": None},
    )
    assert r.status_code == 200, r.json
    assert r.json["status"] == "out_of_service" and r.json["name"] == "Lift A (old)"
    assert r.json["config_revision"] == 1  # no configuration change, no revision
    assert world.agent.get(f"{BASE}/{unit['id']}").json["status"] == "out_of_service"


@pytest.mark.parametrize(
    "change,field",
    [
        ({"category": "spaceship"}, "category"),
        ({"status": "broken"}, "status"),
        ({"name": ""}, "name"),
        ({"serial_number": 12345}, "serial_number"),
        ({"install_date": "yesterday"}, "install_date"),
        ({"install_date": "2025-01-10", "warranty_end": "2025-01-09"}, "warranty_end"),
        ({"configuration": ["not", "an", "object"]}, "configuration"),
        ({"configuration": {"blob": "x" * 33_000}}, "configuration"),
        ({"configuration": {"deep": nested(25)}}, "configuration"),
        ({"customer_id": "00000000-0000-0000-0000-000000000000"}, "customer_id"),
        ({"config_revision": 7}, "config_revision"),
        ({"site_id": "not-a-uuid"}, "site_id"),
    ],
)
def test_bad_equipment_payloads_are_422(
    world: Any, plant: Any, change: dict[str, Any], field: str
) -> None:
    r = world.admin.post(BASE, json={**unit_body(plant.site), **change})
    assert r.status_code == 422, r.json
    assert r.json["code"] == "validation_error" and field in r.json["errors"]["json"]


def test_warranty_may_end_on_install_day_but_not_before(world: Any, plant: Any) -> None:
    unit = create(world.admin, plant.site, install_date="2025-01-10", warranty_end="2025-01-10")
    # Only one side in the PATCH: checked against the stored other side.
    r = world.admin.patch(f"{BASE}/{unit['id']}", json={"warranty_end": "2025-01-01"})
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert "warranty_end" in r.json["errors"]["json"]
    r = world.admin.patch(f"{BASE}/{unit['id']}", json={"install_date": "2025-02-01"})
    assert r.status_code == 422
    r = world.admin.patch(f"{BASE}/{unit['id']}", json={"install_date": None})
    assert r.status_code == 200 and r.json["install_date"] is None


def test_config_size_limit_allows_about_32_kb(world: Any, plant: Any) -> None:
    assert create(world.admin, plant.site, configuration={"blob": "x" * 32_000})
    unit = create(world.admin, plant.site, configuration={"deep": nested(15)})
    assert unit["configuration"] == {"deep": nested(15)}


def test_unknown_and_foreign_site_is_422(world: Any, plant: Any) -> None:
    for site_id in (f.new_id(), str(plant.b_site.id)):
        r = world.admin.post(BASE, json={**unit_body(plant.site), "site_id": site_id})
        assert r.status_code == 422 and r.json["code"] == "unknown_site"
        assert "site_id" in r.json["errors"]["json"]


def test_duplicate_serial_per_manufacturer(world: Any, plant: Any) -> None:
    create(world.admin, plant.site, manufacturer="Kone", serial_number="SN-1")
    r = world.admin.post(
        BASE, json=unit_body(plant.annex, manufacturer="Kone", serial_number="SN-1")
    )
    assert r.status_code == 409 and r.json["code"] == "duplicate_serial"
    other = create(world.admin, plant.site, manufacturer="Otis", serial_number="SN-1")
    r = world.admin.patch(f"{BASE}/{other['id']}", json={"manufacturer": "Kone"})
    assert r.status_code == 409 and r.json["code"] == "duplicate_serial"
    # Tenant B has its own serial space.
    r = world.b_api.post(
        BASE, json=unit_body(plant.b_site, manufacturer="Kone", serial_number="SN-1")
    )
    assert r.status_code == 201


# --- component tree ---------------------------------------------------------------------


def test_parent_rules(world: Any, plant: Any) -> None:
    lift = create(world.admin, plant.site)
    annex_unit = create(world.admin, plant.annex)
    cases = [
        (annex_unit["id"], "parent_site_mismatch"),
        (f.new_id(), "unknown_parent"),
        (str(plant.b_unit.id), "unknown_parent"),
    ]
    for parent_id, code in cases:
        r = world.admin.post(BASE, json=unit_body(plant.site, parent_id=parent_id))
        assert r.status_code == 422 and r.json["code"] == code
        assert "parent_id" in r.json["errors"]["json"]
    r = world.admin.post(BASE, json=unit_body(plant.site, parent_id=lift["id"]))
    assert r.status_code == 201


def test_cycles_are_refused(world: Any, plant: Any) -> None:
    top = create(world.admin, plant.site, name="top")
    mid = create(world.admin, plant.site, name="mid", parent_id=top["id"])
    leaf = create(world.admin, plant.site, name="leaf", parent_id=mid["id"])
    for unit, parent in ((top, leaf), (top, mid), (mid, mid)):
        r = world.admin.patch(f"{BASE}/{unit['id']}", json={"parent_id": parent["id"]})
        assert r.status_code == 422 and r.json["code"] == "equipment_cycle", r.json
    # Re-hanging the leaf directly below the top is fine, and so is detaching.
    r = world.admin.patch(f"{BASE}/{leaf['id']}", json={"parent_id": top["id"]})
    assert r.status_code == 200 and r.json["parent_id"] == top["id"]
    r = world.admin.patch(f"{BASE}/{mid['id']}", json={"parent_id": None})
    assert r.status_code == 200 and r.json["parent_id"] is None


def test_moving_a_unit_moves_its_components(world: Any, session: Any, plant: Any) -> None:
    top = create(world.admin, plant.site, name="top")
    mid = create(world.admin, plant.site, name="mid", parent_id=top["id"])
    leaf = create(world.admin, plant.site, name="leaf", parent_id=mid["id"])
    # A component cannot move on its own while its parent stays.
    r = world.admin.patch(f"{BASE}/{mid['id']}", json={"site_id": str(plant.other_site.id)})
    assert r.status_code == 422 and r.json["code"] == "parent_site_mismatch"

    r = world.admin.patch(f"{BASE}/{top['id']}", json={"site_id": str(plant.other_site.id)})
    assert r.status_code == 200, r.json
    assert r.json["site_id"] == str(plant.other_site.id)
    assert r.json["customer_id"] == str(plant.other_customer.id)
    for unit in (mid, leaf):
        moved = world.admin.get(f"{BASE}/{unit['id']}").json
        assert moved["site_id"] == str(plant.other_site.id)
        assert moved["customer_id"] == str(plant.other_customer.id)
    r = world.admin.patch(f"{BASE}/{top['id']}", json={"site_id": str(plant.b_site.id)})
    assert r.status_code == 422 and r.json["code"] == "unknown_site"


# --- configuration revisions ------------------------------------------------------------


def test_config_revisions(world: Any, session: Any, plant: Any) -> None:
    unit = create(world.admin, plant.site, configuration={"floors": 10})
    order = f.make_work_order(session, world.a, plant.site)
    session.commit()
    url = f"{BASE}/{unit['id']}"

    r = world.dispatcher.patch(
        url,
        json={
            "configuration": {"floors": 12},
            "config_change_reason": "Two floors added",
            "config_change_work_order_id": str(order.id),
        },
    )
    assert r.status_code == 200, r.json
    assert r.json["config_revision"] == 2 and r.json["configuration"] == {"floors": 12}
    # The same configuration again is not a change.
    r = world.dispatcher.patch(url, json={"configuration": {"floors": 12}, "name": "Renamed"})
    assert r.json["config_revision"] == 2
    r = world.agent.patch(url, json={"configuration": {"floors": 12, "vip_mode": True}})
    assert r.json["config_revision"] == 3

    revs = world.agent.get(f"{url}/config-revisions")
    assert revs.status_code == 200
    assert [x["revision"] for x in revs.json] == [3, 2, 1]
    third, second, first = revs.json
    assert first["configuration"] == {"floors": 10} and first["reason"] is None
    assert first["changed_by_id"] == str(world.users["admin"].id)
    assert second["configuration"] == {"floors": 12}
    assert second["reason"] == "Two floors added"
    assert second["work_order_id"] == str(order.id)
    assert second["changed_by_id"] == str(world.users["dispatcher"].id)
    assert third["changed_by_id"] == str(world.users["agent"].id)
    assert third["configuration"] == {"floors": 12, "vip_mode": True}
    assert json.loads(revs.headers["X-Pagination"])["total"] == 3
    stored = session.scalars(
        select(EquipmentConfigRevision.revision).where(
            EquipmentConfigRevision.equipment_id == uuid.UUID(unit["id"])
        )
    ).all()
    assert sorted(stored) == [1, 2, 3]


def test_config_change_fields_need_a_configuration(world: Any, session: Any, plant: Any) -> None:
    unit = create(world.admin, plant.site)
    url = f"{BASE}/{unit['id']}"
    r = world.admin.patch(url, json={"config_change_reason": "because"})
    assert r.status_code == 422 and "config_change_reason" in r.json["errors"]["json"]
    b_order = f.make_work_order(session, world.b, plant.b_site)
    session.commit()
    r = world.admin.patch(
        url, json={"configuration": {"a": 1}, "config_change_work_order_id": str(b_order.id)}
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_work_order"
    assert world.admin.get(url).json["config_revision"] == 1


# --- list -------------------------------------------------------------------------------


@pytest.fixture()
def fleet(world: Any, session: Any, plant: Any) -> Any:
    """Four units with different models, categories, statuses and warranties."""
    day = dt.timedelta(days=1)
    units = SimpleNamespace(
        lift=f.make_equipment(
            session,
            world.a,
            plant.site,
            name="Lift 1",
            model="MonoSpace",
            serial_number="KN-001",
            install_date=TODAY - 900 * day,
            warranty_end=TODAY + 30 * day,
        ),
        escalator=f.make_equipment(
            session,
            world.a,
            plant.annex,
            name="escalator East",
            category="escalator",
            model="TravelMaster",
            install_date=TODAY - 2000 * day,
            warranty_end=TODAY - day,
        ),
        chiller=f.make_equipment(
            session,
            world.a,
            plant.other_site,
            name="Chiller",
            category="chiller",
            model="Evergreen",
            status="out_of_service",
            install_date=TODAY - 100 * day,
            warranty_end=TODAY,
        ),
        ahu=f.make_equipment(
            session, world.a, plant.site, name="AHU roof", category="ahu", model="AX"
        ),
    )
    session.commit()
    return units


def test_list_filters_and_sorts(world: Any, plant: Any, fleet: Any) -> None:
    def listed(query: str = "") -> list[str]:
        r = world.agent.get(f"{BASE}{query}")
        assert r.status_code == 200, r.json
        return [item["name"] for item in r.json]

    assert listed() == ["AHU roof", "Chiller", "escalator East", "Lift 1"]
    assert listed(f"?site_id={plant.site.id}") == ["AHU roof", "Lift 1"]
    assert listed(f"?customer_id={plant.customer.id}") == ["AHU roof", "escalator East", "Lift 1"]
    assert listed("?model=Evergreen") == ["Chiller"]
    assert listed("?category=escalator") == ["escalator East"]
    assert listed("?status=out_of_service") == ["Chiller"]
    assert listed("?warranty=active") == ["Chiller", "Lift 1"]  # ends today: still active
    assert listed("?warranty=expired") == ["escalator East"]
    assert listed("?q=kn-00") == ["Lift 1"]  # serial
    assert listed("?q=ROOF") == ["AHU roof"]
    assert listed("?sort=install_date") == ["escalator East", "Lift 1", "Chiller", "AHU roof"]
    assert listed("?sort=-warranty_end") == ["Lift 1", "Chiller", "escalator East", "AHU roof"]
    assert listed("?sort=-name&page_size=1&page=2") == ["escalator East"]
    assert "Foreign lift" not in listed()


@pytest.mark.parametrize(
    "query,code",
    [
        ("warranty=soon", "validation_error"),
        ("category=boat", "validation_error"),
        ("site_id=123", "validation_error"),
        ("model=%00", "invalid_text"),
        ("sort=serial_number", "invalid_sort"),
    ],
)
def test_bad_list_queries(world: Any, query: str, code: str) -> None:
    r = world.admin.get(f"{BASE}?{query}")
    assert r.status_code == 422 and r.json["code"] == code


# --- history ----------------------------------------------------------------------------


def at(days_ago: float) -> dt.datetime:
    return dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC) - dt.timedelta(days=days_ago)


@pytest.fixture()
def story(world: Any, session: Any, plant: Any) -> Any:
    """A lift with a door motor: orders, events, parts and config changes over 30 days."""
    lift = f.make_equipment(session, world.a, plant.site, name="Lift", configuration={"v": 1})
    motor = f.make_equipment(session, world.a, plant.site, name="Motor", parent_id=lift.id)
    other = f.make_equipment(session, world.a, plant.site, name="Other lift")
    part = Part(tenant_id=world.a.id, sku="BRK-9", name="Brake pad", serialized=True)
    session.add(part)
    session.flush()
    repair = f.make_work_order(
        session,
        world.a,
        plant.site,
        number="WO-1",
        title="Lift stuck",
        equipment_id=lift.id,
        status="completed",
        order_type="repair",
        lead_technician_id=world.tech.id,
        created_at=at(30),
    )
    service = f.make_work_order(
        session,
        world.a,
        plant.site,
        number="WO-2",
        title="Motor service",
        equipment_id=motor.id,
        status="scheduled",
        order_type="maintenance",
        lead_technician_id=world.other_tech.id,
        created_at=at(10),
    )
    elsewhere = f.make_work_order(
        session, world.a, plant.site, number="WO-3", equipment_id=other.id, created_at=at(5)
    )
    admin_id = world.users["admin"].id
    session.add_all(
        [
            WorkOrderEvent(
                tenant_id=world.a.id,
                work_order_id=repair.id,
                event_type="status_changed",
                from_status="on_site",
                to_status="completed",
                actor_user_id=world.users["technician"].id,
                occurred_at=at(28),
            ),
            WorkOrderEvent(
                tenant_id=world.a.id,
                work_order_id=service.id,
                event_type="created",
                to_status="new",
                actor_user_id=admin_id,
                occurred_at=at(9),
            ),
            WorkOrderEvent(
                tenant_id=world.a.id,
                work_order_id=elsewhere.id,
                event_type="created",
                occurred_at=at(4),
            ),
            # Used on the lift during the repair.
            PartUsage(
                tenant_id=world.a.id,
                work_order_id=repair.id,
                part_id=part.id,
                equipment_id=lift.id,
                quantity=Decimal("2"),
                serial_numbers=["P-1", "P-2"],
                used_at=at(29),
            ),
            # Recorded on the lift's order without naming a unit.
            PartUsage(
                tenant_id=world.a.id,
                work_order_id=repair.id,
                part_id=part.id,
                quantity=Decimal("0.5"),
                used_at=at(28.5),
            ),
            # Fitted to the lift while working on another order.
            PartUsage(
                tenant_id=world.a.id,
                work_order_id=elsewhere.id,
                part_id=part.id,
                equipment_id=lift.id,
                quantity=Decimal("1"),
                used_at=at(3),
            ),
            EquipmentConfigRevision(
                tenant_id=world.a.id,
                equipment_id=lift.id,
                revision=1,
                configuration={"v": 1},
                changed_by_id=admin_id,
                changed_at=at(40),
            ),
            EquipmentConfigRevision(
                tenant_id=world.a.id,
                equipment_id=lift.id,
                revision=2,
                configuration={"v": 2},
                changed_by_id=admin_id,
                changed_at=at(27),
                reason="After repair",
                work_order_id=repair.id,
            ),
            EquipmentConfigRevision(
                tenant_id=world.a.id,
                equipment_id=motor.id,
                revision=1,
                configuration={"rpm": 90},
                changed_at=at(8),
            ),
        ]
    )
    # Noise in tenant B.
    b_order = f.make_work_order(session, world.b, plant.b_site, equipment_id=plant.b_unit.id)
    session.add(
        WorkOrderEvent(tenant_id=world.b.id, work_order_id=b_order.id, event_type="created")
    )
    session.commit()
    return SimpleNamespace(lift=lift, motor=motor, repair=repair, service=service, part=part)


def test_history_of_a_unit(world: Any, story: Any) -> None:
    r = world.agent.get(f"{BASE}/{story.lift.id}/history")
    assert r.status_code == 200, r.json
    body = r.json
    assert [e["kind"] for e in body] == [
        "part_usage",  # 3 days ago, on WO-3
        "config_revision",  # 27 days
        "event",  # 28
        "part_usage",  # 28.5
        "part_usage",  # 29
        "work_order",  # 30
        "config_revision",  # 40
    ]
    times = [e["at"] for e in body]
    assert times == sorted(times, reverse=True)
    assert json.loads(r.headers["X-Pagination"])["total"] == 7

    recent_part, rev2, done, half, pair, order, rev1 = body
    assert recent_part["work_order_number"] == "WO-3" and recent_part["quantity"] == "1.000"
    assert rev2 == {
        "kind": "config_revision",
        "id": rev2["id"],
        "at": rev2["changed_at"],
        "equipment_id": str(story.lift.id),
        "work_order_id": str(story.repair.id),
        "work_order_number": "WO-1",
        "revision": 2,
        "configuration": {"v": 2},
        "changed_by_id": str(world.users["admin"].id),
        "changed_at": rev2["changed_at"],
        "reason": "After repair",
    }
    assert done["event_type"] == "status_changed"
    assert (done["from_status"], done["to_status"]) == ("on_site", "completed")
    assert done["actor_user_id"] == str(world.users["technician"].id)
    assert done["work_order_number"] == "WO-1" and done["occurred_at"] == done["at"]
    assert half["equipment_id"] == str(story.lift.id)  # taken from its order
    assert half["quantity"] == "0.500" and half["serial_numbers"] == []
    assert pair["part_sku"] == "BRK-9" and pair["part_name"] == "Brake pad"
    assert pair["serial_numbers"] == ["P-1", "P-2"] and pair["work_order_number"] == "WO-1"
    assert order["title"] == "Lift stuck" and order["status"] == "completed"
    assert order["order_type"] == "repair" and order["work_order_number"] == "WO-1"
    assert "title" not in rev1 and rev1["revision"] == 1


def test_history_with_children_and_pages(world: Any, story: Any) -> None:
    url = f"{BASE}/{story.lift.id}/history?include_children=true"
    full = world.agent.get(url)
    assert full.status_code == 200
    kinds = [(e["kind"], e.get("work_order_number")) for e in full.json]
    assert kinds[:4] == [
        ("part_usage", "WO-3"),
        ("config_revision", None),  # motor rev 1, 8 days ago
        ("event", "WO-2"),
        ("work_order", "WO-2"),
    ]
    assert len(full.json) == 10
    assert full.json[1]["equipment_id"] == str(story.motor.id)
    # Pages stitch together into the full, stable order.
    pages = [world.agent.get(f"{url}&page_size=3&page={n}").json for n in (1, 2, 3, 4)]
    assert [e["id"] for page in pages for e in page] == [e["id"] for e in full.json]
    assert [len(p) for p in pages] == [3, 3, 3, 1]


def test_history_runs_a_fixed_number_of_queries(
    world: Any, session: Any, connection: Any, plant: Any, story: Any
) -> None:
    url = f"{BASE}/{story.lift.id}/history?include_children=true"
    with count_queries(connection) as before:
        assert len(world.admin.get(url).json) == 10
    for i in range(5):
        extra = f.make_work_order(session, world.a, plant.site, equipment_id=story.motor.id)
        session.add(WorkOrderEvent(tenant_id=world.a.id, work_order_id=extra.id, event_type="x"))
        session.add(
            PartUsage(
                tenant_id=world.a.id,
                work_order_id=extra.id,
                part_id=story.part.id,
                quantity=Decimal(i + 1),
            )
        )
    session.commit()
    with count_queries(connection) as after:
        assert len(world.admin.get(url).json) == 25
    assert 6 <= len(after) == len(before) <= 12, after


def test_history_for_technicians(world: Any, story: Any) -> None:
    # The technician leads WO-1 on the lift: the lift (and its motor) are visible,
    # but only entries of their own orders plus config revisions show.
    r = world.technician.get(f"{BASE}/{story.lift.id}/history?include_children=true")
    assert r.status_code == 200
    numbers = {e.get("work_order_number") for e in r.json if e["kind"] != "config_revision"}
    assert numbers == {"WO-1"}
    assert sorted(e["kind"] for e in r.json) == sorted(
        ["work_order", "event", "part_usage", "part_usage"] + ["config_revision"] * 3
    )
    assert world.technician.get(f"{BASE}/{story.motor.id}").status_code == 200
    r = world.other_technician.get(f"{BASE}/{story.lift.id}/history")
    assert r.status_code == 404  # their order is on the motor, not the lift
    r = world.other_technician.get(f"{BASE}/{story.motor.id}/history")
    assert [e.get("work_order_number") for e in r.json if e["kind"] != "config_revision"] == [
        "WO-2",
        "WO-2",
    ]


# --- roles, technician visibility, tenants ----------------------------------------------


def test_roles(world: Any, plant: Any) -> None:
    unit = f.new_id()
    assert world.api.get(BASE).status_code == 401
    assert world.api.get(f"{BASE}/{unit}/history").status_code == 401
    r = world.technician.get(BASE)
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    assert world.technician.post(BASE, json=unit_body(plant.site)).status_code == 403
    assert world.technician.patch(f"{BASE}/{unit}", json={"name": "x"}).status_code == 403


def test_technician_reads_only_linked_units(world: Any, session: Any, plant: Any) -> None:
    lift = f.make_equipment(session, world.a, plant.site, name="Lift")
    motor = f.make_equipment(session, world.a, plant.site, name="Motor", parent_id=lift.id)
    coil = f.make_equipment(session, world.a, plant.site, name="Coil", parent_id=motor.id)
    helped = f.make_equipment(session, world.a, plant.site, name="Helped")
    unrelated = f.make_equipment(session, world.a, plant.site, name="Unrelated")
    f.make_work_order(
        session, world.a, plant.site, equipment_id=lift.id, lead_technician_id=world.tech.id
    )
    order = f.make_work_order(
        session, world.a, plant.site, equipment_id=helped.id, lead_technician_id=world.other_tech.id
    )
    session.add(
        WorkOrderHelper(tenant_id=world.a.id, work_order_id=order.id, technician_id=world.tech.id)
    )
    session.commit()
    for unit in (lift, motor, coil, helped):
        for suffix in ("", "/history", "/config-revisions"):
            r = world.technician.get(f"{BASE}/{unit.id}{suffix}")
            assert r.status_code == 200, (unit.name, suffix)
    for suffix in ("", "/history", "/config-revisions"):
        r = world.technician.get(f"{BASE}/{unrelated.id}{suffix}")
        assert r.status_code == 404 and r.json["code"] == "not_found"
    assert world.technician.get(f"{BASE}/{lift.id}").json["children"][0]["name"] == "Motor"
    assert world.other_technician.get(f"{BASE}/{lift.id}").status_code == 404


def test_other_tenant_units_are_404(world: Any, session: Any, plant: Any) -> None:
    url = f"{BASE}/{plant.b_unit.id}"
    for suffix in ("", "/history", "/config-revisions"):
        assert world.admin.get(f"{url}{suffix}").status_code == 404
    assert world.admin.patch(url, json={"name": "pwned"}).status_code == 404
    session.refresh(plant.b_unit)
    assert plant.b_unit.name == "Foreign lift"
    mine = create(world.admin, plant.site)
    assert world.b_api.get(f"{BASE}/{mine['id']}").status_code == 404
    assert ids(world.b_api.get(BASE)) == [str(plant.b_unit.id)]
    # A PATCH cannot re-parent onto another tenant's unit either.
    r = world.admin.patch(f"{BASE}/{mine['id']}", json={"parent_id": str(plant.b_unit.id)})
    assert r.status_code == 422 and r.json["code"] == "unknown_parent"
    stored = session.scalar(
        select(Equipment.parent_id).where(Equipment.id == uuid.UUID(mine["id"]))
    )
    assert stored is None
