"""Customers: CRUD, filters, validation, roles, technician visibility, isolation, Customer 360."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from server.customers.models import Customer
from server.work_orders.models import WorkOrderHelper
from tests import factories as f
from tests.factories import count_queries

BASE = "/api/v1/customers"
NOW = dt.datetime.now(dt.UTC)


def new_customer(api: Any, **fields: Any) -> Any:
    body = {"code": f"C-{f.n()}", "name": "Jinmao Tower Management", **fields}
    return api.post(BASE, json=body)


def ids(response: Any) -> list[str]:
    return [item["id"] for item in response.json]


# --- create / read / update -------------------------------------------------------------


def test_create_get_and_patch_customer(world: Any) -> None:
    r = new_customer(
        world.agent,
        code="JM-001",
        tier="vip",
        notes="Gate code at reception.",
        contacts=[
            {"name": "Wang Fang", "phone": "+86 21 5047 0000", "role": "FM", "primary": True},
            {"name": "Chen Jie", "email": "chen@example.com"},
        ],
    )
    assert r.status_code == 201, r.json
    body = r.json
    assert body["code"] == "JM-001" and body["tier"] == "vip"
    assert body["contacts"] == [
        {
            "name": "Wang Fang",
            "phone": "+86 21 5047 0000",
            "email": None,
            "role": "FM",
            "primary": True,
        },
        {
            "name": "Chen Jie",
            "phone": None,
            "email": "chen@example.com",
            "role": None,
            "primary": False,
        },
    ]
    got = world.dispatcher.get(f"{BASE}/{body['id']}")
    assert got.status_code == 200 and got.json == body

    r = world.dispatcher.patch(
        f"{BASE}/{body['id']}",
        json={"name": "Jinmao Tower", "contacts": [{"name": "Li Na", "email": "li@example.com"}]},
    )
    assert r.status_code == 200, r.json
    assert r.json["name"] == "Jinmao Tower" and r.json["tier"] == "vip"
    assert [c["name"] for c in r.json["contacts"]] == ["Li Na"]
    assert world.admin.get(f"{BASE}/{body['id']}").json["name"] == "Jinmao Tower"


def test_tier_defaults_to_standard(world: Any) -> None:
    r = new_customer(world.admin)
    assert r.status_code == 201 and r.json["tier"] == "standard" and r.json["contacts"] == []


def test_duplicate_code_is_409_within_tenant_only(world: Any, session: Any) -> None:
    assert new_customer(world.admin, code="DUP").status_code == 201
    r = new_customer(world.agent, code="DUP")
    assert r.status_code == 409 and r.json["code"] == "duplicate_customer_code"
    # Another tenant may use the same code.
    assert new_customer(world.b_api, code="DUP").status_code == 201
    other = new_customer(world.admin, code="OTHER").json
    r = world.admin.patch(f"{BASE}/{other['id']}", json={"code": "DUP"})
    assert r.status_code == 409 and r.json["code"] == "duplicate_customer_code"
    # Re-sending one's own code is not a clash.
    assert world.admin.patch(f"{BASE}/{other['id']}", json={"code": "OTHER"}).status_code == 200


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"tier": "gold"}, "tier"),
        ({"name": 123}, "name"),
        ({"name": ""}, "name"),
        ({"code": " padded "}, "code"),
        ({"code": "x" * 65}, "code"),
        ({"colour": "red"}, "colour"),
        ({"contacts": {"name": "x"}}, "contacts"),
        ({"contacts": [{"name": "No Way To Reach"}]}, "contacts"),
        ({"contacts": [{"name": "A", "email": "not-an-email"}]}, "contacts"),
        ({"contacts": [{"name": "A", "phone": "call me"}]}, "contacts"),
        ({"contacts": [{"name": "A", "email": "a@example.com", "pager": "1"}]}, "contacts"),
        (
            {
                "contacts": [
                    {"name": "A", "email": "a@example.com", "primary": True},
                    {"name": "B", "email": "b@example.com", "primary": True},
                ]
            },
            "contacts",
        ),
    ],
)
def test_bad_customer_payloads_are_422(world: Any, payload: dict[str, Any], field: str) -> None:
    # Encoded here (ASCII escapes) so lone surrogates reach the server as a client sends them.
    body = json.dumps({"code": f"C-{f.n()}", "name": "Valid", **payload})
    r = world.admin.post(BASE, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.json
    assert r.json["code"] == "validation_error"
    assert field in r.json["errors"]["json"]


def test_two_primary_contacts_message(world: Any) -> None:
    contacts = [
        {"name": "A", "email": "a@example.com", "primary": True},
        {"name": "B", "email": "b@example.com", "primary": True},
    ]
    r = new_customer(world.admin, contacts=contacts)
    assert r.json["errors"]["json"]["contacts"] == ["At most one contact can be primary."]
    customer = new_customer(world.admin).json
    r = world.admin.patch(f"{BASE}/{customer['id']}", json={"contacts": contacts})
    assert r.status_code == 422 and "contacts" in r.json["errors"]["json"]


def test_missing_required_fields(world: Any) -> None:
    r = world.admin.post(BASE, json={})
    assert r.status_code == 422
    assert set(r.json["errors"]["json"]) == {"code", "name"}


def test_unknown_id_is_404(world: Any) -> None:
    r = world.admin.get(f"{BASE}/{f.new_id()}")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    assert world.admin.patch(f"{BASE}/{f.new_id()}", json={"name": "x"}).status_code == 404
    assert world.admin.get(f"{BASE}/{f.new_id()}/overview").status_code == 404


# --- list -------------------------------------------------------------------------------


@pytest.fixture()
def three(world: Any, session: Any) -> Any:
    """Three customers of tenant A (one VIP) and one of tenant B."""
    from types import SimpleNamespace

    alpha = f.make_customer(session, world.a, code="ALP-1", name="Alpha Lifts", tier="vip")
    beta = f.make_customer(session, world.a, code="BET-2", name="beta 100% Cooling")
    gamma = f.make_customer(session, world.a, code="GAM-3", name="Gamma Towers")
    alpha.created_at = NOW - dt.timedelta(days=3)
    beta.created_at = NOW - dt.timedelta(days=1)
    gamma.created_at = NOW - dt.timedelta(days=2)
    foreign = f.make_customer(session, world.b, code="ALP-9", name="Alpha Foreign")
    session.commit()
    return SimpleNamespace(alpha=alpha, beta=beta, gamma=gamma, foreign=foreign)


def test_list_sorts_filters_and_paginates(world: Any, three: Any) -> None:
    r = world.agent.get(BASE)
    assert r.status_code == 200
    assert ids(r) == [str(three.alpha.id), str(three.beta.id), str(three.gamma.id)]
    assert json.loads(r.headers["X-Pagination"])["total"] == 3

    assert ids(world.agent.get(f"{BASE}?sort=-code")) == [
        str(three.gamma.id),
        str(three.beta.id),
        str(three.alpha.id),
    ]
    assert ids(world.agent.get(f"{BASE}?sort=created_at")) == [
        str(three.alpha.id),
        str(three.gamma.id),
        str(three.beta.id),
    ]
    assert ids(world.agent.get(f"{BASE}?tier=vip")) == [str(three.alpha.id)]
    # q matches name or code, case-insensitively; LIKE wildcards are literal.
    assert ids(world.agent.get(f"{BASE}?q=BETA")) == [str(three.beta.id)]
    assert ids(world.agent.get(f"{BASE}?q=gam-")) == [str(three.gamma.id)]
    assert ids(world.agent.get(f"{BASE}", query_string={"q": "100%"})) == [str(three.beta.id)]
    assert ids(world.agent.get(f"{BASE}", query_string={"q": "%"})) == [str(three.beta.id)]

    page = world.agent.get(f"{BASE}?page=2&page_size=2")
    assert ids(page) == [str(three.gamma.id)]
    assert json.loads(page.headers["X-Pagination"])["total_pages"] == 2


@pytest.mark.parametrize(
    "query,code",
    [
        ("sort=password", "invalid_sort"),
        ("tier=gold", "validation_error"),
        ("page_size=1000", "validation_error"),
        ("q=%00", "invalid_text"),
    ],
)
def test_bad_list_queries_are_422(world: Any, query: str, code: str) -> None:
    r = world.admin.get(f"{BASE}?{query}")
    assert r.status_code == 422 and r.json["code"] == code


# --- roles, technician visibility, tenants ----------------------------------------------


def test_roles(world: Any, three: Any) -> None:
    assert world.api.get(BASE).status_code == 401
    assert world.api.post(BASE, json={"code": "X", "name": "X"}).status_code == 401
    r = world.technician.get(BASE)
    assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    assert new_customer(world.technician).status_code == 403
    r = world.technician.patch(f"{BASE}/{three.alpha.id}", json={"name": "x"})
    assert r.status_code == 403
    for api in (world.admin, world.dispatcher, world.agent):
        assert api.get(BASE).status_code == 200


def test_technician_sees_only_customers_of_their_orders(
    world: Any, session: Any, three: Any
) -> None:
    lead_site = f.make_site(session, world.a, three.alpha)
    helper_site = f.make_site(session, world.a, three.beta)
    other_site = f.make_site(session, world.a, three.gamma)
    f.make_work_order(session, world.a, lead_site, lead_technician_id=world.tech.id)
    helped = f.make_work_order(
        session, world.a, helper_site, lead_technician_id=world.other_tech.id
    )
    session.add(
        WorkOrderHelper(tenant_id=world.a.id, work_order_id=helped.id, technician_id=world.tech.id)
    )
    f.make_work_order(session, world.a, other_site, lead_technician_id=world.other_tech.id)
    session.commit()

    assert world.technician.get(f"{BASE}/{three.alpha.id}").status_code == 200
    assert world.technician.get(f"{BASE}/{three.beta.id}").status_code == 200
    r = world.technician.get(f"{BASE}/{three.gamma.id}")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    assert world.technician.get(f"{BASE}/{three.gamma.id}/overview").status_code == 404
    assert world.technician.get(f"{BASE}/{three.alpha.id}/overview").status_code == 200
    # The other technician leads on gamma and beta but not alpha.
    assert world.other_technician.get(f"{BASE}/{three.alpha.id}").status_code == 404
    assert world.other_technician.get(f"{BASE}/{three.gamma.id}").status_code == 200


def test_other_tenant_is_invisible(world: Any, session: Any, three: Any) -> None:
    assert str(three.foreign.id) not in ids(world.admin.get(BASE))
    assert world.admin.get(f"{BASE}/{three.foreign.id}").status_code == 404
    assert world.admin.get(f"{BASE}/{three.foreign.id}/overview").status_code == 404
    r = world.admin.patch(f"{BASE}/{three.foreign.id}", json={"name": "pwned"})
    assert r.status_code == 404
    session.refresh(three.foreign)
    assert three.foreign.name == "Alpha Foreign"
    assert world.b_api.get(f"{BASE}/{three.alpha.id}").status_code == 404
    assert ids(world.b_api.get(BASE)) == [str(three.foreign.id)]


# --- Customer 360 -----------------------------------------------------------------------


def build_customer_360(session: Any, world: Any, n_items: int) -> Customer:
    """A customer with n sites, n units, n open and n+21 finished orders over two years."""
    customer = f.make_customer(session, world.a, name=f"Overview {n_items}")
    sites = [f.make_site(session, world.a, customer, name=f"S{i}") for i in range(n_items)]
    for i, site in enumerate(sites):
        f.make_equipment(session, world.a, site, name=f"U{i}")
        f.make_work_order(
            session, world.a, site, status="scheduled", created_at=NOW - dt.timedelta(days=i)
        )
    for i in range(n_items + 21):
        f.make_work_order(
            session,
            world.a,
            sites[i % n_items],
            title=f"past {i}",
            status=("closed", "completed", "cancelled")[i % 3],
            created_at=NOW - dt.timedelta(days=10 + 40 * i),
        )
    session.commit()
    return customer


def test_overview_contents(world: Any, session: Any) -> None:
    customer = build_customer_360(session, world, 3)
    other = f.make_customer(session, world.a)
    other_site = f.make_site(session, world.a, other)
    f.make_equipment(session, world.a, other_site)
    f.make_work_order(session, world.a, other_site, status="new")
    session.commit()

    r = world.agent.get(f"{BASE}/{customer.id}/overview")
    assert r.status_code == 200, r.json
    body = r.json
    assert body["customer"]["id"] == str(customer.id)
    assert [s["name"] for s in body["sites"]] == ["S0", "S1", "S2"]
    assert all(s["location"] == {"lat": 31.2304, "lon": 121.4737} for s in body["sites"])
    assert [e["name"] for e in body["equipment"]] == ["U0", "U1", "U2"]
    assert {e["site_id"] for e in body["equipment"]} == {s["id"] for s in body["sites"]}
    open_orders = body["open_work_orders"]
    assert [o["status"] for o in open_orders] == ["scheduled"] * 3
    created = [o["created_at"] for o in open_orders]
    assert created == sorted(created, reverse=True)
    recent = body["recent_work_orders"]
    assert len(recent) == 20
    assert recent[0]["title"] == "past 0" and recent[-1]["title"] == "past 19"
    assert {o["status"] for o in recent} == {"closed", "completed", "cancelled"}
    # Past orders at 10, 50, 90, ... 330 days ago are within 365 days: 9 of them + 3 open.
    assert body["counts"] == {
        "sites": 3,
        "equipment": 3,
        "open_work_orders": 3,
        "work_orders_last_365_days": 12,
    }


def test_overview_runs_a_fixed_number_of_queries(world: Any, session: Any, connection: Any) -> None:
    small = build_customer_360(session, world, 1)
    large = build_customer_360(session, world, 6)
    with count_queries(connection) as small_queries:
        assert world.admin.get(f"{BASE}/{small.id}/overview").status_code == 200
    with count_queries(connection) as large_queries:
        r = world.admin.get(f"{BASE}/{large.id}/overview")
    assert r.status_code == 200 and len(r.json["sites"]) == 6
    assert 6 <= len(large_queries) == len(small_queries) <= 10, large_queries


def test_overview_for_technician_shows_only_their_orders(world: Any, session: Any) -> None:
    customer = f.make_customer(session, world.a)
    mine_site = f.make_site(session, world.a, customer, name="Mine")
    other_site = f.make_site(session, world.a, customer, name="Other")
    mine_unit = f.make_equipment(session, world.a, mine_site)
    f.make_equipment(session, world.a, other_site)
    mine = f.make_work_order(
        session,
        world.a,
        mine_site,
        equipment_id=mine_unit.id,
        lead_technician_id=world.tech.id,
        status="dispatched",
    )
    f.make_work_order(session, world.a, other_site, status="new")
    session.commit()

    r = world.technician.get(f"{BASE}/{customer.id}/overview")
    assert r.status_code == 200
    assert [o["id"] for o in r.json["open_work_orders"]] == [str(mine.id)]
    assert [s["name"] for s in r.json["sites"]] == ["Mine"]
    assert [e["id"] for e in r.json["equipment"]] == [str(mine_unit.id)]
    assert r.json["counts"] == {
        "sites": 1,
        "equipment": 1,
        "open_work_orders": 1,
        "work_orders_last_365_days": 1,
    }
    office = world.dispatcher.get(f"{BASE}/{customer.id}/overview").json
    assert office["counts"]["open_work_orders"] == 2 and len(office["sites"]) == 2
