"""Concurrent claims of one pool entry: exactly one technician wins (real transactions).

PostgreSQL only: each thread has its own connection, and the conditional UPDATE's row
lock plus READ COMMITTED re-check is what decides. (SQLite serialises whole transactions,
so there is no race to lose there.)
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.db import db, set_tenant
from server.dispatch.models import PoolEntry
from server.errors import Conflict
from server.pool.service import claim, publish
from tests import factories as f
from workflow.lifecycle import Role

CLAIMERS = 8


@pytest.mark.postgis
def test_exactly_one_of_many_simultaneous_claims_wins(app: Any) -> None:
    engine = db.engine
    assert engine is not None
    with app.app_context(), Session(engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s)
        dispatcher = f.make_user(s, tenant, "dispatcher", password_hash="x")
        site = f.make_site(s, tenant, f.make_customer(s, tenant))
        order = f.make_work_order(s, tenant, site, status="triaged")
        technicians = []
        for i in range(CLAIMERS):
            user = f.make_user(s, tenant, "technician", password_hash="x")
            tech = f.make_technician(s, tenant, user, name=f"Racer {i}")
            technicians.append((user.id, tech.id))
        s.commit()
        tenant_id, order_id, dispatcher_id = tenant.id, order.id, dispatcher.id
    try:
        with app.app_context(), Session(engine, expire_on_commit=False) as s:
            set_tenant(s, tenant_id)
            planner = Principal(dispatcher_id, tenant_id, Role.DISPATCHER)
            entry_id = publish(
                db_session=s,
                principal=planner,
                data={"work_order_ids": [order_id], "expires_in_minutes": 30},
            )[0]["id"]

        barrier = threading.Barrier(CLAIMERS)
        outcomes: list[tuple[uuid.UUID, str]] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def claimer(user_id: uuid.UUID, tech_id: uuid.UUID) -> None:
            principal = Principal(user_id, tenant_id, Role.TECHNICIAN, tech_id)
            try:
                with app.app_context(), Session(engine, expire_on_commit=False) as s:
                    set_tenant(s, tenant_id)
                    barrier.wait()
                    try:
                        claim(db_session=s, principal=principal, entry_id=entry_id)
                        outcome = "won"
                    except Conflict as exc:
                        outcome = exc.code
                with lock:
                    outcomes.append((tech_id, outcome))
            except BaseException as exc:  # surfaced below; a thread cannot fail the test
                errors.append(exc)

        threads = [threading.Thread(target=claimer, args=pair) for pair in technicians]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

        assert errors == []
        assert len(outcomes) == CLAIMERS
        winners = [tech for tech, outcome in outcomes if outcome == "won"]
        assert len(winners) == 1, outcomes
        assert sorted(o for _, o in outcomes if o != "won") == ["already_claimed"] * (CLAIMERS - 1)

        from server.work_orders.models import WorkOrder, WorkOrderEvent, WorkOrderHelper

        with Session(engine) as s:
            set_tenant(s, tenant_id)
            stored = s.get(WorkOrder, order_id)
            assert stored is not None
            assert stored.lead_technician_id == winners[0] and stored.status == "scheduled"
            assert s.scalar(select(func.count()).select_from(WorkOrderHelper)) == 0
            entry = s.get(PoolEntry, entry_id)
            assert entry is not None
            assert entry.status == "claimed" and entry.claimed_by_id == winners[0]
            kinds = list(
                s.scalars(
                    select(WorkOrderEvent.event_type)
                    .where(WorkOrderEvent.work_order_id == order_id)
                    .order_by(WorkOrderEvent.recorded_at)
                )
            )
            assert sorted(kinds) == sorted(
                ["published_to_pool", "assigned", "status_changed", "claimed_from_pool"]
            )
    finally:
        _cleanup(engine, tenant_id)


def _cleanup(engine: Any, tenant_id: uuid.UUID) -> None:
    from server.auth.models import User
    from server.customers.models import Customer, Site
    from server.notifications.models import NotificationOutbox
    from server.sync.models import SyncChange, SyncScopeExit
    from server.technicians.models import Technician
    from server.tenants.models import Tenant
    from server.work_orders.models import WorkOrder, WorkOrderEvent

    with Session(engine) as s:
        s.info["system"] = True
        for model in (
            NotificationOutbox,
            SyncScopeExit,
            SyncChange,
            WorkOrderEvent,
            PoolEntry,
            WorkOrder,
            Technician,
            Site,
            Customer,
            User,
        ):
            s.execute(delete(model).where(model.tenant_id == tenant_id))  # type: ignore[attr-defined]
        s.execute(delete(Tenant).where(Tenant.id == tenant_id))
        s.commit()
