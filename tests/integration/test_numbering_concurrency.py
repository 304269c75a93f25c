"""Concurrent creators never get the same order number and never fail (real transactions).

Runs on both engines: on SQLite it also proves writers queue for the write lock instead of
failing with "database is locked" when a read-then-write transaction meets another writer.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.auth.principal import Principal
from server.db import db, set_tenant
from server.work_orders.models import WorkOrder, WorkOrderCounter, WorkOrderEvent
from server.work_orders.service import create_work_order
from tests import factories as f
from workflow.lifecycle import Role

WRITERS, EACH = 8, 5


def test_parallel_creates_get_unique_consecutive_numbers(app: Any) -> None:
    engine = db.engine
    assert engine is not None
    with app.app_context(), Session(engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s)
        user = f.make_user(s, tenant, "agent")
        site = f.make_site(s, tenant, f.make_customer(s, tenant))
        s.commit()
        tenant_id, user_id, site_id = tenant.id, user.id, site.id
    principal = Principal(user_id, tenant_id, Role.AGENT)
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with Session(engine, expire_on_commit=False) as s:
                set_tenant(s, tenant_id)
                barrier.wait()
                for _ in range(EACH):
                    create_work_order(
                        db_session=s,
                        principal=principal,
                        data={"title": "race", "order_type": "repair", "site_id": site_id},
                    )
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == []
        with Session(engine) as s:
            set_tenant(s, tenant_id)
            numbers = sorted(s.scalars(select(WorkOrder.number)))
        sequence = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
        assert sequence == list(range(1, WRITERS * EACH + 1))
    finally:
        with Session(engine) as s:
            s.info["system"] = True
            for model in (WorkOrderEvent, WorkOrder, WorkOrderCounter):
                s.execute(delete(model).where(model.tenant_id == tenant_id))
            s.commit()
            from server.auth.models import User
            from server.customers.models import Customer, Site
            from server.tenants.models import Tenant

            for model in (Site, Customer, User):
                s.execute(delete(model).where(model.tenant_id == tenant_id))
            s.execute(delete(Tenant).where(Tenant.id == tenant_id))
            s.commit()
