"""Routing rules over the API: CRUD and ordering, validation codes (nothing stored on
refusal), dry-run (stores nothing), and routing of orders created through the API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import set_tenant
from server.routing import service as routing_service
from server.routing.models import RoutingRule
from server.work_orders.models import WorkOrder
from tests import factories as f

URL = "/api/v1/routing/rules"
DRY = "/api/v1/routing/dry-run"
ORDERS = "/api/v1/work-orders"

FINANCE = {
    "name": "Refunds go to finance",
    "conditions": [{"field": "text", "op": "contains_any", "value": ["退款", "refund"]}],
    "actions": [
        {"action": "route_to_queue", "value": "finance"},
        {"action": "add_tag", "value": "refund"},
        {"action": "set_support_tier", "value": "L1"},
        {"action": "no_dispatch"},
    ],
}


def auto_assign(tech_id: Any) -> dict[str, Any]:
    return {
        "name": "Everything else to Li Wei",
        "conditions": [],
        "actions": [{"action": "assign_technician", "value": str(tech_id)}],
    }


@pytest.fixture()
def place(world: Any, session: Any) -> Any:
    """A gold customer's site in a territory, with equipment under warranty."""
    from types import SimpleNamespace

    territory = f.make_territory(session, world.a)
    customer = f.make_customer(session, world.a, tier="gold")
    site = f.make_site(session, world.a, customer, territory_id=territory.id)
    unit = f.make_equipment(
        session, world.a, site, model="Gen2", warranty_end=dt.date.today() + dt.timedelta(days=30)
    )
    f.make_skill(session, world.a, "hvac")
    session.commit()
    return SimpleNamespace(territory=territory, customer=customer, site=site, unit=unit)


def create(api: Any, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    r = api.post(URL, json=body)
    assert r.status_code == status, r.json
    result: dict[str, Any] = r.json
    return result


def names(world: Any) -> list[str]:
    r = world.agent.get(URL)
    assert r.status_code == 200
    return [rule["name"] for rule in r.json]


def rule_count(session: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(RoutingRule)))


# --- CRUD and order -----------------------------------------------------------------------


def test_create_read_list_in_order(world: Any) -> None:
    first = create(world.admin, FINANCE)
    second = create(world.admin, auto_assign(world.tech.id))
    assert first["position"] == 1 and second["position"] == 2
    assert first["active"] is True
    assert first["conditions"] == FINANCE["conditions"]
    assert first["actions"][3] == {"action": "no_dispatch", "value": None}
    assert world.agent.get(f"{URL}/{first['id']}").json == first
    assert names(world) == [FINANCE["name"], "Everything else to Li Wei"]


def test_insert_at_position_patch_move_and_delete_renumber(world: Any) -> None:
    a = create(world.admin, {**FINANCE, "name": "a"})
    b = create(world.admin, {**FINANCE, "name": "b"})
    c = create(world.admin, {**FINANCE, "name": "c", "position": 1})
    assert names(world) == ["c", "a", "b"]
    r = world.admin.patch(f"{URL}/{b['id']}", json={"position": 1, "name": "b2", "active": False})
    assert r.status_code == 200 and r.json["position"] == 1 and r.json["active"] is False
    assert names(world) == ["b2", "c", "a"]
    assert world.admin.delete(f"{URL}/{c['id']}").status_code == 204
    listed = world.agent.get(URL).json
    assert [(x["name"], x["position"]) for x in listed] == [("b2", 1), ("a", 2)]
    assert world.agent.get(f"{URL}/{c['id']}").status_code == 404
    assert a["id"] in {x["id"] for x in listed}


def test_reorder_needs_every_id_once(world: Any) -> None:
    ids = [create(world.admin, {**FINANCE, "name": n})["id"] for n in ("a", "b", "c")]
    r = world.admin.client.put(
        f"{URL}/positions",
        json={"ids": [ids[2], ids[0], ids[1]]},
        headers=world.admin._headers(None),
    )
    assert r.status_code == 200, r.json
    assert [x["name"] for x in r.json] == ["c", "a", "b"]
    assert names(world) == ["c", "a", "b"]
    for bad in ([ids[0], ids[1]], [*ids, ids[0]], [*ids[:2], str(uuid.uuid4())]):
        r = world.admin.client.put(
            f"{URL}/positions", json={"ids": bad}, headers=world.admin._headers(None)
        )
        assert r.status_code == 422 and r.json["code"] == "invalid_rule_order", r.json
    assert names(world) == ["c", "a", "b"]


def test_rules_are_per_tenant(world: Any) -> None:
    rule = create(world.admin, FINANCE)
    assert world.b_api.get(f"{URL}/{rule['id']}").status_code == 404
    assert world.b_api.get(URL).json == []
    assert world.b_api.patch(f"{URL}/{rule['id']}", json={"name": "x"}).status_code == 404


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change,code",
    [
        ({"conditions": [{"field": "mood", "op": "equals", "value": "x"}]}, "unknown_rule_field"),
        ({"conditions": [{"field": "text", "op": "regex", "value": "x"}]}, "unknown_rule_op"),
        ({"actions": [{"action": "send_flowers", "value": "x"}]}, "unknown_rule_action"),
        ({"actions": [{"action": "set_priority", "value": "asap"}]}, "invalid_rule_value"),
        (
            {"conditions": [{"field": "channel", "op": "in", "value": ["fax"]}]},
            "invalid_rule_value",
        ),
        (
            {
                "actions": [
                    {"action": "set_priority", "value": "low"},
                    {"action": "set_priority", "value": "high"},
                ]
            },
            "rule_contradiction",
        ),
        (
            {"actions": [{"action": "set_required_skills", "value": [{"skill": "nope"}]}]},
            "unknown_skill",
        ),
        (
            {"actions": [{"action": "assign_technician", "value": str(uuid.uuid4())}]},
            "unknown_technician",
        ),
        ({"actions": []}, "validation_error"),
        ({"surprise": 1}, "validation_error"),
        (
            {"conditions": [{"field": "text", "op": "contains_any", "value": ["x"], "z": 1}]},
            "validation_error",
        ),
        ({"position": "1"}, "validation_error"),
        ({"active": "yes"}, "validation_error"),
    ],
)
def test_invalid_rules_are_refused_with_a_code(
    world: Any, session: Any, change: dict[str, Any], code: str
) -> None:
    r = world.admin.post(URL, json={**FINANCE, **change})
    assert r.status_code == 422, r.json
    assert r.json["code"] == code
    assert rule_count(session) == 0


def test_error_points_at_the_offending_entry(world: Any) -> None:
    r = world.admin.post(
        URL,
        json={**FINANCE, "conditions": [FINANCE["conditions"][0], {"field": "x", "op": "equals"}]},
    )
    assert r.json["code"] == "unknown_rule_field"
    assert "conditions.1.field" in r.json["errors"]


def test_inactive_technician_is_refused(world: Any, session: Any) -> None:
    world.other_tech.active = False
    session.commit()
    r = world.admin.post(URL, json=auto_assign(world.other_tech.id))
    assert r.status_code == 422 and r.json["code"] == "technician_inactive"


def test_loops_are_refused_on_create_patch_and_reactivation(world: Any, session: Any) -> None:
    a = create(
        world.admin,
        {
            "name": "A",
            "conditions": [{"field": "category", "op": "equals", "value": "billing"}],
            "actions": [{"action": "set_priority", "value": "high"}],
        },
    )
    loop = {
        "name": "B",
        "conditions": [{"field": "priority", "op": "equals", "value": "high"}],
        "actions": [{"action": "set_category", "value": "billing"}],
    }
    r = world.admin.post(URL, json=loop)
    assert r.status_code == 422 and r.json["code"] == "rule_loop"
    assert "'A' writes priority read by 'B'" in r.json["message"]
    assert rule_count(session) == 1
    # Stored inactive it is harmless; switching it on closes the loop.
    b = create(world.admin, {**loop, "active": False})
    r = world.admin.patch(f"{URL}/{b['id']}", json={"active": True})
    assert r.status_code == 422 and r.json["code"] == "rule_loop"
    assert world.agent.get(f"{URL}/{b['id']}").json["active"] is False
    # Changing A's action so it no longer feeds B's condition is fine; back is refused.
    r = world.admin.patch(
        f"{URL}/{a['id']}", json={"actions": [{"action": "route_to_queue", "value": "billing"}]}
    )
    assert r.status_code == 200
    assert world.admin.patch(f"{URL}/{b['id']}", json={"active": True}).status_code == 200
    r = world.admin.patch(f"{URL}/{a['id']}", json={"actions": a["actions"]})
    assert r.status_code == 422 and r.json["code"] == "rule_loop"
    assert world.agent.get(f"{URL}/{a['id']}").json["actions"][0]["action"] == "route_to_queue"


# --- dry-run --------------------------------------------------------------------------------


def test_dry_run_shows_the_finance_route_and_stores_nothing(
    world: Any, session: Any, place: Any
) -> None:
    fin = create(world.admin, FINANCE)
    create(world.admin, auto_assign(world.tech.id))
    before = (rule_count(session), session.scalar(select(func.count()).select_from(WorkOrder)))
    r = world.agent.post(
        DRY, json={"subject": "申请退款", "body": "上个月多收费了", "channel": "email"}
    )
    assert r.status_code == 200, r.json
    assert [x["id"] for x in r.json["fired"]][0] == fin["id"]
    assert [x["name"] for x in r.json["fired"]] == [FINANCE["name"], "Everything else to Li Wei"]
    assert r.json["result"]["team_queue"] == "finance"
    assert r.json["result"]["tags"] == ["refund"]
    assert r.json["result"]["support_tier"] == "L1"
    assert r.json["result"]["lead_technician_id"] is None
    assert r.json["result"]["no_dispatch"] is True
    assert r.json["skipped"][0]["reason"] == "no_dispatch"
    other = world.agent.post(DRY, json={"subject": "Door stuck", "channel": "phone"}).json
    assert [x["name"] for x in other["fired"]] == ["Everything else to Li Wei"]
    assert other["result"]["lead_technician_id"] == str(world.tech.id)
    after = (rule_count(session), session.scalar(select(func.count()).select_from(WorkOrder)))
    assert after == before


def test_dry_run_derives_tier_model_warranty_territory(world: Any, place: Any) -> None:
    create(
        world.admin,
        {
            "name": "Gold Gen2 under warranty in the territory",
            "conditions": [
                {"field": "customer_tier", "op": "equals", "value": "gold"},
                {"field": "equipment_model", "op": "in", "value": ["gen2"]},
                {"field": "warranty", "op": "equals", "value": "in"},
                {"field": "territory", "op": "equals", "value": place.territory.code},
            ],
            "actions": [
                {"action": "set_priority", "value": "urgent"},
                {"action": "set_required_skills", "value": [{"skill": "hvac", "min_level": 2}]},
            ],
        },
    )
    r = world.agent.post(DRY, json={"subject": "noise", "equipment_id": str(place.unit.id)})
    assert r.status_code == 200, r.json
    assert r.json["facts"]["customer_tier"] == "gold"
    assert r.json["facts"]["warranty"] == "in"
    assert r.json["facts"]["equipment_model"] == "Gen2"
    assert r.json["result"]["priority"] == "urgent"
    assert r.json["result"]["required_skills"] == [{"skill": "hvac", "min_level": 2}]
    # Without the equipment: no model, no warranty, nothing fires.
    r = world.agent.post(DRY, json={"subject": "noise", "site_id": str(place.site.id)})
    assert r.json["fired"] == [] and r.json["facts"]["warranty"] == "none"


@pytest.mark.parametrize(
    "body,code",
    [
        ({"site_id": None}, "validation_error"),
        ({"site_id": "00000000-0000-0000-0000-000000000000"}, "unknown_site"),
        ({"equipment_id": "00000000-0000-0000-0000-000000000000"}, "unknown_equipment"),
        ({"customer_id": "00000000-0000-0000-0000-000000000000"}, "unknown_customer"),
        ({"channel": "fax"}, "validation_error"),
        ({"subject": 5}, "validation_error"),
        ({"tags": ["x"] * 21}, "validation_error"),
        ({"what": 1}, "validation_error"),
    ],
)
def test_dry_run_bad_input(world: Any, body: dict[str, Any], code: str) -> None:
    r = world.agent.post(DRY, json=body)
    assert r.status_code == 422 and r.json["code"] == code, r.json


def test_dry_run_refuses_another_tenants_site(world: Any, session: Any) -> None:
    site_b = f.make_site(session, world.b, f.make_customer(session, world.b))
    session.commit()
    r = world.agent.post(DRY, json={"site_id": str(site_b.id)})
    assert r.status_code == 422 and r.json["code"] == "unknown_site"


# --- orders created through the API are routed ----------------------------------------------


def order_body(site: Any, **extra: Any) -> dict[str, Any]:
    return {"title": "Lift", "order_type": "repair", "site_id": str(site.id), **extra}


def created_event(world: Any, order_id: str) -> dict[str, Any]:
    events = world.admin.get(f"{ORDERS}/{order_id}/events").json
    created: dict[str, Any] = next(e for e in events if e["event_type"] == "created")
    return created


def test_refund_order_ends_in_finance_queue_without_a_technician(world: Any, place: Any) -> None:
    fin = create(world.admin, FINANCE)
    create(world.admin, auto_assign(world.tech.id))
    r = world.agent.post(
        ORDERS,
        json=order_body(
            place.site,
            title="退款申请",
            description="Please refund the callout fee",
            lead_technician_id=str(world.other_tech.id),
        ),
    )
    assert r.status_code == 201, r.json
    order = r.json
    assert order["team_queue"] == "finance"
    assert order["tags"] == ["refund"]
    assert order["support_tier"] == "L1"
    assert order["lead_technician_id"] is None
    assert order["required_skills"] == []
    routing = created_event(world, order["id"])["payload"]["routing"]
    assert [x["id"] for x in routing["fired"]][0] == fin["id"]
    assert routing["no_dispatch"] is True
    # An ordinary request is auto-assigned by the second rule.
    r = world.agent.post(ORDERS, json=order_body(place.site, title="Door stuck"))
    assert r.json["lead_technician_id"] == str(world.tech.id)
    assert r.json["team_queue"] is None


def test_phone_orders_record_the_channel_and_are_routed(world: Any, place: Any) -> None:
    create(
        world.admin,
        {
            "name": "Phone calls are urgent",
            "conditions": [{"field": "channel", "op": "equals", "value": "phone"}],
            "actions": [{"action": "set_priority", "value": "urgent"}],
        },
    )
    r = world.agent.post(ORDERS, json=order_body(place.site, channel="phone"))
    assert r.status_code == 201, r.json
    assert r.json["channel"] == "phone" and r.json["priority"] == "urgent"
    event = created_event(world, r.json["id"])
    assert event["payload"]["channel"] == "phone"
    assert event["payload"]["routing"]["fired"][0]["name"] == "Phone calls are urgent"
    r = world.agent.post(ORDERS, json=order_body(place.site, channel="web"))
    assert r.json["channel"] == "web" and r.json["priority"] == "normal"
    assert "routing" not in created_event(world, r.json["id"])["payload"]


def test_stale_rule_references_never_fail_a_creation(world: Any, session: Any, place: Any) -> None:
    create(world.admin, auto_assign(world.other_tech.id))
    world.other_tech.active = False
    session.commit()
    r = world.agent.post(ORDERS, json=order_body(place.site))
    assert r.status_code == 201, r.json
    assert r.json["lead_technician_id"] is None
    skipped = created_event(world, r.json["id"])["payload"]["routing"]["skipped"]
    assert skipped[0]["reason"] == "technician_unavailable"


def test_other_tenants_rules_do_not_apply(world: Any, session: Any) -> None:
    create(world.admin, FINANCE)
    site_b = f.make_site(session, world.b, f.make_customer(session, world.b))
    session.commit()
    r = world.b_api.post(ORDERS, json=order_body(site_b, title="refund please"))
    assert r.status_code == 201 and r.json["team_queue"] is None


def test_no_rules_costs_one_query(world: Any, session: Any, connection: Any, place: Any) -> None:
    set_tenant(session, world.a.id)
    data = order_body(place.site)
    with f.count_queries(connection) as seen:
        routed = routing_service.route(db_session=session, data=data, site=place.site)
    assert routed is data
    assert len(seen) == 1 and "routing_rules" in seen[0]
