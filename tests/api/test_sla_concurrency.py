"""Two SLA schedulers at once (real transactions, PostgreSQL): orders one worker holds are
skipped by the other, and every breach is handled exactly once.

SQLite serialises whole write transactions, so there is nothing to race there.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.db import db
from server.sla import hooks
from server.sla.models import SlaClock, SlaEscalation, SlaPolicy
from server.sla.scheduler import _claim, evaluate_clocks, run_due
from server.work_orders.models import WorkOrderEvent
from tests import factories as f

ORDERS = 12
T0 = dt.datetime(2026, 5, 4, 8, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(hours=1)


def _arrange(app: Any) -> tuple[uuid.UUID, list[uuid.UUID]]:
    engine = db.engine
    with app.app_context(), Session(engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s)
        f.make_user(s, tenant, "admin", password_hash="x")
        f.make_user(s, tenant, "dispatcher", password_hash="x")
        site = f.make_site(s, tenant, f.make_customer(s, tenant))
        s.add(
            SlaPolicy(
                tenant_id=tenant.id,
                name="fast",
                priority="normal",
                match_key="normal:*",
                resolution_minutes=10,
                warn_at_percent=75,
                pause_hold_reasons=[],
                breach_actions=["notify_supervisor", "open_escalation"],
            )
        )
        s.flush()
        ids = []
        for _ in range(ORDERS):
            order = f.make_work_order(s, tenant, site, created_at=T0, updated_at=T0)
            hooks.on_order_created(db_session=s, order=order, now=T0)
            ids.append(order.id)
        s.commit()
        return tenant.id, ids


def _cleanup(tenant_id: uuid.UUID) -> None:
    from server.auth.models import User
    from server.customers.models import Customer, Site
    from server.notifications.models import NotificationOutbox
    from server.sync.models import SyncChange, SyncScopeExit
    from server.tenants.models import Tenant
    from server.work_orders.models import WorkOrder

    with Session(db.engine) as s:
        s.info["system"] = True
        for model in (
            NotificationOutbox,
            SyncScopeExit,
            SyncChange,
            SlaEscalation,
            SlaClock,
            SlaPolicy,
            WorkOrderEvent,
            WorkOrder,
            Site,
            Customer,
            User,
        ):
            s.execute(delete(model).where(model.tenant_id == tenant_id))  # type: ignore[attr-defined]
        s.execute(delete(Tenant).where(Tenant.id == tenant_id))
        s.commit()


def _handled_once(tenant_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    with Session(db.engine) as s:
        s.info["system"] = True
        breaches = Counter(
            s.scalars(
                select(WorkOrderEvent.work_order_id).where(
                    WorkOrderEvent.tenant_id == tenant_id,
                    WorkOrderEvent.event_type == "sla_breached",
                )
            )
        )
        escalations = Counter(
            s.scalars(
                select(SlaEscalation.work_order_id).where(SlaEscalation.tenant_id == tenant_id)
            )
        )
    assert breaches == Counter(ids)
    assert escalations == Counter(ids)


@pytest.mark.postgis
def test_a_worker_skips_orders_another_worker_holds(app: Any) -> None:
    tenant_id, ids = _arrange(app)
    try:
        with app.app_context(), Session(db.engine) as holder:
            holder.info["system"] = True
            held = _claim(holder, LATER, 5)  # row locks kept until this transaction ends
            assert len(held) == 5
            with Session(db.engine) as other:
                report = evaluate_clocks(db_session=other, now=LATER, limit=100)
            assert report.orders == ORDERS - 5 and report.breaches == ORDERS - 5
            holder.rollback()
            with Session(db.engine) as again:
                assert evaluate_clocks(db_session=again, now=LATER, limit=100).orders == 5
            with Session(db.engine) as idle:
                assert evaluate_clocks(db_session=idle, now=LATER, limit=100).orders == 0
        _handled_once(tenant_id, ids)
    finally:
        _cleanup(tenant_id)


@pytest.mark.postgis
def test_simultaneous_workers_handle_each_breach_once(app: Any) -> None:
    tenant_id, ids = _arrange(app)
    workers = 4
    barrier = threading.Barrier(workers)
    totals: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with app.app_context(), Session(db.engine) as s:
                barrier.wait()
                report = run_due(db_session=s, now=LATER, limit=3)
            with lock:
                totals.append(report.breaches)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert sum(totals) == ORDERS
        _handled_once(tenant_id, ids)
    finally:
        _cleanup(tenant_id)
