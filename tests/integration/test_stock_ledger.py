"""The spare-parts ledger: postings, stock policy, serials, reversals and its invariant."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db import set_tenant
from server.errors import Conflict, ValidationFailed
from server.parts.models import Part
from server.stock import service
from server.stock.models import (
    SerialUnit,
    StockBalance,
    StockDiscrepancy,
    StockLocation,
    StockMovement,
)
from tests import factories as f


@pytest.fixture()
def books(session: Session, world: Any) -> Any:
    """Tenant A's session with a warehouse, a van, a site, and two parts."""
    from types import SimpleNamespace

    set_tenant(session, world.a.id)
    warehouse = StockLocation(kind="warehouse", code="WH-1", name="Main warehouse")
    session.add(warehouse)
    relay = Part(sku="RL-1", name="Relay", unit_cost=Decimal("4.00"))
    board = Part(sku="PCB-9", name="Door board", serialized=True, unit_cost=Decimal("120"))
    session.add_all([relay, board])
    session.flush()
    site = f.make_site(session, world.a, f.make_customer(session, world.a))
    return SimpleNamespace(
        s=session,
        warehouse=warehouse,
        van=service.van_for(session, world.tech.id),
        site=service.site_location(session, site.id),
        supplier=service.singleton(session, "supplier"),
        relay=relay,
        board=board,
    )


def on_hand(b: Any, location: StockLocation, part: Part) -> Decimal:
    """The cached balance (0 when no row)."""
    value = b.s.scalar(
        select(StockBalance.on_hand).where(
            StockBalance.location_id == location.id, StockBalance.part_id == part.id
        )
    )
    return Decimal(value or 0).quantize(Decimal("0.001"))


def receive(b: Any, part: Part, quantity: Any, serials: list[str] | None = None) -> None:
    """Goods in from the supplier to the warehouse."""
    service.post(
        b.s,
        part=part,
        source=b.supplier,
        destination=b.warehouse,
        quantity=quantity,
        reason="receipt",
        serials=serials,
    )


def test_receipt_transfer_consumption_keep_the_books(books: Any) -> None:
    b = books
    receive(b, b.relay, "10")
    service.post(
        b.s, part=b.relay, source=b.warehouse, destination=b.van, quantity=4, reason="transfer"
    )
    service.post(
        b.s, part=b.relay, source=b.van, destination=b.site, quantity="1.5", reason="consumption"
    )
    assert on_hand(b, b.warehouse, b.relay) == Decimal("6")
    assert on_hand(b, b.van, b.relay) == Decimal("2.5")
    assert on_hand(b, b.site, b.relay) == Decimal("1.5")
    assert on_hand(b, b.supplier, b.relay) == Decimal("-10")  # the outside world
    assert service.ledger_mismatches(b.s) == []


def test_a_warehouse_never_goes_negative_and_a_refusal_writes_nothing(books: Any) -> None:
    b = books
    receive(b, b.relay, 2)
    movements = b.s.scalar(select(func.count()).select_from(StockMovement))
    attempt = b.s.begin_nested()  # the request's transaction, rolled back on the error
    with pytest.raises(Conflict) as refused:
        service.post(
            b.s, part=b.relay, source=b.warehouse, destination=b.van, quantity=3, reason="transfer"
        )
    assert refused.value.code == "insufficient_stock"
    attempt.rollback()
    assert b.s.scalar(select(func.count()).select_from(StockMovement)) == movements
    assert on_hand(b, b.warehouse, b.relay) == Decimal("2")
    assert on_hand(b, b.van, b.relay) == Decimal("0")
    # A van refuses too, unless the consumption already happened on site.
    with pytest.raises(Conflict):
        service.post(
            b.s, part=b.relay, source=b.van, destination=b.site, quantity=1, reason="consumption"
        )


def test_field_consumption_from_an_empty_van_is_accepted_and_raised(books: Any) -> None:
    b = books
    movement = service.post(
        b.s,
        part=b.relay,
        source=b.van,
        destination=b.site,
        quantity=2,
        reason="consumption",
        field_truth=True,
    )
    assert on_hand(b, b.van, b.relay) == Decimal("-2")
    gap = b.s.scalars(select(StockDiscrepancy)).one()
    assert (gap.kind, gap.quantity, gap.movement_id) == ("negative_stock", 2, movement.id)
    assert service.ledger_mismatches(b.s) == []


@pytest.mark.parametrize(
    "quantity,serials,code",
    [
        (0, None, "invalid_quantity"),
        (-1, None, "invalid_quantity"),
        ("1.0005", None, "invalid_quantity"),
        ("NaN", None, "invalid_quantity"),
        (1, None, "serials_required"),
        (2, ["A1"], "serial_count_mismatch"),
        (2, ["A1", "A1"], "duplicate_serials"),
        ("1.5", ["A1"], "invalid_quantity"),
        (1, [""], "invalid_serials"),
    ],
)
def test_bad_postings_are_refused(books: Any, quantity: Any, serials: Any, code: str) -> None:
    b = books
    part = b.relay if code == "invalid_quantity" and serials is None else b.board
    with pytest.raises(ValidationFailed) as refused:
        receive(b, part, quantity, serials)
    assert refused.value.code == code


def test_serials_are_not_allowed_on_plain_parts_and_must_be_where_they_move_from(
    books: Any,
) -> None:
    b = books
    with pytest.raises(ValidationFailed) as refused:
        receive(b, b.relay, 1, ["X"])
    assert refused.value.code == "serials_not_allowed"
    receive(b, b.board, 2, ["SN-1", "SN-2"])
    service.post(
        b.s,
        part=b.board,
        source=b.warehouse,
        destination=b.van,
        quantity=1,
        reason="transfer",
        serials=["SN-1"],
    )
    with pytest.raises(Conflict) as refused:
        service.post(
            b.s,
            part=b.board,
            source=b.warehouse,
            destination=b.van,
            quantity=1,
            reason="transfer",
            serials=["SN-1"],  # already in the van
        )
    assert refused.value.code == "serial_not_here"
    unit = b.s.get(SerialUnit, (b.warehouse.tenant_id, b.board.id, "SN-1"))
    assert unit is not None and unit.location_id == b.van.id


def test_field_truth_accepts_unknown_or_missing_serials_as_discrepancies(books: Any) -> None:
    b = books
    service.post(
        b.s,
        part=b.board,
        source=b.van,
        destination=b.site,
        quantity=1,
        reason="consumption",
        serials=["NEVER-BOOKED"],
        field_truth=True,
    )
    service.post(
        b.s,
        part=b.board,
        source=b.van,
        destination=b.site,
        quantity=1,
        reason="consumption",
        serials=[],
        field_truth=True,
    )
    kinds = sorted(d.kind for d in b.s.scalars(select(StockDiscrepancy)))
    assert kinds == ["negative_stock", "negative_stock", "serial_elsewhere", "serials_missing"]
    assert service.ledger_mismatches(b.s) == []


def test_a_reversal_mirrors_once(books: Any) -> None:
    b = books
    receive(b, b.relay, 5)
    moved = service.post(
        b.s, part=b.relay, source=b.warehouse, destination=b.van, quantity=3, reason="transfer"
    )
    back = service.reverse(b.s, movement=moved, actor_id=None, note="wrong van")
    assert (back.from_location_id, back.to_location_id) == (b.van.id, b.warehouse.id)
    assert back.reverses_id == moved.id and back.reason == "reversal"
    assert on_hand(b, b.warehouse, b.relay) == Decimal("5")
    with pytest.raises(Conflict) as twice:
        service.reverse(b.s, movement=moved, actor_id=None)
    assert twice.value.code == "already_reversed"
    with pytest.raises(Conflict) as mirror:
        service.reverse(b.s, movement=back, actor_id=None)
    assert mirror.value.code == "is_reversal"
    assert service.ledger_mismatches(b.s) == []


def test_a_reversal_that_would_go_negative_is_refused(books: Any) -> None:
    b = books
    receive(b, b.relay, 2)
    moved = service.post(
        b.s, part=b.relay, source=b.warehouse, destination=b.van, quantity=2, reason="transfer"
    )
    service.post(
        b.s, part=b.relay, source=b.van, destination=b.site, quantity=2, reason="consumption"
    )
    with pytest.raises(Conflict) as refused:
        service.reverse(b.s, movement=moved, actor_id=None)
    assert refused.value.code == "insufficient_stock"


def test_the_mismatch_check_notices_a_tampered_balance(books: Any) -> None:
    b = books
    receive(b, b.relay, 3)
    row = b.s.scalars(select(StockBalance).where(StockBalance.location_id == b.warehouse.id)).one()
    row.on_hand = Decimal("4")
    b.s.flush()
    assert len(service.ledger_mismatches(b.s)) == 1


# One step of a random day at the warehouse: (from, to, part, quantity, serial?, field?).
LOCATIONS = ("supplier", "warehouse", "van", "site")
step = st.tuples(
    st.sampled_from(LOCATIONS),
    st.sampled_from(LOCATIONS),
    st.sampled_from(("relay", "board")),
    st.decimals(min_value=Decimal("-1"), max_value=Decimal("7"), places=3),
    st.booleans(),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_the_books_always_balance(books: Any, steps: list[Any]) -> None:
    """Any sequence of postings, accepted or refused: balance == sum(movements), always,
    and controlled stock never negative unless the field said so."""
    b = books
    nested = b.s.begin_nested()
    serial_counter = 0
    for source, destination, part_name, quantity, field in steps:
        part = getattr(b, part_name)
        serials = None
        if part.serialized:
            quantity = abs(quantity.to_integral_value()) or Decimal(1)
            here = [
                unit.serial
                for unit in b.s.scalars(
                    select(SerialUnit).where(
                        SerialUnit.part_id == part.id,
                        SerialUnit.location_id == getattr(b, source).id,
                    )
                )
            ]
            if source == "supplier":
                serials = [f"S{serial_counter + i}" for i in range(int(quantity))]
                serial_counter += int(quantity)
            else:
                serials = here[: int(quantity)]
        savepoint = b.s.begin_nested()
        try:
            service.post(
                b.s,
                part=part,
                source=getattr(b, source),
                destination=getattr(b, destination),
                quantity=quantity,
                reason="transfer",
                serials=serials,
                field_truth=field and source == "van",
            )
            savepoint.commit()
        except (Conflict, ValidationFailed):
            savepoint.rollback()
        assert service.ledger_mismatches(b.s) == []
        for location in (b.warehouse,):
            for p in (b.relay, b.board):
                assert on_hand(b, location, p) >= 0
    nested.rollback()


def test_postings_are_tenant_stamped(books: Any, world: Any) -> None:
    b = books
    receive(b, b.relay, 1)
    tenants = set(b.s.scalars(select(StockMovement.tenant_id))) | set(
        b.s.scalars(select(StockBalance.tenant_id))
    )
    assert tenants == {world.a.id}
    assert isinstance(b.van.id, uuid.UUID) and b.van.technician_id == world.tech.id
