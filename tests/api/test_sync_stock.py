"""Parts used in the field reach the ledger through sync; the van's stock reaches the phone."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from server.db import set_tenant
from server.stock import service
from server.stock.models import StockDiscrepancy, StockLocation, StockMovement
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
