"""Parts requisitions, reservations and returns over the API.

Every test ends by checking both invariants: each balance's on hand equals the sum of its
movements, and each balance's reserved equals what reservations and requisitions hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import set_tenant
from server.parts.models import Part
from server.stock import requisitions, service
from server.stock.models import (
    Requisition,
    Reservation,
    StockBalance,
    StockLocation,
    StockMovement,
)
from tests import factories as f

URL = "/api/v1/stock"
REQ = f"{URL}/requisitions"


@pytest.fixture(autouse=True)
def books_agree(request: Any) -> Iterator[None]:
    """After every scenario the ledger and the reservations agree with the balances."""
    if "session" not in request.fixturenames:
        # The concurrency test commits for real: an open test transaction would hold
        # SQLite's write lock against its threads.
        yield
        return
    session = request.getfixturevalue("session")
    yield
    session.expire_all()
    assert service.ledger_mismatches(session) == []
    assert requisitions.reservation_mismatches(session) == []


@pytest.fixture()
def depot(world: Any, session: Any) -> Any:
    """Tenant A: a warehouse stocked from the supplier, parts cheap and dear, orders."""
    set_tenant(session, world.a.id)
    warehouse = StockLocation(kind="warehouse", code="WH-R", name="Main warehouse")
    other_wh = StockLocation(kind="warehouse", code="WH-S", name="Second warehouse")
    relay = Part(sku="RL-1", name="Relay", unit_cost=Decimal("4.00"))
    pump = Part(sku="PMP-1", name="Pump", unit_cost=Decimal("150.00"))
    board = Part(sku="PCB-1", name="Board", serialized=True, unit_cost=Decimal("40.00"))
    empty = Part(sku="NONE-1", name="Never stocked", unit_cost=Decimal("1.00"))
    session.add_all([warehouse, other_wh, relay, pump, board, empty])
    session.flush()
    supplier = service.singleton(session, "supplier")
    for part, quantity, serials in (
        (relay, 20, None),
        (pump, 5, None),
        (board, 3, ["B-1", "B-2", "B-3"]),
    ):
        service.post(
            session,
            part=part,
            source=supplier,
            destination=warehouse,
            quantity=quantity,
            reason="receipt",
            serials=serials,
        )
    site = f.make_site(session, world.a, f.make_customer(session, world.a))
    order = f.make_work_order(session, world.a, site, lead_technician_id=world.tech.id)
    other_order = f.make_work_order(session, world.a, site, lead_technician_id=world.other_tech.id)
    closed = f.make_work_order(
        session, world.a, site, lead_technician_id=world.tech.id, status="closed"
    )
    session.commit()
    return SimpleNamespace(
        s=session,
        wh=warehouse,
        other_wh=other_wh,
        relay=relay,
        pump=pump,
        board=board,
        empty=empty,
        order=order,
        other_order=other_order,
        closed=closed,
    )


def balance(d: Any, location: StockLocation, part: Part) -> tuple[Decimal, Decimal]:
    """(on hand, reserved) of a part at a location, (0, 0) when there is no row."""
    d.s.expire_all()
    row = d.s.execute(
        select(StockBalance.on_hand, StockBalance.reserved).where(
            StockBalance.location_id == location.id, StockBalance.part_id == part.id
        )
    ).first()
    if row is None:
        return Decimal("0.000"), Decimal("0.000")
    return Decimal(row[0]).quantize(Decimal("0.001")), Decimal(row[1]).quantize(Decimal("0.001"))


def transit(d: Any) -> StockLocation:
    return service.singleton(d.s, "transit")


def van(d: Any, world: Any) -> StockLocation:
    return service.van_for(d.s, world.tech.id)


def movements(d: Any) -> int:
    d.s.expire_all()
    return int(d.s.scalar(select(func.count()).select_from(StockMovement)))


def request(client: Any, d: Any, *lines: tuple[Part, Any], **body: Any) -> Any:
    payload: dict[str, Any] = {
        "warehouse_id": str(d.wh.id),
        "lines": [{"part_id": str(p.id), "quantity": q} for p, q in lines],
    }
    payload.update(body)
    return client.post(REQ, json=payload)


def filed(client: Any, d: Any, *lines: tuple[Part, Any], **body: Any) -> dict[str, Any]:
    r = request(client, d, *lines, **body)
    assert r.status_code == 201, r.json
    created: dict[str, Any] = r.json
    return created


def act(client: Any, req: dict[str, Any], action: str, body: Any = None) -> Any:
    return client.post(f"{REQ}/{req['id']}/{action}", json=body if body is not None else {})


def line_of(req: dict[str, Any], part: Part) -> dict[str, Any]:
    found: dict[str, Any] = next(x for x in req["lines"] if x["part_id"] == str(part.id))
    return found


# --- the happy path ----------------------------------------------------------------------


def test_small_request_is_auto_approved_shipped_in_parts_and_received(
    world: Any, depot: Any
) -> None:
    d = depot
    req = filed(world.technician, d, (d.relay, 5), work_order_id=str(d.order.id), note="Door 3")
    assert req["status"] == "approved" and req["auto_approved"] is True
    assert req["number"] == "REQ-000001" and req["value"] == "20.00"
    assert req["technician_id"] == str(world.tech.id)
    assert req["requested_by_id"] == str(world.users["technician"].id)
    assert line_of(req, d.relay)["approved_quantity"] == "5.000"
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("5"))
    held = d.s.scalars(
        select(Reservation).where(Reservation.requisition_id == uuid.UUID(req["id"]))
    ).all()
    assert [(r.status, Decimal(r.quantity)) for r in held] == [("active", Decimal("5"))]

    r = act(world.agent, req, "ship", {"lines": [{"part_id": str(d.relay.id), "quantity": 3}]})
    assert r.status_code == 200, r.json
    assert (
        r.json["status"] == "in_transit" and line_of(r.json, d.relay)["shipped_quantity"] == "3.000"
    )
    assert balance(d, d.wh, d.relay) == (Decimal("17"), Decimal("2"))
    assert balance(d, transit(d), d.relay)[0] == Decimal("3")

    r = act(world.technician, req, "receive")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "partially_received"
    assert balance(d, van(d, world), d.relay)[0] == Decimal("3")
    assert balance(d, transit(d), d.relay)[0] == Decimal("0")

    r = act(world.dispatcher, req, "ship")  # the rest
    assert r.status_code == 200 and r.json["status"] == "partially_received", r.json
    assert balance(d, d.wh, d.relay) == (Decimal("15"), Decimal("0"))
    r = act(
        world.technician, req, "receive", {"lines": [{"part_id": str(d.relay.id), "quantity": 2}]}
    )
    assert r.status_code == 200 and r.json["status"] == "received", r.json
    assert line_of(r.json, d.relay)["received_quantity"] == "5.000"
    assert balance(d, van(d, world), d.relay)[0] == Decimal("5")
    assert balance(d, transit(d), d.relay)[0] == Decimal("0")

    d.s.expire_all()
    held = d.s.scalars(
        select(Reservation).where(Reservation.requisition_id == uuid.UUID(req["id"]))
    ).all()
    assert sorted((r.status, Decimal(r.quantity)) for r in held) == [
        ("used", Decimal("2")),
        ("used", Decimal("3")),
    ]
    posted = d.s.scalars(
        select(StockMovement).where(StockMovement.note == "Requisition REQ-000001")
    ).all()
    assert {m.reason for m in posted} == {"transfer"} and len(posted) == 4
    assert {m.work_order_id for m in posted} == {d.order.id}

    # Finished: every further step is an illegal transition.
    for action in ("ship", "receive", "approve"):
        client = world.admin if action == "approve" else world.dispatcher
        r = act(client, req, action)
        assert r.status_code == 409 and r.json["code"] == "invalid_transition", (action, r.json)
        assert r.json["current_status"] == "received"
    r = act(world.technician, req, "cancel")
    assert r.status_code == 409 and r.json["code"] == "already_shipped"
    r = world.technician.get(f"{REQ}/{req['id']}")
    assert r.status_code == 200 and r.json["status"] == "received" and len(r.json["lines"]) == 1
    assert service.ledger_mismatches(d.s) == []


def test_numbers_count_up_per_tenant(world: Any, depot: Any) -> None:
    d = depot
    first = filed(world.technician, d, (d.relay, 1))
    second = filed(world.dispatcher, d, (d.relay, 1), technician_id=str(world.other_tech.id))
    assert (first["number"], second["number"]) == ("REQ-000001", "REQ-000002")
    assert first["work_order_id"] is None  # a van restock


def test_serialised_parts_ship_with_serials_and_receive_without_retyping(
    world: Any, depot: Any
) -> None:
    d = depot
    req = filed(world.technician, d, (d.board, 2))
    assert req["status"] == "approved"  # 80.00 < 200
    r = act(world.dispatcher, req, "ship")
    assert r.status_code == 422 and r.json["code"] == "serials_required"
    body = {
        "lines": [{"part_id": str(d.board.id), "quantity": 2, "serial_numbers": ["B-1", "B-3"]}]
    }
    r = act(world.dispatcher, req, "ship", body)
    assert r.status_code == 200, r.json
    r = act(world.technician, req, "receive")
    assert r.status_code == 200 and r.json["status"] == "received", r.json
    v = van(d, world)
    r = world.admin.get(f"{URL}/balances", query_string={"location_id": str(v.id)})
    assert [(x["sku"], x["on_hand"]) for x in r.json] == [("PCB-1", "2.000")]


# --- approval ----------------------------------------------------------------------------


def test_dear_request_waits_and_a_manager_approves_less(world: Any, depot: Any) -> None:
    d = depot
    req = filed(world.technician, d, (d.pump, 2), (d.relay, 4), work_order_id=str(d.order.id))
    assert req["status"] == "requested" and req["auto_approved"] is False
    assert req["value"] == "316.00"
    assert balance(d, d.wh, d.pump) == (Decimal("5"), Decimal("0"))

    assert act(world.technician, req, "approve").status_code == 403
    assert act(world.agent, req, "approve").json["code"] == "role_forbidden"
    r = act(world.dispatcher, req, "ship")
    assert r.status_code == 409 and r.json["code"] == "invalid_transition"
    assert r.json["current_status"] == "requested"

    too_much = {"lines": [{"part_id": str(d.pump.id), "approved_quantity": 3}]}
    r = act(world.dispatcher, req, "approve", too_much)
    assert r.status_code == 422 and r.json["code"] == "exceeds_requested"
    r = act(
        world.dispatcher,
        req,
        "approve",
        {"lines": [{"part_id": str(d.pump.id), "approved_quantity": -1}]},
    )
    assert r.status_code == 422 and r.json["code"] == "invalid_quantity"
    r = act(
        world.dispatcher,
        req,
        "approve",
        {"lines": [{"part_id": str(d.empty.id), "approved_quantity": 1}]},
    )
    assert r.status_code == 422 and r.json["code"] == "not_on_requisition"
    nothing = {
        "lines": [
            {"part_id": str(d.pump.id), "approved_quantity": 0},
            {"part_id": str(d.relay.id), "approved_quantity": 0},
        ]
    }
    r = act(world.dispatcher, req, "approve", nothing)
    assert r.status_code == 422 and r.json["code"] == "nothing_approved"

    body = {"lines": [{"part_id": str(d.pump.id), "approved_quantity": 1}], "note": "One is enough"}
    r = act(world.dispatcher, req, "approve", body)
    assert r.status_code == 200, r.json
    assert r.json["status"] == "approved" and r.json["auto_approved"] is False
    assert r.json["decided_by_id"] == str(world.users["dispatcher"].id)
    assert r.json["decision_note"] == "One is enough" and r.json["decided_at"]
    assert line_of(r.json, d.pump)["approved_quantity"] == "1.000"
    assert line_of(r.json, d.relay)["approved_quantity"] == "4.000"
    assert balance(d, d.wh, d.pump) == (Decimal("5"), Decimal("1"))
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("4"))

    r = act(world.admin, req, "approve")
    assert r.status_code == 409 and r.json["code"] == "invalid_transition"
    r = act(world.dispatcher, req, "ship", {"lines": [{"part_id": str(d.pump.id), "quantity": 2}]})
    assert r.status_code == 409 and r.json["code"] == "exceeds_approved"
    # Zero approved: nothing ships, so the whole requisition can go and be fully received.
    r = act(world.dispatcher, req, "ship")
    assert r.status_code == 200 and r.json["status"] == "in_transit"
    r = act(world.technician, req, "receive")
    assert r.status_code == 200 and r.json["status"] == "received"


def test_nobody_decides_their_own_requisition(world: Any, depot: Any) -> None:
    d = depot
    req = filed(world.dispatcher, d, (d.pump, 2), technician_id=str(world.tech.id))
    assert req["status"] == "requested"
    assert req["requested_by_id"] == str(world.users["dispatcher"].id)
    for action, body in (("approve", {}), ("reject", {"note": "no"})):
        r = act(world.dispatcher, req, action, body)
        assert r.status_code == 403 and r.json["code"] == "own_requisition", r.json
    r = act(world.admin, req, "approve")
    assert r.status_code == 200 and r.json["status"] == "approved"


def test_reject_needs_a_note_and_is_final(world: Any, depot: Any) -> None:
    d = depot
    req = filed(world.technician, d, (d.pump, 3))
    r = act(world.admin, req, "reject")
    assert r.status_code == 422
    r = act(world.admin, req, "reject", {"note": "   "})
    assert r.status_code == 422
    r = act(world.admin, req, "reject", {"note": "Use the refurbished one"})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "rejected" and r.json["decision_note"] == "Use the refurbished one"
    for action in ("approve", "reject", "ship", "cancel"):
        body = {"note": "again"} if action == "reject" else {}
        r = act(world.admin, req, action, body)
        assert r.status_code == 409 and r.json["code"] == "invalid_transition", action
        assert r.json["current_status"] == "rejected"
    assert balance(d, d.wh, d.pump) == (Decimal("5"), Decimal("0"))


# --- reservations ------------------------------------------------------------------------


def test_a_reservation_lowers_available_and_a_second_approval_is_refused(
    world: Any, depot: Any
) -> None:
    d = depot
    first = filed(world.technician, d, (d.pump, 4), work_order_id=str(d.order.id))
    second = filed(world.technician, d, (d.pump, 2))
    r = act(world.admin, first, "approve")
    assert r.status_code == 200, r.json
    assert balance(d, d.wh, d.pump) == (Decimal("5"), Decimal("4"))
    r = world.admin.get(f"{URL}/balances", query_string={"location_id": str(d.wh.id)})
    pump_row = next(x for x in r.json if x["sku"] == "PMP-1")
    assert (pump_row["on_hand"], pump_row["reserved"], pump_row["available"]) == (
        "5.000",
        "4.000",
        "1.000",
    )

    r = act(world.admin, second, "approve")
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock", r.json
    assert r.json["available"] == "1.000"
    r = world.admin.get(f"{REQ}/{second['id']}")
    assert (
        r.json["status"] == "requested" and line_of(r.json, d.pump)["approved_quantity"] == "0.000"
    )
    assert balance(d, d.wh, d.pump) == (Decimal("5"), Decimal("4"))
    # Approving what is available works.
    body = {"lines": [{"part_id": str(d.pump.id), "approved_quantity": 1}]}
    assert act(world.admin, second, "approve", body).status_code == 200
    assert balance(d, d.wh, d.pump) == (Decimal("5"), Decimal("5"))


def test_auto_approval_waits_for_a_person_when_stock_is_reserved(world: Any, depot: Any) -> None:
    d = depot
    body = {
        "work_order_id": str(d.other_order.id),
        "location_id": str(d.wh.id),
        "part_id": str(d.relay.id),
        "quantity": 18,
    }
    r = world.dispatcher.post(f"{URL}/reservations", json=body)
    assert r.status_code == 201, r.json
    reservation = r.json
    assert reservation["status"] == "active" and reservation["requisition_id"] is None
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("18"))

    req = filed(world.technician, d, (d.relay, 5))  # 20.00: small, but only 2 available
    assert req["status"] == "requested" and req["auto_approved"] is False
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("18"))
    r = world.agent.post(f"{URL}/reservations", json={**body, "quantity": 3})
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock"

    r = world.agent.post(f"{URL}/reservations/{reservation['id']}/release")
    assert r.status_code == 200 and r.json["status"] == "released" and r.json["closed_at"]
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("0"))
    r = world.agent.post(f"{URL}/reservations/{reservation['id']}/release")
    assert r.status_code == 409 and r.json["code"] == "invalid_transition"
    assert r.json["current_status"] == "released"
    r = world.agent.get(f"{URL}/reservations", query_string={"status": "released"})
    assert [x["id"] for x in r.json] == [reservation["id"]]
    assert world.agent.get(f"{URL}/reservations/{reservation['id']}").status_code == 200
    r = act(world.admin, req, "approve")
    assert r.status_code == 200 and balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("5"))


def test_reserved_stock_cannot_leave_by_another_movement(world: Any, depot: Any) -> None:
    """Reservations lower available: a manual transfer may take only what is free."""
    d = depot
    body = {
        "work_order_id": str(d.other_order.id),
        "location_id": str(d.wh.id),
        "part_id": str(d.relay.id),
        "quantity": 18,
    }
    assert world.dispatcher.post(f"{URL}/reservations", json=body).status_code == 201
    move = {
        "part_id": str(d.relay.id),
        "from_location_id": str(d.wh.id),
        "to_location_id": str(d.other_wh.id),
        "reason": "transfer",
    }
    r = world.dispatcher.post(f"{URL}/movements", json={**move, "quantity": 3})
    assert r.status_code == 409 and r.json["code"] == "stock_reserved", r.json
    assert (r.json["on_hand"], r.json["reserved"]) == ("20.000", "18.000")
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("18"))  # nothing half-posted
    r = world.dispatcher.post(f"{URL}/movements", json={**move, "quantity": 2})
    assert r.status_code == 201, r.json
    assert balance(d, d.wh, d.relay) == (Decimal("18"), Decimal("18"))
    r = world.dispatcher.post(f"{URL}/movements", json={**move, "quantity": 1})
    assert r.status_code == 409 and r.json["code"] == "stock_reserved"


def test_shipping_a_requisition_uses_its_own_reservation(world: Any, depot: Any) -> None:
    """All of a part reserved by one requisition still ships: the shipment fulfils it."""
    d = depot
    req = filed(world.technician, d, (d.relay, 20), work_order_id=str(d.order.id))
    if req["status"] == "requested":
        assert act(world.admin, req, "approve").status_code == 200
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("20"))
    r = act(world.agent, req, "ship")
    assert r.status_code == 200, r.json
    assert balance(d, d.wh, d.relay) == (Decimal("0"), Decimal("0"))


def test_reservation_input_is_checked(world: Any, depot: Any) -> None:
    d = depot
    base = {
        "work_order_id": str(d.order.id),
        "location_id": str(d.wh.id),
        "part_id": str(d.relay.id),
        "quantity": 1,
    }

    def reserve(**change: Any) -> Any:
        return world.dispatcher.post(f"{URL}/reservations", json={**base, **change})

    assert reserve(work_order_id=f.new_id()).json["code"] == "unknown_work_order"
    assert reserve(location_id=f.new_id()).json["code"] == "unknown_location"
    assert reserve(part_id=f.new_id()).json["code"] == "unknown_part"
    r = reserve(location_id=str(transit(d).id))
    assert r.status_code == 422 and r.json["code"] == "not_reservable"
    r = reserve(work_order_id=str(d.closed.id))
    assert r.status_code == 409 and r.json["code"] == "work_order_closed"
    r = reserve(part_id=str(d.empty.id))
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock"
    for bad in (0, -1, "1", 0.0001, 1e30, True):
        r = reserve(quantity=bad)
        assert r.status_code == 422, (bad, r.json)
    assert reserve(extra=1).status_code == 422
    assert world.technician.post(f"{URL}/reservations", json=base).status_code == 403
    r = world.dispatcher.post(f"{URL}/reservations/{uuid.uuid4()}/release")
    assert r.status_code == 404

    # A requisition's reservation is released through the requisition, not on its own.
    req = filed(world.technician, d, (d.relay, 1), work_order_id=str(d.order.id))
    held = d.s.scalar(
        select(Reservation.id).where(Reservation.requisition_id == uuid.UUID(req["id"]))
    )
    r = world.dispatcher.post(f"{URL}/reservations/{held}/release")
    assert r.status_code == 409 and r.json["code"] == "held_by_requisition"


# --- cancel ------------------------------------------------------------------------------


def test_cancel_before_shipping_releases_and_after_is_refused(world: Any, depot: Any) -> None:
    d = depot
    waiting = filed(world.technician, d, (d.pump, 2))
    r = act(world.technician, waiting, "cancel", {"note": "Fixed without it"})
    assert r.status_code == 200 and r.json["status"] == "cancelled", r.json

    approved = filed(world.technician, d, (d.relay, 6), work_order_id=str(d.order.id))
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("6"))
    r = act(world.agent, approved, "cancel")
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("0"))
    d.s.expire_all()
    held = d.s.scalars(
        select(Reservation).where(Reservation.requisition_id == uuid.UUID(approved["id"]))
    )
    assert [r.status for r in held] == ["released"]
    r = act(world.agent, approved, "cancel")
    assert r.status_code == 409 and r.json["code"] == "invalid_transition"

    shipped = filed(world.technician, d, (d.relay, 2), (d.board, 1))
    body = {"lines": [{"part_id": str(d.relay.id), "quantity": 1}]}
    assert act(world.dispatcher, shipped, "ship", body).status_code == 200
    for client in (world.technician, world.admin):
        r = act(client, shipped, "cancel")
        assert r.status_code == 409 and r.json["code"] == "already_shipped", r.json
    # Short-shipping releases the rest instead.
    r = act(world.dispatcher, shipped, "ship", {"release_rest": True})
    assert r.status_code == 200, r.json
    assert line_of(r.json, d.relay)["approved_quantity"] == "1.000"
    assert line_of(r.json, d.board)["approved_quantity"] == "0.000"
    assert balance(d, d.wh, d.relay) == (Decimal("19"), Decimal("0"))
    assert balance(d, d.wh, d.board) == (Decimal("3"), Decimal("0"))
    r = act(world.technician, shipped, "receive")
    assert r.status_code == 200 and r.json["status"] == "received"


# --- one transaction ---------------------------------------------------------------------


def test_a_ship_failing_on_line_two_posts_nothing(world: Any, depot: Any) -> None:
    d = depot
    req = filed(world.dispatcher, d, (d.relay, 2), (d.pump, 1), technician_id=str(world.tech.id))
    assert req["status"] == "approved"  # 158.00
    # Someone books the pumps out by hand: on hand 0 while 1 is still reserved.
    service.post(
        d.s,
        part=d.pump,
        source=d.wh,
        destination=service.singleton(d.s, "adjustment"),
        quantity=5,
        reason="adjustment",
    )
    d.s.commit()
    before = movements(d)
    relay_line = line_of(req, d.relay)
    pump_line = line_of(req, d.pump)
    # Lines ship in line order; make sure the relay comes first, whichever id sorts first.
    body = {
        "lines": [
            {"part_id": str(d.relay.id), "quantity": 2},
            {"part_id": str(d.pump.id), "quantity": 1},
        ]
    }
    ordered = sorted([relay_line, pump_line], key=lambda x: x["id"])
    if ordered[0]["part_id"] != str(d.relay.id):
        body["lines"].reverse()
    r = act(world.dispatcher, req, "ship", body)
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock", r.json
    assert movements(d) == before
    assert balance(d, d.wh, d.relay) == (Decimal("20"), Decimal("2"))
    assert balance(d, transit(d), d.relay)[0] == Decimal("0")
    r = world.dispatcher.get(f"{REQ}/{req['id']}")
    assert r.json["status"] == "approved"
    assert {x["shipped_quantity"] for x in r.json["lines"]} == {"0.000"}


# --- returns -----------------------------------------------------------------------------


def test_unused_parts_go_back_to_the_warehouse(world: Any, depot: Any) -> None:
    d = depot
    req = filed(world.technician, d, (d.relay, 4))
    assert act(world.dispatcher, req, "ship").status_code == 200
    assert act(world.technician, req, "receive").status_code == 200
    v = van(d, world)
    assert balance(d, v, d.relay)[0] == Decimal("4")

    lines = [{"part_id": str(d.relay.id), "quantity": 3}]
    r = world.technician.post(f"{URL}/returns", json={"lines": lines})
    assert r.status_code == 422 and r.json["code"] == "missing_location"  # no home warehouse
    body = {"warehouse_id": str(d.wh.id), "lines": lines, "work_order_id": str(d.order.id)}
    r = world.technician.post(f"{URL}/returns", json=body)
    assert r.status_code == 201, r.json
    [movement] = r.json["movements"]
    assert movement["reason"] == "return" and movement["from_location_id"] == str(v.id)
    assert movement["to_location_id"] == str(d.wh.id) and movement["quantity"] == "3.000"
    assert balance(d, v, d.relay)[0] == Decimal("1")
    assert balance(d, d.wh, d.relay)[0] == Decimal("19")

    r = world.technician.post(
        f"{URL}/returns", json={**body, "lines": [{"part_id": str(d.relay.id), "quantity": 2}]}
    )
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock"
    r = world.technician.post(
        f"{URL}/returns", json={**body, "work_order_id": str(d.other_order.id)}
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_work_order"
    r = world.other_technician.post(f"{URL}/returns", json={**body, "work_order_id": None})
    assert r.status_code == 409 and r.json["code"] == "insufficient_stock"  # their van is empty
    r = world.technician.post(
        f"{URL}/returns", json={**body, "technician_id": str(world.other_tech.id)}
    )
    assert r.status_code == 403 and r.json["code"] == "other_technician"
    # The office returns for a technician, to the van's home warehouse.
    v.warehouse_id = d.other_wh.id
    d.s.commit()
    r = world.dispatcher.post(
        f"{URL}/returns",
        json={
            "technician_id": str(world.tech.id),
            "lines": [{"part_id": str(d.relay.id), "quantity": 1}],
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["movements"][0]["to_location_id"] == str(d.other_wh.id)
    r = world.dispatcher.post(f"{URL}/returns", json={"lines": lines})
    assert r.status_code == 422 and r.json["code"] == "technician_required"


# --- who sees what -----------------------------------------------------------------------


def test_technicians_see_and_touch_only_their_own(world: Any, depot: Any) -> None:
    d = depot
    mine = filed(world.technician, d, (d.relay, 1))
    theirs = filed(world.other_technician, d, (d.relay, 2))
    assert theirs["technician_id"] == str(world.other_tech.id)
    r = world.technician.get(REQ)
    assert r.status_code == 200 and [x["id"] for x in r.json] == [mine["id"]]
    assert r.json[0]["lines"][0]["quantity"] == "1.000"
    r = world.technician.get(REQ, query_string={"technician_id": str(world.other_tech.id)})
    assert r.json == []
    for action in ("receive", "cancel"):
        assert act(world.technician, theirs, action).status_code == 404
    assert world.technician.get(f"{REQ}/{theirs['id']}").status_code == 404
    assert act(world.technician, mine, "ship").json["code"] == "role_forbidden"

    r = world.admin.get(REQ)
    assert {x["id"] for x in r.json} == {mine["id"], theirs["id"]}
    r = world.admin.get(REQ, query_string={"technician_id": str(world.other_tech.id)})
    assert [x["id"] for x in r.json] == [theirs["id"]]
    r = world.admin.get(REQ, query_string={"status": "requested"})
    assert r.json == []
    r = world.admin.get(REQ, query_string={"status": "approved", "work_order_id": str(d.order.id)})
    assert r.json == []

    # Tenant B sees none of it.
    assert world.b_api.get(f"{REQ}/{mine['id']}").status_code == 404
    assert world.b_api.get(REQ).json == []
    assert act(world.b_api, mine, "cancel").status_code == 404
    r = request(world.b_api, d, (d.relay, 1), technician_id=str(world.tech.id))
    assert r.status_code == 422 and r.json["code"] in {"unknown_technician", "unknown_location"}


def test_technicians_request_for_their_own_orders_only(world: Any, depot: Any) -> None:
    d = depot
    r = request(world.technician, d, (d.relay, 1), work_order_id=str(d.other_order.id))
    assert r.status_code == 422 and r.json["code"] == "unknown_work_order"
    r = request(world.technician, d, (d.relay, 1), technician_id=str(world.other_tech.id))
    assert r.status_code == 403 and r.json["code"] == "other_technician"
    r = request(world.technician, d, (d.relay, 1), work_order_id=str(d.closed.id))
    assert r.status_code == 409 and r.json["code"] == "work_order_closed"
    # The office may file for any order.
    r = request(
        world.agent,
        d,
        (d.relay, 1),
        technician_id=str(world.tech.id),
        work_order_id=str(d.other_order.id),
    )
    assert r.status_code == 201


# --- bad input ---------------------------------------------------------------------------


def test_bad_input_is_a_clear_4xx(world: Any, depot: Any) -> None:
    d = depot
    relay = str(d.relay.id)

    def bad(client: Any, body: Any, status: int = 422, code: str | None = None) -> None:
        r = client.post(REQ, json=body)
        assert r.status_code == status, (body, r.status_code, r.json)
        if code:
            assert r.json["code"] == code, (body, r.json)

    wh = str(d.wh.id)
    one = [{"part_id": relay, "quantity": 1}]
    bad(world.technician, {"warehouse_id": wh, "lines": []})
    bad(world.technician, {"warehouse_id": wh})
    bad(world.technician, {"lines": one})
    bad(world.technician, {"warehouse_id": wh, "lines": one, "surprise": 1})
    bad(world.technician, {"warehouse_id": wh, "lines": [{**one[0], "extra": True}]})
    bad(world.technician, {"warehouse_id": wh, "lines": one * 2})
    bad(
        world.technician,
        {"warehouse_id": wh, "lines": [{"part_id": f.new_id(), "quantity": 1}] * 51},
    )
    bad(world.technician, {"warehouse_id": "nope", "lines": one})
    bad(world.technician, {"warehouse_id": wh, "lines": "relay"})
    bad(world.technician, [1, 2])
    wrong: list[Any] = ["1", True, None, [], {}]
    for quantity in wrong:
        bad(
            world.technician,
            {"warehouse_id": wh, "lines": [{"part_id": relay, "quantity": quantity}]},
        )
    out_of_range: list[Any] = [0, -2, 0.0001, 1e30, 1e11]
    for quantity in out_of_range:
        bad(
            world.technician,
            {"warehouse_id": wh, "lines": [{"part_id": relay, "quantity": quantity}]},
            code="invalid_quantity",
        )
    bad(
        world.technician,
        {"warehouse_id": wh, "lines": [{"part_id": f.new_id(), "quantity": 1}]},
        code="unknown_part",
    )
    bad(world.technician, {"warehouse_id": f.new_id(), "lines": one}, code="unknown_location")
    bad(
        world.technician,
        {"warehouse_id": str(transit(d).id), "lines": one},
        code="not_a_warehouse",
    )
    bad(
        world.technician,
        {"warehouse_id": wh, "lines": one, "work_order_id": f.new_id()},
        code="unknown_work_order",
    )
    bad(world.dispatcher, {"warehouse_id": wh, "lines": one}, code="technician_required")
    bad(
        world.dispatcher,
        {"warehouse_id": wh, "lines": one, "technician_id": f.new_id()},
        code="unknown_technician",
    )
    bad(world.technician, {"warehouse_id": wh, "lines": one, "note": "a\x00b"})
    r = world.technician.post(REQ, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    d.relay.active = False
    d.s.commit()
    bad(world.technician, {"warehouse_id": wh, "lines": one}, code="part_inactive")
    d.relay.active = True
    d.s.commit()

    req = filed(world.technician, d, (d.relay, 2))
    for action, body in (
        ("ship", {"lines": []}),
        ("ship", {"lines": [{"part_id": relay, "quantity": 1}] * 2}),
        ("ship", {"release_rest": "yes"}),
        ("ship", {"lines": [{"part_id": relay, "quantity": "1"}]}),
        ("receive", {"lines": [{"part_id": relay}]}),
        ("approve", {"lines": [{"part_id": relay, "approved_quantity": "1"}]}),
        ("cancel", {"why": "x"}),
    ):
        r = act(world.admin, req, action, body)
        assert r.status_code == 422, (action, body, r.json)
    r = act(world.dispatcher, req, "ship", {"lines": [{"part_id": str(d.pump.id), "quantity": 1}]})
    assert r.status_code == 422 and r.json["code"] == "not_on_requisition"
    r = act(world.technician, req, "receive")
    assert r.status_code == 409 and r.json["code"] == "invalid_transition"
    assert (
        act(
            world.dispatcher, req, "ship", {"lines": [{"part_id": relay, "quantity": 1}]}
        ).status_code
        == 200
    )
    r = act(world.technician, req, "receive", {"lines": [{"part_id": relay, "quantity": 2}]})
    assert r.status_code == 409 and r.json["code"] == "exceeds_shipped"
    r = act(world.dispatcher, req, "ship", {"lines": [{"part_id": relay, "quantity": 5}]})
    assert r.status_code == 409 and r.json["code"] == "exceeds_approved"
    for url in (f"{REQ}/{uuid.uuid4()}", f"{REQ}/not-a-uuid"):
        assert world.admin.get(url).status_code == 404
    r = world.admin.get(REQ, query_string={"status": "lost"})
    assert r.status_code == 422
    assert d.s.scalar(select(func.count()).select_from(Requisition)) == 1


# --- concurrency (real transactions, both engines) ---------------------------------------

WRITERS, EACH, PUMPS = 6, 3, 4


def test_parallel_requests_get_unique_numbers_and_never_overbook(app: Any) -> None:
    """Concurrent requesters: numbers unique and consecutive, only PUMPS auto-approved."""
    import threading

    from sqlalchemy import delete
    from sqlalchemy.orm import Session

    from server.auth.principal import Principal
    from server.db import db
    from server.stock.models import RequisitionLine
    from workflow.lifecycle import Role

    engine = db.engine
    assert engine is not None
    with app.app_context(), Session(engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s)
        user = f.make_user(s, tenant, "dispatcher")
        tech = f.make_technician(s, tenant)
        s.commit()
        tenant_id, user_id, tech_id = tenant.id, user.id, tech.id
    try:
        with app.app_context(), Session(engine, expire_on_commit=False) as s:
            set_tenant(s, tenant_id)
            pump = Part(sku="PMP-R", name="Pump", unit_cost=Decimal("150.00"))
            warehouse = StockLocation(kind="warehouse", code="WH-RACE", name="Race")
            s.add_all([pump, warehouse])
            s.flush()
            service.post(
                s,
                part=pump,
                source=service.singleton(s, "supplier"),
                destination=warehouse,
                quantity=PUMPS,
                reason="receipt",
            )
            s.commit()
            pump_id, warehouse_id = pump.id, warehouse.id
        principal = Principal(user_id, tenant_id, Role.DISPATCHER)
        data = {
            "technician_id": tech_id,
            "warehouse_id": warehouse_id,
            "lines": [{"part_id": pump_id, "quantity": Decimal("1")}],
        }
        barrier = threading.Barrier(WRITERS)
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                with app.app_context(), Session(engine, expire_on_commit=False) as s:
                    set_tenant(s, tenant_id)
                    barrier.wait()
                    for _ in range(EACH):
                        requisitions.request_parts(
                            db_session=s,
                            principal=principal,
                            data=data,
                            auto_approve_limit=Decimal("200"),
                        )
            except BaseException as exc:  # surfaced below; a thread cannot fail the test
                errors.append(exc)

        threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        with Session(engine) as s:
            set_tenant(s, tenant_id)
            rows = s.execute(select(Requisition.number, Requisition.status)).all()
            numbers = sorted(int(number[len("REQ-") :]) for number, _ in rows)
            assert numbers == list(range(1, WRITERS * EACH + 1))
            statuses = sorted(status for _, status in rows)
            assert statuses.count("approved") == PUMPS
            assert statuses.count("requested") == WRITERS * EACH - PUMPS
            reserved = s.scalar(
                select(StockBalance.reserved).where(StockBalance.location_id == warehouse_id)
            )
            assert Decimal(reserved or 0).quantize(Decimal("1")) == PUMPS
            assert requisitions.reservation_mismatches(s) == []
    finally:
        from server.auth.models import User
        from server.sync.models import SyncChange
        from server.technicians.models import Technician
        from server.tenants.models import Tenant

        with Session(engine) as s:
            s.info["system"] = True
            for model in (
                Reservation,
                RequisitionLine,
                Requisition,
                StockBalance,
                StockMovement,
                StockLocation,
                Part,
                SyncChange,
                Technician,
                User,
            ):
                s.execute(delete(model).where(model.tenant_id == tenant_id))
            s.execute(delete(Tenant).where(Tenant.id == tenant_id))
            s.commit()


def test_odd_bodies_never_cause_a_server_error(world: Any, depot: Any) -> None:
    d = depot
    req = filed(world.technician, d, (d.relay, 2), work_order_id=str(d.order.id))
    held = filed(world.technician, d, (d.pump, 2))
    relay = str(d.relay.id)
    urls = [
        REQ,
        f"{URL}/returns",
        f"{URL}/reservations",
        *(f"{REQ}/{req['id']}/{a}" for a in ("ship", "receive", "cancel")),
        *(f"{REQ}/{held['id']}/{a}" for a in ("approve", "reject")),
    ]
    bodies: list[Any] = [
        None,
        [],
        "x",
        1,
        {"lines": None},
        {"lines": [None]},
        {"lines": [{}]},
        {"lines": [{"part_id": None, "quantity": 1}]},
        {"lines": [{"part_id": relay, "quantity": 10**400}]},
        {"lines": [{"part_id": relay, "quantity": -(10**30)}]},
        {"lines": [{"part_id": relay, "approved_quantity": 1e308}]},
        {"lines": [{"part_id": relay, "quantity": 1, "serial_numbers": [None, ""]}]},
        {"lines": [{"part_id": relay, "quantity": 1, "serial_numbers": ["S"]}]},
        {"note": 5},
        {"note": "x" * 5000},
        {"warehouse_id": None, "technician_id": None, "work_order_id": "x"},
        {"release_rest": None},
        {"quantity": 1e-9, "part_id": relay},
    ]
    for url in urls:
        for body in bodies:
            for client in (world.technician, world.admin):
                r = client.post(url, json=body)
                assert r.status_code < 500, (url, body, r.status_code, r.json)
