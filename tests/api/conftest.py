"""Fixtures shared by the sync API tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from geo import Point
from server.parts.models import Part
from tests import factories as f


@pytest.fixture()
def field(world: Any, session: Any) -> Any:
    """An order dispatched to world.tech, another tech's order, a part."""
    customer = f.make_customer(session, world.a, name="Jinmao Tower")
    site = f.make_site(session, world.a, customer, at=Point(31.2350, 121.5010))
    unit = f.make_equipment(session, world.a, site)
    mine = f.make_work_order(
        session,
        world.a,
        site,
        status="dispatched",
        equipment_id=unit.id,
        lead_technician_id=world.tech.id,
        priority="normal",
        scheduled_start=f.aware(2026, 11, 23, 1),
        scheduled_end=f.aware(2026, 11, 23, 3),
    )
    other_site = f.make_site(session, world.a, f.make_customer(session, world.a))
    theirs = f.make_work_order(
        session,
        world.a,
        other_site,
        status="dispatched",
        lead_technician_id=world.other_tech.id,
        scheduled_start=f.aware(2026, 11, 23, 4),
        scheduled_end=f.aware(2026, 11, 23, 5),
    )
    part = Part(tenant_id=world.a.id, sku="DS-1", name="Door sensor")
    session.add(part)
    session.commit()
    return SimpleNamespace(
        customer=customer, site=site, unit=unit, mine=mine, theirs=theirs, part=part
    )
