"""Concurrent takes of the last units of a part: exactly as many win as there is stock.

PostgreSQL only: every taker has its own connection and transaction; the conditional
UPDATE of the balance row (row lock, then a re-check under READ COMMITTED) decides.
SQLite serialises whole write transactions, so there is no race to lose there.
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.db import db, set_tenant
from server.errors import Conflict
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

TAKERS = 8
STOCK = 3


@pytest.mark.postgis
def test_simultaneous_takes_of_the_last_units(app: Any) -> None:
    engine = db.engine
    assert engine is not None
    with app.app_context(), Session(engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s)
        s.commit()
        tenant_id = tenant.id
    try:
        with app.app_context(), Session(engine, expire_on_commit=False) as s:
            set_tenant(s, tenant_id)
            part = Part(sku="LAST-1", name="Contactor")
            warehouse = StockLocation(kind="warehouse", code="WH", name="Warehouse")
            s.add_all([part, warehouse])
            vans = [
                StockLocation(kind="warehouse", code=f"WH-{i}", name=f"Branch {i}")
                for i in range(TAKERS)
            ]
            s.add_all(vans)
            s.flush()
            service.post(
                s,
                part=part,
                source=service.singleton(s, "supplier"),
                destination=warehouse,
                quantity=STOCK,
                reason="receipt",
            )
            s.commit()
            part_id, warehouse_id = part.id, warehouse.id
            branch_ids = [v.id for v in vans]

        barrier = threading.Barrier(TAKERS)
        outcomes: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def taker(branch_id: uuid.UUID) -> None:
            try:
                with app.app_context(), Session(engine, expire_on_commit=False) as s:
                    set_tenant(s, tenant_id)
                    part = s.get(Part, part_id)
                    source = s.get(StockLocation, warehouse_id)
                    destination = s.get(StockLocation, branch_id)
                    assert part and source and destination
                    barrier.wait()
                    try:
                        service.post(
                            s,
                            part=part,
                            source=source,
                            destination=destination,
                            quantity=1,
                            reason="transfer",
                        )
                        s.commit()
                        outcome = "won"
                    except Conflict as exc:
                        s.rollback()
                        outcome = exc.code
                with lock:
                    outcomes.append(outcome)
            except BaseException as exc:  # surfaced below; a thread cannot fail the test
                errors.append(exc)

        threads = [threading.Thread(target=taker, args=(b,)) for b in branch_ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

        assert errors == []
        assert sorted(outcomes) == ["insufficient_stock"] * (TAKERS - STOCK) + ["won"] * STOCK
        with Session(engine) as s:
            set_tenant(s, tenant_id)
            left = s.scalar(
                select(StockBalance.on_hand).where(StockBalance.location_id == warehouse_id)
            )
            assert Decimal(left) == 0
            assert s.scalar(select(func.count()).select_from(StockMovement)) == 1 + STOCK
            assert service.ledger_mismatches(s) == []
    finally:
        _cleanup(engine, tenant_id)


def _cleanup(engine: Any, tenant_id: uuid.UUID) -> None:
    from server.sync.models import SyncChange
    from server.tenants.models import Tenant

    with Session(engine) as s:
        s.info["system"] = True
        for model in (
            StockDiscrepancy,
            SerialUnit,
            StockBalance,
            StockMovement,
            StockLocation,
            Part,
            SyncChange,
        ):
            s.execute(delete(model).where(model.tenant_id == tenant_id))  # type: ignore[attr-defined]
        s.execute(delete(Tenant).where(Tenant.id == tenant_id))
        s.commit()
