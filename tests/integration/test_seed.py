"""The demo seed: sizes, legal histories, geography, isolation, determinism, logins, CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import server.seed as seed_module
from server.auth.models import User
from server.customers.models import Customer, Site
from server.db import set_tenant
from server.equipment.models import Equipment, EquipmentConfigRevision
from server.organization.models import CustomFieldDefinition, Skill, Territory
from server.parts.models import Part, PartUsage
from server.seed import DEMO_PASSWORD, generate_demo, seed_demo
from server.technicians.models import Technician
from server.tenants.models import Tenant
from server.work_orders.models import (
    CHANNELS,
    ORDER_TYPES,
    PRIORITIES,
    SUPPORT_TIERS,
    WorkOrder,
    WorkOrderCounter,
    WorkOrderEvent,
)
from workflow.lifecycle import HOLD_REASONS, Effect, Role, Status, TransitionContext, decide

NUMBER = re.compile(r"^(WO|CA)-(\d{4})-(\d{6})$")
CUSTOM_TYPES: dict[str, Any] = {"integer": int, "boolean": bool, "text": str}


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def order_digest(orders: Iterable[WorkOrder]) -> str:
    """A stable fingerprint of the generated orders (works on fresh or loaded rows)."""
    rows = sorted(
        (
            o.number,
            o.status,
            o.title,
            o.priority,
            str(o.id),
            str(o.lead_technician_id),
            _iso(o.created_at),
            _iso(o.scheduled_start),
            _iso(o.actual_start),
            _iso(o.actual_end),
        )
        for o in orders
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def event_digest(events: Iterable[WorkOrderEvent]) -> str:
    """Fingerprint of the histories."""
    rows = sorted(
        (str(e.work_order_id), _iso(e.occurred_at), e.event_type, e.to_status, e.actor_role)
        for e in events
    )
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_generation_is_deterministic() -> None:
    first = generate_demo(password_hash="x")
    second = generate_demo(password_hash="y")
    assert order_digest(first.work_orders) == order_digest(second.work_orders)
    assert event_digest(first.events) == event_digest(second.events)
    assert first.counts == second.counts
    other = generate_demo(password_hash="x", seed=7)
    assert order_digest(other.work_orders) != order_digest(first.work_orders)


def _tenant(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    assert tenant is not None
    return tenant


def _count(session: Session, model: Any, tenant: Tenant) -> int:
    return session.scalar(
        select(func.count()).select_from(model).where(model.tenant_id == tenant.id)
    )


def _check_sizes(session: Session, shenhu: Tenant, coolair: Tenant) -> None:
    roles = Counter(session.scalars(select(User.role).where(User.tenant_id == shenhu.id)).all())
    assert roles["admin"] >= 1 and roles["dispatcher"] == 3 and roles["agent"] == 4
    technicians = _count(session, Technician, shenhu)
    assert 20 <= technicians <= 30 and roles["technician"] == technicians
    assert _count(session, Skill, shenhu) >= 8
    assert _count(session, Territory, shenhu) == 3
    assert 180 <= _count(session, Customer, shenhu) <= 220
    assert 250 <= _count(session, Site, shenhu) <= 350
    assert 350 <= _count(session, Equipment, shenhu) <= 480
    assert 90 <= _count(session, Part, shenhu) <= 110
    assert 280 <= _count(session, WorkOrder, shenhu) <= 320
    assert 1 <= _count(session, PartUsage, shenhu) <= 80
    components = session.scalar(
        select(func.count())
        .select_from(Equipment)
        .where(Equipment.tenant_id == shenhu.id, Equipment.parent_id.is_not(None))
    )
    assert components >= 10
    vip = session.scalar(
        select(func.count())
        .select_from(Customer)
        .where(Customer.tenant_id == shenhu.id, Customer.tier == "vip")
    )
    assert 0.08 <= vip / _count(session, Customer, shenhu) <= 0.25

    small = Counter(session.scalars(select(User.role).where(User.tenant_id == coolair.id)).all())
    assert small == Counter({"admin": 1, "dispatcher": 1, "technician": 2})
    assert _count(session, Customer, coolair) == 5
    assert 8 <= _count(session, WorkOrder, coolair) <= 12


def _check_people(session: Session) -> None:
    users = {u.id: u for u in session.scalars(select(User))}
    assert all(u.email.endswith(".example") for u in users.values())
    for tech in session.scalars(select(Technician)):
        user = users[tech.user_id] if tech.user_id else None
        assert user is not None and user.role == "technician"
        assert user.tenant_id == tech.tenant_id
        assert 4 <= tech.max_jobs_per_day <= 8 and tech.shifts and tech.skills
        assert 1 <= len(tech.territories) <= 2
        assert all(1 <= s.level <= 5 for s in tech.skills)
        home = to_shape(tech.home_base)
        assert any(to_shape(t.boundary).contains(home) for t in tech.territories)


def _check_places(session: Session) -> None:
    territories = {t.id: to_shape(t.boundary) for t in session.scalars(select(Territory))}
    sites = {s.id: s for s in session.scalars(select(Site))}
    for site in sites.values():
        assert site.territory_id is not None and site.timezone == "Asia/Shanghai"
        assert territories[site.territory_id].contains(to_shape(site.location)), site.name
    for customer in session.scalars(select(Customer)):
        contacts = customer.contacts
        assert contacts and sum(1 for c in contacts if c["primary"]) == 1
        assert set(contacts[0]) == {"name", "phone", "email", "role", "primary"}
    serials = Counter(
        (e.tenant_id, e.manufacturer, e.serial_number) for e in session.scalars(select(Equipment))
    )
    assert max(serials.values()) == 1
    revisions: dict[uuid.UUID, list[EquipmentConfigRevision]] = defaultdict(list)
    for rev in session.scalars(select(EquipmentConfigRevision)):
        revisions[rev.equipment_id].append(rev)
    for unit in session.scalars(select(Equipment)):
        history = sorted(revisions[unit.id], key=lambda r: r.revision)
        assert [r.revision for r in history] == list(range(1, unit.config_revision + 1))
        assert history[-1].configuration == unit.configuration
        assert unit.site_id in sites and sites[unit.site_id].customer_id == unit.customer_id
    assert sum(1 for h in revisions.values() if len(h) == 2) >= 20


def _replay(order: WorkOrder, events: list[WorkOrderEvent], tech_users: dict[Any, Any]) -> None:
    """Walk the history through the lifecycle table exactly like the transition service."""
    assert events[0].event_type == "created" and events[0].to_status == "new"
    times = [e.occurred_at for e in events]
    assert times == sorted(times) and len(set(times)) == len(times), order.number
    helper_users = {tech_users[h.technician_id] for h in order.helpers}
    state = Status.NEW
    lead = None
    schedule: dict[str, Any] = {}
    actual_start = actual_end = None
    for event in events[1:]:
        if event.event_type != "status_changed":
            continue
        assert event.from_status == state.value, order.number
        changes = event.payload.get("changes", {})
        if "lead_technician_id" in changes:
            lead = changes["lead_technician_id"]["to"]
        for key in ("scheduled_start", "scheduled_end"):
            if key in changes:
                schedule[key] = changes[key]["to"]
        assignees = helper_users | ({tech_users[uuid.UUID(lead)]} if lead else set())
        decision = decide(
            state,
            Status(event.to_status),
            TransitionContext(
                role=Role(event.actor_role),
                has_lead_technician=lead is not None,
                has_schedule=len(schedule) == 2,
                actor_is_assignee=event.actor_user_id in assignees,
                resolution_summary=event.payload.get("resolution_summary"),
                hold_reason=event.payload.get("hold_reason"),
                reason=event.payload.get("reason"),
            ),
        )
        assert decision.allowed, (order.number, state, event.to_status, decision.code)
        if Effect.SET_ACTUAL_START in decision.effects and actual_start is None:
            actual_start = event.occurred_at
        if Effect.SET_ACTUAL_END in decision.effects:
            actual_end = event.occurred_at
        if event.actor_role == "technician":
            assert event.location is not None and event.location_accuracy_m is not None
        state = Status(event.to_status)
    assert state.value == order.status, order.number
    assert (actual_start, actual_end) == (order.actual_start, order.actual_end), order.number
    assert str(order.lead_technician_id) == str(lead)
    if schedule:
        assert schedule["scheduled_start"] == _iso(order.scheduled_start)
        assert schedule["scheduled_end"] == _iso(order.scheduled_end)


def _check_orders(session: Session) -> None:
    orders = list(session.scalars(select(WorkOrder)))
    tenants = {t.id: t for t in session.scalars(select(Tenant))}
    shenhu = next(t for t in tenants.values() if t.slug == "shenhu")
    assert {o.status for o in orders if o.tenant_id == shenhu.id} == {s.value for s in Status}
    events: dict[uuid.UUID, list[WorkOrderEvent]] = defaultdict(list)
    for event in session.scalars(select(WorkOrderEvent).order_by(WorkOrderEvent.occurred_at)):
        events[event.work_order_id].append(event)
    tech_users = {t.id: t.user_id for t in session.scalars(select(Technician))}
    sites = {s.id: s for s in session.scalars(select(Site))}
    skills = {(s.tenant_id, s.code) for s in session.scalars(select(Skill))}
    definitions = {
        (d.tenant_id, d.key): d.field_type for d in session.scalars(select(CustomFieldDefinition))
    }
    levels = {
        t.id: {s.skill.code: s.level for s in t.skills} for t in session.scalars(select(Technician))
    }
    sequence: dict[tuple[uuid.UUID, int], list[int]] = defaultdict(list)
    for o in orders:
        _replay(o, events[o.id], tech_users)
        match = NUMBER.match(o.number)
        assert match and match.group(1) == tenants[o.tenant_id].order_prefix
        sequence[(o.tenant_id, int(match.group(2)))].append(int(match.group(3)))
        assert o.order_type in ORDER_TYPES and o.priority in PRIORITIES
        assert o.support_tier in SUPPORT_TIERS and o.channel in CHANNELS
        assert to_shape(o.location).equals(to_shape(sites[o.site_id].location))
        assert sites[o.site_id].customer_id == o.customer_id
        for need in o.required_skills:
            assert (o.tenant_id, need["skill"]) in skills and 1 <= need["min_level"] <= 5
            if o.lead_technician_id:  # planned leads are qualified for the job
                assert levels[o.lead_technician_id].get(need["skill"], 0) >= need["min_level"]
        for key, value in o.custom_fields.items():
            assert type(value) is CUSTOM_TYPES[definitions[(o.tenant_id, key)]]
        status = Status(o.status)
        planned = {Status.SCHEDULED, Status.DISPATCHED, Status.ACCEPTED, Status.EN_ROUTE}
        if status in planned | {Status.ON_SITE, Status.COMPLETED, Status.CLOSED}:
            assert o.lead_technician_id and o.scheduled_start and o.scheduled_end
            assert o.scheduled_start < o.scheduled_end
        if status in {Status.ON_SITE, Status.COMPLETED, Status.CLOSED, Status.REOPENED}:
            assert o.actual_start is not None
        if status in {Status.COMPLETED, Status.CLOSED, Status.REOPENED}:
            assert o.actual_end and o.actual_start < o.actual_end and o.resolution_summary
        assert (o.hold_reason is not None) == (status is Status.ON_HOLD)
        assert o.hold_reason is None or o.hold_reason in HOLD_REASONS
        assert (o.cancel_reason is not None) == (status is Status.CANCELLED)
        if o.requested_start and o.requested_end:
            assert o.requested_start < o.requested_end
    counters = {
        (c.tenant_id, c.year): c.last_value for c in session.scalars(select(WorkOrderCounter))
    }
    assert counters == {key: len(values) for key, values in sequence.items()}
    for values in sequence.values():
        assert sorted(values) == list(range(1, len(values) + 1))
    finished = {o.id for o in orders if o.actual_end is not None}
    for usage in session.scalars(select(PartUsage)):
        assert usage.work_order_id in finished and usage.quantity > 0


def _check_isolation(connection: Any, shenhu: Tenant, coolair: Tenant) -> None:
    scoped = Session(bind=connection, join_transaction_mode="rollback_only")
    try:
        set_tenant(scoped, shenhu.id)
        orders = scoped.scalars(select(WorkOrder)).all()
        assert orders and {o.tenant_id for o in orders} == {shenhu.id}
        assert {c.tenant_id for c in scoped.scalars(select(Customer))} == {shenhu.id}
        assert {u.tenant_id for u in scoped.scalars(select(User))} == {shenhu.id}
        assert all(n.startswith("WO-") for n in scoped.scalars(select(WorkOrder.number)))
        # Customer codes repeat across tenants; the scope still returns only one.
        assert len(scoped.scalars(select(Customer).where(Customer.code == "C00001")).all()) == 1
        set_tenant(scoped, coolair.id)
        assert {o.tenant_id for o in scoped.scalars(select(WorkOrder))} == {coolair.id}
        assert scoped.scalar(select(func.count()).select_from(Site)) == _count(
            scoped, Site, coolair
        )
        shenhu_order = orders[0].id
        assert scoped.scalar(select(WorkOrder).where(WorkOrder.id == shenhu_order)) is None
    finally:
        scoped.close()


def test_seed_writes_a_consistent_demo(app: Flask, connection: Any, session: Session) -> None:
    with app.app_context():
        summary = seed_demo()
    assert "admin@shenhu.example" in summary and DEMO_PASSWORD in summary
    assert "admin@coolair.example" in summary and "work order events" in summary
    shenhu, coolair = _tenant(session, "shenhu"), _tenant(session, "coolair")
    assert shenhu.timezone == "Asia/Shanghai"
    _check_sizes(session, shenhu, coolair)
    _check_people(session)
    _check_places(session)
    _check_orders(session)
    _check_isolation(connection, shenhu, coolair)
    # What was written is exactly what the generator produces on every run.
    fresh = generate_demo(password_hash="unused")
    assert order_digest(session.scalars(select(WorkOrder))) == order_digest(fresh.work_orders)
    assert event_digest(session.scalars(select(WorkOrderEvent))) == event_digest(fresh.events)
    # Opening stock went through the ledger: the books agree, and every van holds parts.
    from server.stock.models import StockBalance, StockLocation
    from server.stock.service import ledger_mismatches
    from server.technicians.models import Technician

    assert ledger_mismatches(session) == []
    vans = session.scalars(select(StockLocation).where(StockLocation.kind == "van")).all()
    assert len(vans) == session.scalar(select(func.count()).select_from(Technician))
    stocked = session.scalars(
        select(StockBalance.location_id).where(StockBalance.on_hand > 0).distinct()
    ).all()
    assert {v.id for v in vans} <= set(stocked)
    _check_service_desk(session, summary)


def _check_service_desk(session: Session, summary: str) -> None:
    """SLA policies, routing rules and QR codes per company, usable as loaded."""
    from server.equipment.models import Equipment
    from server.intake.models import EquipmentQrCode
    from server.routing.models import RoutingRule
    from server.sla.models import SlaPolicy

    for tenant in session.scalars(select(Tenant)):
        policies = session.scalars(select(SlaPolicy).where(SlaPolicy.tenant_id == tenant.id))
        assert {(p.priority, p.customer_tier) for p in policies} == {
            ("low", None),
            ("normal", None),
            ("high", None),
            ("urgent", None),
            ("high", "vip"),
            ("urgent", "vip"),
        }
        rules = session.scalars(
            select(RoutingRule)
            .where(RoutingRule.tenant_id == tenant.id)
            .order_by(RoutingRule.position)
        ).all()
        assert "finance" in str(rules[0].actions)
        units = session.scalar(
            select(func.count())
            .select_from(Equipment)
            .where(Equipment.tenant_id == tenant.id, Equipment.parent_id.is_(None))
        )
        codes = session.scalars(
            select(EquipmentQrCode).where(EquipmentQrCode.tenant_id == tenant.id)
        ).all()
        assert len(codes) == units and all(len(c.token) >= 43 for c in codes)
        assert any(f"/r/{c.token}" in summary for c in codes)


def test_cli_seed_logins_and_reseeding(app: Flask, client: FlaskClient, session: Session) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "Demo data loaded" in result.output and "tech01@shenhu.example" in result.output
    orders = session.scalar(select(func.count()).select_from(WorkOrder))

    for email, role in (
        ("admin@shenhu.example", "admin"),
        ("tech01@shenhu.example", "technician"),
        ("admin@coolair.example", "admin"),
    ):
        r = client.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.json
        assert r.json["user"]["role"] == role

    again = runner.invoke(args=["seed", "--if-empty"])
    assert again.exit_code == 0 and "already has tenants" in again.output
    assert DEMO_PASSWORD in again.output
    refused = runner.invoke(args=["seed"])
    assert refused.exit_code == 1 and "refusing to seed twice" in refused.output
    assert session.scalar(select(func.count()).select_from(Tenant)) == 2
    assert session.scalar(select(func.count()).select_from(WorkOrder)) == orders


def test_seed_is_all_or_nothing(
    app: Flask, connection: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_load = seed_module.load_demo

    def load_then_fail(db_session: Session, data: seed_module.DemoData) -> None:
        real_load(db_session, data)
        raise RuntimeError("disk full")

    monkeypatch.setattr(seed_module, "load_demo", load_then_fail)
    with app.app_context(), pytest.raises(RuntimeError, match="disk full"):
        seed_demo()
    assert session.scalar(select(func.count()).select_from(Tenant)) == 0
    assert session.scalar(select(func.count()).select_from(WorkOrder)) == 0


def test_demo_checklists_and_articles_fit_each_company() -> None:
    from server.checklists.models import ChecklistTemplate, pick_template
    from server.checklists.service import item_problems
    from server.kb.models import KbArticle

    data = generate_demo(password_hash="x")
    rows = [row for group in data.batches for row in group]
    templates = [r for r in rows if isinstance(r, ChecklistTemplate)]
    articles = [r for r in rows if isinstance(r, KbArticle)]
    skills = defaultdict(set)
    for skill in (r for r in rows if isinstance(r, Skill)):
        skills[skill.tenant_id].add(skill.code)
    for tenant in data.tenants:
        mine = [t for t in templates if t.tenant_id == tenant.id]
        assert any(t.active for t in mine) and data.counts[tenant.slug]["checklist templates"]
        assert all(item_problems(t.items) == {} for t in mine)
        published = [a for a in articles if a.tenant_id == tenant.id and a.published]
        assert published and any(not a.skill_codes for a in published)
        for article in (a for a in articles if a.tenant_id == tenant.id):
            assert set(article.skill_codes) <= skills[tenant.id], article.title
    by_id = {t.id: t for t in templates}
    units = {r.id: r for r in rows if isinstance(r, Equipment)}
    linked = 0
    for order in data.work_orders:
        active = [t for t in templates if t.tenant_id == order.tenant_id and t.active]
        unit = units.get(order.equipment_id) if order.equipment_id else None
        expected = pick_template(
            active, order_type=order.order_type, equipment_category=unit.category if unit else None
        )
        assert order.checklist_template_id == (expected.id if expected else None)
        if expected is None:
            continue
        linked += 1
        if order.actual_end is not None:  # finished work has every required answer
            assert by_id[expected.id].missing(order.checklist_answers) == []
    assert linked >= len(data.work_orders) // 2
