"""The spare-parts ledger API: locations, postings, reversals, balances, serials, discrepancies.

Every test ends by checking the ledger invariant (each balance equals the sum of its
movements), so a refused posting that left a half-written balance behind fails here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.db import set_tenant
from server.parts.models import Part
from server.stock import service
from server.stock.models import StockBalance, StockLocation, StockMovement
from tests import factories as f

URL = "/api/v1/stock"


@pytest.fixture(autouse=True)
def books_agree(session: Any) -> Iterator[None]:
    """After every scenario: balances equal the sums of their movements, in every tenant."""
    yield
    session.expire_all()
    assert service.ledger_mismatches(session) == []


def add_part(session: Any, tenant: Any, sku: str, **kw: Any) -> Part:
    part = Part(tenant_id=tenant.id, sku=sku, name=kw.pop("name", sku.title()), **kw)
    session.add(part)
    session.flush()
    return part


@pytest.fixture()
def stock(world: Any, session: Any) -> Any:
    """Parts of tenant A (plain and serialised), a warehouse and world.tech's van via the API."""
    plain = add_part(session, world.a, "BRK-1", name="Brake pad")
    serial = add_part(session, world.a, "MTR-7", name="Door motor", serialized=True)
    b_part = add_part(session, world.b, "B-1")
    session.commit()
    r = world.admin.post(
        f"{URL}/locations", json={"kind": "warehouse", "code": "WH-1", "name": "Main"}
    )
    assert r.status_code == 201, r.json
    warehouse = r.json
    r = world.dispatcher.post(
        f"{URL}/locations",
        json={"kind": "van", "technician_id": str(world.tech.id), "warehouse_id": warehouse["id"]},
    )
    assert r.status_code == 201, r.json
    van = r.json
    return SimpleNamespace(
        plain=str(plain.id),
        serial=str(serial.id),
        b_part=str(b_part.id),
        wh=warehouse["id"],
        van=van["id"],
    )


def post(client: Any, **body: Any) -> Any:
    return client.post(f"{URL}/movements", json=body)


def receive(world: Any, part: str, to: str, quantity: Any, **kw: Any) -> dict[str, Any]:
    r = post(
        world.dispatcher, part_id=part, to_location_id=to, quantity=quantity, reason="receipt", **kw
    )
    assert r.status_code == 201, r.json
    created: dict[str, Any] = r.json
    return created


def transfer(world: Any, part: str, src: str, dst: str, quantity: Any, **kw: Any) -> Any:
    return post(
        world.dispatcher,
        part_id=part,
        from_location_id=src,
        to_location_id=dst,
        quantity=quantity,
        reason="transfer",
        **kw,
    )


def balances(client: Any, **params: Any) -> dict[tuple[str, str], str]:
    r = client.get(f"{URL}/balances", query_string=params)
    assert r.status_code == 200, r.json
    return {(row["location_id"], row["part_id"]): row["on_hand"] for row in r.json}


def on_hand(world: Any, location: str, part: str) -> str:
    return balances(world.admin, location_id=location, part_id=part).get((location, part), "none")


def count(session: Any, model: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)))


def tenant_session(session: Any, tenant: Any) -> Session:
    """A session scoped to one tenant in the test transaction (the ledger needs a tenant)."""
    s = Session(bind=session.get_bind(), join_transaction_mode="rollback_only")
    set_tenant(s, tenant.id)
    return s


# --- locations ---------------------------------------------------------------------------


def test_locations_create_list_and_patch(world: Any, stock: Any) -> None:
    van = world.admin.get(f"{URL}/locations/{stock.van}").json
    assert van["kind"] == "van" and van["technician_id"] == str(world.tech.id)
    assert van["warehouse_id"] == stock.wh and van["code"].startswith("VAN-")
    assert van["name"] == "Van Li Wei"
    # Every role reads locations; filters narrow them.
    r = world.technician.get(f"{URL}/locations", query_string={"kind": "warehouse"})
    assert r.status_code == 200 and [x["code"] for x in r.json] == ["WH-1"]
    r = world.agent.get(f"{URL}/locations", query_string={"technician_id": str(world.tech.id)})
    assert [x["id"] for x in r.json] == [stock.van]
    r = world.admin.patch(
        f"{URL}/locations/{stock.van}", json={"name": "Van 7", "warehouse_id": None}
    )
    assert r.status_code == 200 and r.json["name"] == "Van 7" and r.json["warehouse_id"] is None
    r = world.admin.patch(f"{URL}/locations/{stock.van}", json={"warehouse_id": stock.wh})
    assert r.json["warehouse_id"] == stock.wh
    r = world.admin.patch(f"{URL}/locations/{stock.wh}", json={"active": False})
    assert r.status_code == 200 and r.json["active"] is False
    r = world.admin.get(f"{URL}/locations", query_string={"active": "false"})
    assert [x["id"] for x in r.json] == [stock.wh]


def test_location_rules(world: Any, stock: Any) -> None:
    def create(client: Any = world.admin, **body: Any) -> Any:
        return client.post(f"{URL}/locations", json=body)

    r = create(kind="warehouse", code="WH-1", name="Again")
    assert r.status_code == 409 and r.json["code"] == "duplicate_code"
    # Tenant B has its own code space.
    assert create(world.b_api, kind="warehouse", code="WH-1", name="B").status_code == 201
    r = create(kind="warehouse", code="supplier", name="Sneaky")
    assert r.status_code == 422 and r.json["code"] == "reserved_code"
    r = create(kind="van", technician_id=str(world.tech.id))
    assert r.status_code == 409 and r.json["code"] == "duplicate_van"
    r = create(kind="van", technician_id=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json["code"] == "unknown_technician"
    r = create(kind="van", technician_id=str(world.other_tech.id), warehouse_id=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json["code"] == "unknown_location"
    r = create(kind="van", technician_id=str(world.other_tech.id), warehouse_id=stock.van)
    assert r.status_code == 422 and r.json["code"] == "not_a_warehouse"
    for body in (
        {"kind": "supplier", "code": "S", "name": "S"},
        {"kind": "warehouse", "code": "W2"},
        {"kind": "warehouse", "code": "W2", "name": "W", "technician_id": str(world.tech.id)},
        {"kind": "van"},
        {"kind": "warehouse", "code": "bad code", "name": "W"},
        {"kind": "warehouse", "code": "W2", "name": "W", "colour": "red"},
    ):
        r = create(**body)
        assert r.status_code == 422 and r.json["code"] == "validation_error", body
    r = world.admin.patch(f"{URL}/locations/{stock.wh}", json={"warehouse_id": stock.wh})
    assert r.status_code == 422 and r.json["code"] == "not_a_van"
    r = world.admin.patch(f"{URL}/locations/{stock.wh}", json={"active": "no"})
    assert r.status_code == 422
    receipt = receive(world, stock.plain, stock.wh, 1)
    r = world.admin.patch(f"{URL}/locations/{receipt['from_location_id']}", json={"name": "X"})
    assert r.status_code == 409 and r.json["code"] == "system_location"
    r = world.admin.patch(f"{URL}/locations/{stock.wh}", json={"active": False})
    assert r.status_code == 409 and r.json["code"] == "location_not_empty"
    # An inactive location takes no postings.
    assert (
        world.admin.patch(f"{URL}/locations/{stock.van}", json={"active": False}).status_code == 200
    )
    r = transfer(world, stock.plain, stock.wh, stock.van, 1)
    assert r.status_code == 409 and r.json["code"] == "location_inactive"


def test_location_roles_and_tenants(world: Any, stock: Any) -> None:
    body = {"kind": "warehouse", "code": "WH-9", "name": "Nine"}
    for client in (world.agent, world.technician):
        r = client.post(f"{URL}/locations", json=body)
        assert r.status_code == 403 and r.json["code"] == "role_forbidden"
        r = client.patch(f"{URL}/locations/{stock.wh}", json={"name": "Mine"})
        assert r.status_code == 403
    assert world.b_api.get(f"{URL}/locations/{stock.wh}").status_code == 404
    assert world.b_api.patch(f"{URL}/locations/{stock.wh}", json={"name": "B"}).status_code == 404
    assert world.b_api.get(f"{URL}/locations").json == []
    r = world.b_api.post(
        f"{URL}/locations", json={"kind": "van", "technician_id": str(world.other_tech.id)}
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_technician"


# --- postings ----------------------------------------------------------------------------


def test_receipt_into_a_warehouse(world: Any, stock: Any, session: Any) -> None:
    m = receive(world, stock.plain, stock.wh, 10, note="PO 4711")
    assert m["quantity"] == "10.000" and m["reason"] == "receipt" and m["source"] == "api"
    assert m["actor_id"] == str(world.users["dispatcher"].id) and m["note"] == "PO 4711"
    supplier = world.admin.get(f"{URL}/locations/{m['from_location_id']}").json
    assert supplier["kind"] == "supplier" and supplier["code"] == "SUPPLIER"
    assert on_hand(world, stock.wh, stock.plain) == "10.000"
    # The outside world goes negative: it is where stock came from.
    assert on_hand(world, supplier["id"], stock.plain) == "-10.000"
    # A second receipt reuses the same supplier account.
    m2 = receive(world, stock.plain, stock.wh, 2.5)
    assert m2["from_location_id"] == supplier["id"] and m2["quantity"] == "2.500"
    assert on_hand(world, stock.wh, stock.plain) == "12.500"
    assert world.agent.get(f"{URL}/movements/{m['id']}").json == m
    assert count(session, StockMovement) == 2


def test_transfer_warehouse_to_van(world: Any, stock: Any) -> None:
    receive(world, stock.plain, stock.wh, 10)
    r = transfer(world, stock.plain, stock.wh, stock.van, 3)
    assert r.status_code == 201, r.json
    assert on_hand(world, stock.wh, stock.plain) == "7.000"
    assert on_hand(world, stock.van, stock.plain) == "3.000"
    # The technician sees their own van only, whatever they ask for.
    mine = world.technician.get(f"{URL}/balances").json
    assert [(x["location_id"], x["on_hand"], x["available"]) for x in mine] == [
        (stock.van, "3.000", "3.000")
    ]
    assert mine[0]["sku"] == "BRK-1" and mine[0]["location_kind"] == "van"
    assert balances(world.technician, location_id=stock.wh) == {}
    assert balances(world.other_technician) == {}


def test_adjustments_and_rma_fill_in_the_outside_side(world: Any, stock: Any) -> None:
    found = post(
        world.admin, part_id=stock.plain, to_location_id=stock.wh, quantity=4, reason="adjustment"
    )
    assert found.status_code == 201, found.json
    adjustment = world.admin.get(f"{URL}/locations/{found.json['from_location_id']}").json
    assert adjustment["kind"] == "adjustment"
    lost = post(
        world.admin, part_id=stock.plain, from_location_id=stock.wh, quantity=1, reason="adjustment"
    )
    assert lost.status_code == 201 and lost.json["to_location_id"] == adjustment["id"]
    rma = post(
        world.admin, part_id=stock.plain, from_location_id=stock.wh, quantity=1, reason="rma"
    )
    assert rma.status_code == 201
    vendor = world.admin.get(f"{URL}/locations/{rma.json['to_location_id']}").json
    assert vendor["kind"] == "vendor"
    assert on_hand(world, stock.wh, stock.plain) == "2.000"
    r = post(world.admin, part_id=stock.plain, quantity=1, reason="adjustment")
    assert r.status_code == 422 and r.json["code"] == "missing_location"
    r = post(
        world.admin, part_id=stock.plain, to_location_id=stock.van, quantity=1, reason="transfer"
    )
    assert r.status_code == 422 and r.json["code"] == "missing_location"
    r = post(
        world.admin, part_id=stock.plain, from_location_id=stock.wh, quantity=1, reason="return"
    )
    assert r.status_code == 422 and r.json["code"] == "missing_location"


def test_insufficient_stock_is_409_and_writes_nothing(world: Any, stock: Any, session: Any) -> None:
    receive(world, stock.plain, stock.wh, 2)
    before = (count(session, StockMovement), count(session, StockBalance))
    all_before = balances(world.admin)
    r = transfer(world, stock.plain, stock.wh, stock.van, 5)
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock"
    assert r.json["on_hand"] == "2.000" and r.json["requested"] == "5"
    # The van never held any: not even its zero balance row may remain.
    r = transfer(world, stock.plain, stock.van, stock.wh, 1)
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock"
    assert (count(session, StockMovement), count(session, StockBalance)) == before
    assert balances(world.admin) == all_before


def test_serialised_parts(world: Any, stock: Any, session: Any) -> None:
    def send(**kw: Any) -> Any:
        return post(
            world.dispatcher, part_id=stock.serial, to_location_id=stock.wh, reason="receipt", **kw
        )

    cases: list[tuple[dict[str, Any], str]] = [
        ({"quantity": 2}, "serials_required"),
        ({"quantity": 2, "serial_numbers": ["A1"]}, "serial_count_mismatch"),
        ({"quantity": 2, "serial_numbers": ["A1", "A1"]}, "duplicate_serials"),
        ({"quantity": 1.5, "serial_numbers": ["A1", "A2"]}, "invalid_quantity"),
        ({"quantity": 1, "serial_numbers": [" "]}, "invalid_serials"),
    ]
    for body, code in cases:
        r = send(**body)
        assert r.status_code == 422 and r.json["code"] == code, (body, r.json)
    r = post(
        world.dispatcher,
        part_id=stock.plain,
        to_location_id=stock.wh,
        reason="receipt",
        quantity=1,
        serial_numbers=["X"],
    )
    assert r.status_code == 422 and r.json["code"] == "serials_not_allowed"
    assert count(session, StockMovement) == 0
    r = send(quantity=2, serial_numbers=["A1", "A2"])
    assert r.status_code == 201 and r.json["serial_numbers"] == ["A1", "A2"]
    r = transfer(world, stock.serial, stock.wh, stock.van, 1, serial_numbers=["A3"])
    assert r.status_code == 409 and r.json["code"] == "serial_not_here" and r.json["serial"] == "A3"
    assert (
        transfer(world, stock.serial, stock.wh, stock.van, 1, serial_numbers=["A1"]).status_code
        == 201
    )
    r = transfer(world, stock.serial, stock.wh, stock.van, 1, serial_numbers=["A1"])
    assert r.status_code == 409 and r.json["code"] == "serial_not_here"
    assert on_hand(world, stock.wh, stock.serial) == "1.000"
    assert on_hand(world, stock.van, stock.serial) == "1.000"


def test_reversal(world: Any, stock: Any, session: Any) -> None:
    m = receive(world, stock.plain, stock.wh, 5)
    r = world.dispatcher.post(f"{URL}/movements/{m['id']}/reverse", json={"note": "wrong PO"})
    assert r.status_code == 201, r.json
    rev = r.json
    assert rev["reason"] == "reversal" and rev["reverses_id"] == m["id"]
    assert (rev["from_location_id"], rev["to_location_id"]) == (stock.wh, m["from_location_id"])
    assert rev["note"] == "wrong PO" and rev["quantity"] == "5.000"
    assert on_hand(world, stock.wh, stock.plain) == "0.000"
    r = world.dispatcher.post(f"{URL}/movements/{m['id']}/reverse", json={})
    assert r.status_code == 409 and r.json["code"] == "already_reversed"
    r = world.dispatcher.post(f"{URL}/movements/{rev['id']}/reverse", json={})
    assert r.status_code == 409 and r.json["code"] == "is_reversal"
    # Undoing a receipt whose stock already left is refused, and leaves nothing behind.
    m2 = receive(world, stock.plain, stock.wh, 3)
    assert transfer(world, stock.plain, stock.wh, stock.van, 2).status_code == 201
    before = count(session, StockMovement)
    r = world.dispatcher.post(f"{URL}/movements/{m2['id']}/reverse")
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock"
    assert count(session, StockMovement) == before
    assert on_hand(world, stock.wh, stock.plain) == "1.000"
    assert (
        world.dispatcher.post(f"{URL}/movements/{uuid.uuid4()}/reverse", json={}).status_code == 404
    )
    r = world.agent.post(f"{URL}/movements/{m2['id']}/reverse", json={})
    assert r.status_code == 403


def test_serialised_reversal_moves_the_serial_back(world: Any, stock: Any) -> None:
    receive(world, stock.serial, stock.wh, 1, serial_numbers=["S-9"])
    moved = transfer(world, stock.serial, stock.wh, stock.van, 1, serial_numbers=["S-9"]).json
    assert world.admin.post(f"{URL}/movements/{moved['id']}/reverse").status_code == 201
    r = world.admin.get(f"{URL}/serials/S-9", query_string={"part_id": stock.serial})
    assert r.json["location_id"] == stock.wh
    assert [x["reason"] for x in r.json["movements"]] == ["receipt", "transfer", "reversal"]


@pytest.mark.parametrize(
    "body,code",
    [
        ({"quantity": 0}, "invalid_quantity"),
        ({"quantity": -1}, "invalid_quantity"),
        ({"quantity": 1.2345}, "invalid_quantity"),
        ({"quantity": 1e20}, "invalid_quantity"),
        ({"quantity": 1e30}, "invalid_quantity"),
        ({"quantity": -1e30}, "invalid_quantity"),
        ({"quantity": 10**400}, "invalid_quantity"),
        ({"quantity": 1e-30}, "invalid_quantity"),
        ({"quantity": "5"}, "validation_error"),
        ({"quantity": True}, "validation_error"),
        ({"quantity": None}, "validation_error"),
        ({"reason": "consumption"}, "validation_error"),
        ({"reason": "reversal"}, "validation_error"),
        ({"reason": "gift"}, "validation_error"),
        ({"colour": "red"}, "validation_error"),
        ({"part_id": "not-a-uuid"}, "validation_error"),
        ({"serial_numbers": "A1"}, "validation_error"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "validation_error"),
        ({"occurred_at": "2199-01-01T00:00:00Z"}, "occurred_at_in_future"),
        ({"same": True}, "same_location"),
        ({"part_id": None}, "validation_error"),
    ],
)
def test_bad_postings_are_4xx(
    world: Any, stock: Any, session: Any, body: dict[str, Any], code: str
) -> None:
    receive(world, stock.plain, stock.wh, 10)
    data: dict[str, Any] = {
        "part_id": stock.plain,
        "from_location_id": stock.wh,
        "to_location_id": stock.van,
        "quantity": 1,
        "reason": "transfer",
    }
    if body.pop("same", False):
        data["to_location_id"] = stock.wh
    data.update(body)
    before = count(session, StockMovement)
    r = world.dispatcher.post(f"{URL}/movements", json=data)
    assert r.status_code == 422 and r.json["code"] == code, r.json
    assert count(session, StockMovement) == before


def test_past_occurred_at_is_kept(world: Any, stock: Any) -> None:
    m = receive(world, stock.plain, stock.wh, 1, occurred_at="2026-01-02T03:04:05+08:00")
    assert m["occurred_at"].startswith("2026-01-01T19:04:05")


def test_unknown_or_foreign_ids_are_422(world: Any, stock: Any, session: Any) -> None:
    customer = f.make_customer(session, world.b)
    b_order = f.make_work_order(session, world.b, f.make_site(session, world.b, customer))
    session.commit()
    base = {"part_id": stock.plain, "to_location_id": stock.wh, "quantity": 1, "reason": "receipt"}
    cases = [
        ({"part_id": stock.b_part}, "unknown_part"),
        ({"part_id": str(uuid.uuid4())}, "unknown_part"),
        ({"to_location_id": str(uuid.uuid4())}, "unknown_location"),
        ({"from_location_id": str(uuid.uuid4())}, "unknown_location"),
        ({"work_order_id": str(b_order.id)}, "unknown_work_order"),
    ]
    for change, code in cases:
        r = post(world.admin, **{**base, **change})
        assert r.status_code == 422 and r.json["code"] == code, (change, r.json)
    # Tenant B cannot reach A's locations or movements either.
    b_wh = world.b_api.post(
        f"{URL}/locations", json={"kind": "warehouse", "code": "B", "name": "B"}
    ).json
    r = post(
        world.b_api,
        part_id=stock.b_part,
        from_location_id=b_wh["id"],
        to_location_id=stock.wh,
        quantity=1,
        reason="transfer",
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_location"
    r = post(
        world.b_api, part_id=stock.plain, to_location_id=b_wh["id"], quantity=1, reason="receipt"
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_part"
    m = receive(world, stock.plain, stock.wh, 1)
    assert world.b_api.get(f"{URL}/movements/{m['id']}").status_code == 404
    assert world.b_api.post(f"{URL}/movements/{m['id']}/reverse", json={}).status_code == 404
    assert world.b_api.get(f"{URL}/movements").json == []
    assert balances(world.b_api) == {}
    r = world.b_api.get(f"{URL}/balances", query_string={"location_id": stock.wh})
    assert r.json == [] and json.loads(r.headers["X-Pagination"])["total"] == 0
    assert (
        world.b_api.get(f"{URL}/serials/x", query_string={"part_id": stock.plain}).status_code
        == 404
    )


def test_work_order_link(world: Any, stock: Any, session: Any) -> None:
    customer = f.make_customer(session, world.a)
    order = f.make_work_order(session, world.a, f.make_site(session, world.a, customer))
    session.commit()
    receive(world, stock.plain, stock.wh, 5)
    r = transfer(world, stock.plain, stock.wh, stock.van, 2, work_order_id=str(order.id))
    assert r.status_code == 201 and r.json["work_order_id"] == str(order.id)
    listed = world.agent.get(f"{URL}/movements", query_string={"work_order_id": str(order.id)}).json
    assert [x["id"] for x in listed] == [r.json["id"]]


def test_posting_roles(world: Any, stock: Any) -> None:
    body = {"part_id": stock.plain, "to_location_id": stock.wh, "quantity": 1, "reason": "receipt"}
    for client in (world.agent, world.technician):
        r = post(client, **body)
        assert r.status_code == 403 and r.json["code"] == "role_forbidden"
    assert world.technician.get(f"{URL}/movements").status_code == 403
    assert world.agent.get(f"{URL}/movements").status_code == 200
    assert post(world.admin, **body).status_code == 201


# --- reading the ledger ------------------------------------------------------------------


def test_movement_list_filters(world: Any, stock: Any, session: Any) -> None:
    r1 = receive(world, stock.plain, stock.wh, 5)
    r2 = receive(world, stock.serial, stock.wh, 2, serial_numbers=["Q1", "Q2"])
    t1 = transfer(world, stock.serial, stock.wh, stock.van, 1, serial_numbers=["Q2"]).json
    # Distinct recording times, so the time filter below has an edge to cut at.
    session.execute(
        update(StockMovement)
        .where(StockMovement.id == uuid.UUID(r1["id"]))
        .values(recorded_at=f.aware(2026, 1, 1))
    )
    session.commit()

    def ids(**params: Any) -> list[str]:
        r = world.agent.get(f"{URL}/movements", query_string=params)
        assert r.status_code == 200, r.json
        return [x["id"] for x in r.json]

    assert ids() == [t1["id"], r2["id"], r1["id"]]
    assert ids(part_id=stock.plain) == [r1["id"]]
    assert ids(location_id=stock.van) == [t1["id"]]
    assert ids(location_id=stock.wh) == [t1["id"], r2["id"], r1["id"]]
    assert ids(reason="transfer") == [t1["id"]]
    assert ids(serial="Q2") == [t1["id"], r2["id"]]
    assert ids(serial="Q1") == [r2["id"]]
    assert ids(serial="nope") == []
    assert ids(recorded_to="2026-06-01T00:00:00Z") == [r1["id"]]
    assert ids(recorded_from="2026-06-01T00:00:00Z") == [t1["id"], r2["id"]]
    r = world.agent.get(f"{URL}/movements", query_string={"page_size": 1, "page": 2})
    assert [x["id"] for x in r.json] == [r2["id"]]
    assert json.loads(r.headers["X-Pagination"])["total"] == 3
    for bad in (
        {"reason": "gift"},
        {"recorded_from": "yesterday"},
        {"part_id": "x"},
    ):
        assert world.agent.get(f"{URL}/movements", query_string=bad).status_code == 422


def test_balance_filters(world: Any, stock: Any) -> None:
    receive(world, stock.plain, stock.wh, 5)
    receive(world, stock.serial, stock.wh, 1, serial_numbers=["Z1"])
    transfer(world, stock.plain, stock.wh, stock.van, 5)
    everything = balances(world.agent)
    assert everything[(stock.wh, stock.plain)] == "0.000"
    nonzero = balances(world.agent, nonzero="true")
    assert (stock.wh, stock.plain) not in nonzero and nonzero[(stock.van, stock.plain)] == "5.000"
    assert set(balances(world.agent, kind="warehouse")) == {
        (stock.wh, stock.plain),
        (stock.wh, stock.serial),
    }
    assert set(balances(world.agent, part_id=stock.serial, kind="warehouse")) == {
        (stock.wh, stock.serial)
    }
    r = world.agent.get(f"{URL}/balances", query_string={"kind": "moon"})
    assert r.status_code == 422


def test_balances_csv_export(world: Any, stock: Any, session: Any) -> None:
    formula = add_part(session, world.a, "EVIL-1", name='=HYPERLINK("x")')
    session.commit()
    receive(world, stock.plain, stock.wh, 2.5)
    receive(world, str(formula.id), stock.wh, 1)
    r = world.agent.get(
        f"{URL}/balances", query_string={"format": "csv", "kind": "warehouse", "page_size": 1}
    )
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    lines = r.get_data(as_text=True).splitlines()
    assert (
        lines[0]
        == "location_id,location_code,location_kind,part_id,sku,name,on_hand,reserved,available"
    )
    # Every row, not one page; formulas neutralised; quantities with three decimals.
    assert lines[1:] == [
        f"{stock.wh},WH-1,warehouse,{stock.plain},BRK-1,Brake pad,2.500,0.000,2.500",
        f'{stock.wh},WH-1,warehouse,{formula.id},EVIL-1,"\'=HYPERLINK(""x"")",1.000,0.000,1.000',
    ]
    assert json.loads(r.headers["X-Pagination"])["total"] == 2
    # The technician's export is their own van, i.e. nothing yet.
    r = world.technician.get(f"{URL}/balances", query_string={"format": "csv"})
    assert r.status_code == 200 and r.get_data(as_text=True).splitlines()[1:] == []
    assert world.agent.get(f"{URL}/balances", query_string={"format": "xml"}).status_code == 422


def test_serial_history(world: Any, stock: Any) -> None:
    first = receive(world, stock.serial, stock.wh, 2, serial_numbers=["SN-1", "SN/2"])
    moved = transfer(world, stock.serial, stock.wh, stock.van, 1, serial_numbers=["SN-1"]).json
    r = world.agent.get(f"{URL}/serials/SN-1", query_string={"part_id": stock.serial})
    assert r.status_code == 200, r.json
    assert r.json["location_id"] == stock.van and r.json["location_kind"] == "van"
    assert r.json["sku"] == "MTR-7" and r.json["serial"] == "SN-1"
    assert [x["id"] for x in r.json["movements"]] == [first["id"], moved["id"]]
    r = world.agent.get(f"{URL}/serials/SN/2", query_string={"part_id": stock.serial})
    assert r.status_code == 200 and r.json["location_id"] == stock.wh
    assert (
        world.agent.get(f"{URL}/serials/SN-404", query_string={"part_id": stock.serial}).status_code
        == 404
    )
    assert (
        world.agent.get(f"{URL}/serials/SN-1", query_string={"part_id": stock.plain}).status_code
        == 404
    )
    r = world.agent.get(f"{URL}/serials/SN-1")
    assert r.status_code == 422
    assert (
        world.technician.get(
            f"{URL}/serials/SN-1", query_string={"part_id": stock.serial}
        ).status_code
        == 403
    )


# --- discrepancies -----------------------------------------------------------------------


def test_discrepancy_resolve(world: Any, stock: Any, session: Any) -> None:
    # Field truth: the phone reports a part used that the van's books do not hold.
    s = tenant_session(session, world.a)
    part = s.get(Part, uuid.UUID(stock.plain))
    van = s.get(StockLocation, uuid.UUID(stock.van))
    assert part is not None and van is not None
    site = service.singleton(s, "scrap")
    service.post(
        s,
        part=part,
        source=van,
        destination=site,
        quantity=2,
        reason="consumption",
        origin="sync",
        field_truth=True,
    )
    s.commit()
    s.close()
    r = world.agent.get(f"{URL}/discrepancies", query_string={"status": "open"})
    assert r.status_code == 200 and len(r.json) == 1
    d = r.json[0]
    assert (
        d["kind"] == "negative_stock" and d["location_id"] == stock.van and d["quantity"] == "2.000"
    )
    url = f"{URL}/discrepancies/{d['id']}/resolve"
    for bad in ({}, {"resolution": "  "}, {"resolution": 5}):
        assert world.agent.post(url, json=bad).status_code == 422
    assert world.technician.post(url, json={"resolution": "x"}).status_code == 403
    assert world.b_api.post(url, json={"resolution": "x"}).status_code == 404
    r = world.agent.post(url, json={"resolution": " Miscount at loading. "})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "resolved" and r.json["resolution"] == "Miscount at loading."
    assert r.json["resolved_by_id"] == str(world.users["agent"].id) and r.json["resolved_at"]
    r = world.dispatcher.post(url, json={"resolution": "again"})
    assert r.status_code == 409 and r.json["code"] == "already_resolved"
    assert world.agent.get(f"{URL}/discrepancies", query_string={"status": "open"}).json == []
    assert (
        len(world.agent.get(f"{URL}/discrepancies", query_string={"location_id": stock.van}).json)
        == 1
    )
    assert world.b_api.get(f"{URL}/discrepancies").json == []
    assert world.technician.get(f"{URL}/discrepancies").status_code == 403
    assert (
        world.agent.post(
            f"{URL}/discrepancies/{uuid.uuid4()}/resolve", json={"resolution": "x"}
        ).status_code
        == 404
    )
