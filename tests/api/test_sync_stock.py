"""Parts used in the field reach the ledger through sync; the van's stock reaches the phone."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from server.db import set_tenant
from server.stock import service
from server.stock.models import StockBalance, StockDiscrepancy, StockLocation, StockMovement
from tests.api.test_sync import ids, pull, push, row

NOW_MS = int(time.time() * 1000) - 60_000


def usage(order_id: Any, part_id: Any, quantity: float = 1, **extra: Any) -> dict[str, Any]:
    """A parts-usage row as WatermelonDB pushes it."""
    return {
        "id": str(uuid.uuid4()),
        "work_order_id": str(order_id),
        "part_id": str(part_id),
        "quantity": quantity,
        "used_at": NOW_MS,
        **extra,
    }


def stock_the_van(session: Any, world: Any, field: Any, quantity: int) -> uuid.UUID:
    """Receive parts into a warehouse and load the technician's van; returns the van id."""
    set_tenant(session, world.a.id)
    warehouse = StockLocation(kind="warehouse", code="WH-1", name="Main")
    session.add(warehouse)
    session.flush()
    service.post(
        session,
        part=field.part,
        source=service.singleton(session, "supplier"),
        destination=warehouse,
        quantity=quantity,
        reason="receipt",
    )
    van = service.van_for(session, world.tech.id)
    service.post(
        session,
        part=field.part,
        source=warehouse,
        destination=van,
        quantity=quantity,
        reason="transfer",
    )
    session.commit()
    return van.id


def test_van_stock_reaches_the_phone_and_follows_field_consumption(
    world: Any, field: Any, session: Any
) -> None:
    t0 = pull(world.technician, schema_version=2).json["timestamp"]
    van_id = stock_the_van(session, world, field, 5)
    body = pull(world.technician, t0, schema_version=2).json
    (stock,) = body["changes"]["van_stock"]["created"]
    assert stock["part_id"] == str(field.part.id) and stock["on_hand"] == 5
    t1 = body["timestamp"]

    used = usage(field.mine.id, field.part.id, 2)
    r = push(world.technician, {"part_usages": {"created": [used]}}, t1)
    assert r.status_code == 200, r.json
    movement = session.scalars(
        select(StockMovement).where(StockMovement.part_usage_id == uuid.UUID(used["id"]))
    ).one()
    assert (movement.reason, movement.source, movement.from_location_id) == (
        "consumption",
        "sync",
        van_id,
    )
    assert movement.work_order_id == field.mine.id and movement.quantity == Decimal(2)
    # A replay (new key, same row) posts nothing twice.
    again = push(world.technician, {"part_usages": {"created": [used]}}, t1)
    assert again.status_code == 200 and again.json["inserted"] == {}
    count = session.scalars(
        select(StockMovement).where(StockMovement.part_usage_id == uuid.UUID(used["id"]))
    ).all()
    assert len(count) == 1
    body = pull(world.technician, t1, schema_version=2).json
    assert row(body, "van_stock", stock["id"])["on_hand"] == 3
    assert service.ledger_mismatches(session) == []
    # Another technician never sees this van.
    theirs = pull(world.other_technician, device="their-phone", schema_version=2).json
    assert theirs["changes"]["van_stock"]["created"] == []
    # An app on schema 1 has no van_stock table at all.
    assert "van_stock" not in pull(world.technician, schema_version=1).json["changes"]


def test_using_parts_the_books_say_the_van_lacks_is_accepted_and_flagged(
    world: Any, field: Any, session: Any
) -> None:
    t0 = pull(world.technician, schema_version=2).json["timestamp"]
    used = usage(field.mine.id, field.part.id, 2)
    r = push(world.technician, {"part_usages": {"created": [used]}}, t0)
    assert r.status_code == 200 and r.json["inserted"] == {"part_usages": 1}, r.json
    gap = session.scalars(select(StockDiscrepancy)).one()
    assert (gap.kind, gap.quantity) == ("negative_stock", 2)
    body = pull(world.technician, t0, schema_version=2).json
    # The van's balance row was just made: new to this phone too.
    (stock,) = body["changes"]["van_stock"]["created"]
    assert stock["on_hand"] == -2
    assert ids(body, "part_usages", "updated") == {used["id"]}


def test_a_board_swap_updates_the_unit_and_opens_an_rma_case(
    world: Any, field: Any, session: Any
) -> None:
    from server.equipment.models import Equipment, EquipmentConfigRevision
    from server.parts.models import Part
    from server.stock.models import RmaCase

    set_tenant(session, world.a.id)
    board = Part(tenant_id=world.a.id, sku="PCB-9", name="Door board", serialized=True)
    session.add(board)
    session.commit()
    t0 = pull(world.technician, schema_version=2).json["timestamp"]
    swap = usage(
        field.mine.id,
        board.id,
        1,
        equipment_id=str(field.unit.id),
        serial_numbers='["NEW-77"]',
        removed_serial_numbers='["OLD-12"]',
    )
    r = push(world.technician, {"part_usages": {"created": [swap]}}, t0)
    assert r.status_code == 200, r.json
    unit = session.get(Equipment, field.unit.id)
    session.refresh(unit)
    fitted = unit.configuration["installed_parts"]
    assert [(p["sku"], p["serial"]) for p in fitted] == [("PCB-9", "NEW-77")]
    revision = session.scalars(
        select(EquipmentConfigRevision).where(EquipmentConfigRevision.equipment_id == unit.id)
    ).one()
    assert revision.work_order_id == field.mine.id and "OLD-12" in (revision.reason or "")
    case = session.scalars(select(RmaCase)).one()
    assert (case.serial, case.status, case.work_order_id) == ("OLD-12", "open", field.mine.id)
    assert service.ledger_mismatches(session) == []
    # The phone learns of the unit's new configuration on its next pull.
    body = pull(world.technician, t0, schema_version=2).json
    assert str(field.unit.id) in ids(body, "equipment", "updated")

    # The office follows the case: to the vendor, back repaired into a warehouse, closed.
    warehouse = StockLocation(tenant_id=world.a.id, kind="warehouse", code="WH-R", name="R")
    session.add(warehouse)
    session.commit()
    url = f"/api/v1/stock/rma/{case.id}/transitions"
    r = world.dispatcher.post(url, json={"to": "repaired", "warehouse_id": str(warehouse.id)})
    assert r.status_code == 409 and r.json["code"] == "invalid_transition"
    r = world.dispatcher.post(url, json={"to": "shipped", "vendor_reference": "V-1"})
    assert r.status_code == 200 and r.json["status"] == "shipped", r.json
    r = world.dispatcher.post(url, json={"to": "repaired", "warehouse_id": str(field.unit.id)})
    assert r.status_code == 422 and r.json["code"] == "unknown_location"
    r = world.dispatcher.post(url, json={"to": "repaired", "warehouse_id": str(warehouse.id)})
    assert r.status_code == 200 and r.json["status"] == "repaired", r.json
    assert world.dispatcher.post(url, json={"to": "closed"}).json["status"] == "closed"
    assert world.technician.post(url, json={"to": "closed"}).status_code == 403
    listed = world.agent.get("/api/v1/stock/rma", query_string={"status": "closed"}).json
    assert [c["number"] for c in listed] == [case.number]
    session.expire_all()
    gone = select(StockBalance.on_hand).where(
        StockBalance.location_id == warehouse.id, StockBalance.part_id == board.id
    )
    assert Decimal(session.scalar(gone)) == 1
    assert service.ledger_mismatches(session) == []


def test_malformed_usage_rows_are_refused_whole(world: Any, field: Any) -> None:
    t0 = pull(world.technician, schema_version=2).json["timestamp"]
    for bad in (
        usage(field.mine.id, field.part.id, 1.2345),
        usage(field.mine.id, field.part.id, 0),
        usage(field.mine.id, field.part.id, 1, removed_quantity=-1),
        usage(field.mine.id, field.part.id, 1, serial_numbers='["ok", ""]'),
        usage(field.mine.id, field.part.id, 1, removed_serial_numbers="{}"),
    ):
        r = push(world.technician, {"part_usages": {"created": [bad]}}, t0)
        assert r.status_code == 422 and r.json["code"] == "foreign_or_invalid_rows", bad


def test_parts_used_on_a_job_consume_what_was_reserved_for_it(
    world: Any, field: Any, session: Any
) -> None:
    """A hold on the van for the order becomes used when the phone reports the part used."""
    t0 = pull(world.technician, schema_version=2).json["timestamp"]
    van_id = stock_the_van(session, world, field, 5)
    hold = {
        "work_order_id": str(field.mine.id),
        "location_id": str(van_id),
        "part_id": str(field.part.id),
        "quantity": 3,
    }
    r = world.dispatcher.post("/api/v1/stock/reservations", json=hold)
    assert r.status_code == 201, r.json
    used = usage(field.mine.id, field.part.id, 2)
    assert push(world.technician, {"part_usages": {"created": [used]}}, t0).status_code == 200
    session.expire_all()
    balance = session.scalars(
        select(StockBalance).where(
            StockBalance.location_id == van_id, StockBalance.part_id == field.part.id
        )
    ).one()
    assert (balance.on_hand, balance.reserved) == (Decimal(3), Decimal(1))
    holds = world.dispatcher.get(
        "/api/v1/stock/reservations", query_string={"work_order_id": str(field.mine.id)}
    ).json
    assert sorted((h["status"], h["quantity"]) for h in holds) == [
        ("active", "1.000"),
        ("used", "2.000"),
    ]
    # The job is cancelled: what is still held goes back to available.
    etag = world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}").headers["ETag"]
    r = world.dispatcher.post(
        f"/api/v1/work-orders/{field.mine.id}/transitions",
        json={"to": "cancelled", "reason": "customer fixed it"},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200, r.json
    session.expire_all()
    assert session.get(StockBalance, balance.id).reserved == Decimal(0)  # type: ignore[union-attr]
    holds = world.dispatcher.get(
        "/api/v1/stock/reservations", query_string={"work_order_id": str(field.mine.id)}
    ).json
    assert sorted(h["status"] for h in holds) == ["released", "used"]
    assert service.ledger_mismatches(session) == []
