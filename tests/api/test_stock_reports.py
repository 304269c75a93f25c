"""Ledger reports: consumption by part/model/technician/month, reorder, costs, turnover."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest

from server.db import set_tenant
from server.parts.models import Part
from server.stock import service
from server.stock.models import StockLocation
from tests import factories as f


@pytest.fixture()
def used(world: Any, session: Any) -> Any:
    """A warehouse with relays and fuses; two technicians consumed some on two orders."""
    from types import SimpleNamespace

    set_tenant(session, world.a.id)
    warehouse = StockLocation(kind="warehouse", code="WH-1", name="Main")
    relay = Part(sku="RL-1", name="Relay", unit_cost=Decimal("4.00"), unit_price=Decimal("9"))
    fuse = Part(sku="FU-2", name="Fuse", unit_cost=Decimal("0.50"), unit_price=Decimal("2"))
    session.add_all([warehouse, relay, fuse])
    site = f.make_site(session, world.a, f.make_customer(session, world.a))
    lift = f.make_equipment(session, world.a, site, model="E-100")
    order = f.make_work_order(session, world.a, site, equipment_id=lift.id)
    other = f.make_work_order(session, world.a, site)
    session.flush()
    supplier = service.singleton(session, "supplier")
    for part, quantity in ((relay, 10), (fuse, 100)):
        service.post(
            session,
            part=part,
            source=supplier,
            destination=warehouse,
            quantity=quantity,
            reason="receipt",
        )
    at_site = service.site_location(session, site.id)

    def consume(tech: Any, part: Part, quantity: int, on: Any) -> Any:
        van = service.van_for(session, tech.id)
        service.post(
            session,
            part=part,
            source=warehouse,
            destination=van,
            quantity=quantity,
            reason="transfer",
        )
        return service.post(
            session,
            part=part,
            source=van,
            destination=at_site,
            quantity=quantity,
            reason="consumption",
            work_order_id=on.id,
        )

    consume(world.tech, relay, 2, order)
    consume(world.tech, fuse, 10, order)
    mistake = consume(world.other_tech, relay, 1, other)
    service.reverse(session, movement=mistake, actor_id=None)  # booked wrongly: nets out
    session.commit()
    return SimpleNamespace(warehouse=warehouse, relay=relay, fuse=fuse, order=order, other=other)


def test_consumption_by_part_model_technician_and_month(world: Any, used: Any) -> None:
    r = world.dispatcher.get("/api/v1/stock/reports/consumption", query_string={"group_by": "part"})
    assert r.status_code == 200, r.json
    assert [(x["label"], x["quantity"], x["cost"]) for x in r.json] == [
        ("RL-1", "2.000", "8.00"),
        ("FU-2", "10.000", "5.00"),
    ]
    by_model = world.agent.get(
        "/api/v1/stock/reports/consumption", query_string={"group_by": "equipment_model"}
    ).json
    assert [(x["label"], x["cost"]) for x in by_model] == [("E-100", "13.00")]
    by_tech = world.dispatcher.get(
        "/api/v1/stock/reports/consumption", query_string={"group_by": "technician"}
    ).json
    assert [x["key"] for x in by_tech] == [str(world.tech.id)]
    months = world.dispatcher.get(
        "/api/v1/stock/reports/consumption", query_string={"group_by": "month"}
    ).json
    assert len(months) == 1 and months[0]["price"] == "38.00"
    empty = world.dispatcher.get(
        "/api/v1/stock/reports/consumption",
        query_string={"from": "2001-01-01T00:00:00Z", "to": "2001-04-01T00:00:00Z"},
    ).json
    assert empty == []


def test_reports_export_csv(world: Any, used: Any) -> None:
    r = world.dispatcher.get(
        "/api/v1/stock/reports/consumption", query_string={"group_by": "part", "format": "csv"}
    )
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [(row["label"], row["quantity"]) for row in rows] == [
        ("RL-1", "2.000"),
        ("FU-2", "10.000"),
    ]


def test_parts_cost_of_a_work_order_nets_reversals(world: Any, used: Any) -> None:
    body = world.dispatcher.get(f"/api/v1/stock/reports/work-orders/{used.order.id}").json
    assert (body["cost"], body["price"]) == ("13.00", "38.00")
    assert [line["sku"] for line in body["lines"]] == ["FU-2", "RL-1"]
    nothing = world.dispatcher.get(f"/api/v1/stock/reports/work-orders/{used.other.id}").json
    assert nothing["lines"] == [] and nothing["cost"] == "0.00"
    assert (
        world.dispatcher.get(f"/api/v1/stock/reports/work-orders/{world.a.id}").status_code == 404
    )


def test_costs_stay_at_the_values_of_the_day_the_parts_moved(
    world: Any, used: Any, session: Any
) -> None:
    """A price list change does not rewrite what a finished job cost."""
    r = world.admin.patch(
        f"/api/v1/parts/{used.relay.id}", json={"unit_cost": "40.00", "unit_price": "90.00"}
    )
    assert r.status_code == 200, r.json
    body = world.dispatcher.get(f"/api/v1/stock/reports/work-orders/{used.order.id}").json
    assert (body["cost"], body["price"]) == ("13.00", "38.00")
    by_part = world.dispatcher.get(
        "/api/v1/stock/reports/consumption", query_string={"group_by": "part"}
    ).json
    assert ("RL-1", "8.00") in [(x["label"], x["cost"]) for x in by_part]
    moves = world.dispatcher.get(
        "/api/v1/stock/movements", query_string={"work_order_id": str(used.order.id)}
    ).json
    assert {(m["unit_cost"], m["unit_price"]) for m in moves} >= {("4.00", "9.00")}


def test_reorder_suggestions_follow_min_max(world: Any, used: Any) -> None:
    put = world.dispatcher.put(
        "/api/v1/stock/levels",
        json={
            "location_id": str(used.warehouse.id),
            "part_id": str(used.relay.id),
            "min_quantity": 10,
            "max_quantity": 20,
        },
    )
    assert put.status_code == 200, put.json
    world.dispatcher.put(
        "/api/v1/stock/levels",
        json={
            "location_id": str(used.warehouse.id),
            "part_id": str(used.fuse.id),
            "min_quantity": 5,
            "max_quantity": 50,
        },
    )
    rows = world.dispatcher.get("/api/v1/stock/reports/reorder").json
    # Relays: 10 received, 3 loaded into vans (the reversal put 1 back into a van) -> 7 < 10.
    assert [(x["sku"], x["available"], x["suggested"]) for x in rows] == [
        ("RL-1", "7.000", "13.000")
    ]
    bad = world.dispatcher.put(
        "/api/v1/stock/levels",
        json={
            "location_id": str(used.warehouse.id),
            "part_id": str(used.relay.id),
            "min_quantity": 10,
            "max_quantity": 5,
        },
    )
    assert bad.status_code == 422 and bad.json["code"] == "invalid_levels"
    assert world.technician.put("/api/v1/stock/levels", json={}).status_code == 403


def test_turnover_needs_a_period_and_divides_by_stock(world: Any, used: Any) -> None:
    r = world.dispatcher.get("/api/v1/stock/reports/turnover")
    assert r.status_code == 422
    r = world.dispatcher.get(
        "/api/v1/stock/reports/turnover",
        query_string={"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"},
    )
    rows = {x["sku"]: x for x in r.json}
    # 7 in the warehouse and 1 back in the other technician's van.
    assert rows["RL-1"]["consumed"] == "2.000" and rows["RL-1"]["on_hand"] == "8.000"
    assert rows["RL-1"]["turnover"] == "0.25"
    bad = world.dispatcher.get(
        "/api/v1/stock/reports/consumption", query_string={"group_by": "colour"}
    )
    assert bad.status_code == 422
