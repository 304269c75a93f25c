"""Builders for test data; each returns a flushed ORM object in the given session."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from geo import Point
from geo.sql import point_element
from server.auth.models import User
from server.auth.security import hash_password, issue_access_token
from server.customers.models import Customer, Site
from server.equipment.models import Equipment
from server.organization.models import Skill, Territory
from server.technicians.models import Technician, TechnicianSkill
from server.tenants.models import Tenant
from server.work_orders.models import WorkOrder

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"
SHANGHAI = Point(lat=31.2304, lon=121.4737)


def n() -> int:
    """A process-unique number for unique names."""
    return next(_seq)


def make_tenant(s: Session, **kw: Any) -> Tenant:
    """A tenant."""
    i = n()
    t = Tenant(
        slug=kw.pop("slug", f"tenant-{i}"),
        name=kw.pop("name", f"Tenant {i}"),
        timezone=kw.pop("timezone", "Asia/Shanghai"),
        **kw,
    )
    s.add(t)
    s.flush()
    return t


def make_user(s: Session, tenant: Tenant, role: str = "admin", **kw: Any) -> User:
    """A user with the shared test password."""
    i = n()
    u = User(
        tenant_id=tenant.id,
        email=kw.pop("email", f"user{i}@example.com"),
        name=kw.pop("name", f"User {i}"),
        role=role,
        password_hash=kw.pop("password_hash", None) or hash_password(PASSWORD),
        **kw,
    )
    s.add(u)
    s.flush()
    return u


def make_skill(s: Session, tenant: Tenant, code: str | None = None) -> Skill:
    """A skill."""
    code = code or f"skill-{n()}"
    sk = Skill(tenant_id=tenant.id, code=code, name=code.title())
    s.add(sk)
    s.flush()
    return sk


def make_territory(s: Session, tenant: Tenant) -> Territory:
    """A territory without a boundary."""
    i = n()
    t = Territory(tenant_id=tenant.id, code=f"T{i}", name=f"Territory {i}")
    s.add(t)
    s.flush()
    return t


def make_technician(
    s: Session,
    tenant: Tenant,
    user: User | None = None,
    skills: dict[Skill, int] | None = None,
    **kw: Any,
) -> Technician:
    """A technician, optionally linked to a user and holding skills."""
    tech = Technician(
        tenant_id=tenant.id,
        user_id=user.id if user else None,
        name=kw.pop("name", f"Tech {n()}"),
        home_base=point_element(kw.pop("home", SHANGHAI)),
        **kw,
    )
    for skill, level in (skills or {}).items():
        tech.skills.append(TechnicianSkill(tenant_id=tenant.id, skill_id=skill.id, level=level))
    s.add(tech)
    s.flush()
    return tech


def make_customer(s: Session, tenant: Tenant, **kw: Any) -> Customer:
    """A customer."""
    i = n()
    c = Customer(
        tenant_id=tenant.id,
        code=kw.pop("code", f"C{i:05d}"),
        name=kw.pop("name", f"Customer {i}"),
        tier=kw.pop("tier", "standard"),
        contacts=kw.pop("contacts", []),
        **kw,
    )
    s.add(c)
    s.flush()
    return c


def make_site(
    s: Session, tenant: Tenant, customer: Customer, at: Point = SHANGHAI, **kw: Any
) -> Site:
    """A site of a customer."""
    site = Site(
        tenant_id=tenant.id,
        customer_id=customer.id,
        name=kw.pop("name", f"Site {n()}"),
        address=kw.pop("address", "1 Test Road"),
        location=point_element(at),
        timezone=kw.pop("timezone", "Asia/Shanghai"),
        **kw,
    )
    s.add(site)
    s.flush()
    return site


def make_equipment(s: Session, tenant: Tenant, site: Site, **kw: Any) -> Equipment:
    """A piece of equipment at a site."""
    i = n()
    e = Equipment(
        tenant_id=tenant.id,
        site_id=site.id,
        customer_id=site.customer_id,
        name=kw.pop("name", f"Unit {i}"),
        category=kw.pop("category", "elevator"),
        manufacturer=kw.pop("manufacturer", "Acme"),
        model=kw.pop("model", "E-100"),
        serial_number=kw.pop("serial_number", f"SN{i:06d}"),
        configuration=kw.pop("configuration", {}),
        **kw,
    )
    s.add(e)
    s.flush()
    return e


def make_work_order(s: Session, tenant: Tenant, site: Site, **kw: Any) -> WorkOrder:
    """A work order at a site (status and fields as given, no events)."""
    i = n()
    wo = WorkOrder(
        tenant_id=tenant.id,
        number=kw.pop("number", f"WO-T-{i:06d}"),
        title=kw.pop("title", f"Order {i}"),
        order_type=kw.pop("order_type", "repair"),
        customer_id=site.customer_id,
        site_id=site.id,
        location=site.location,
        **kw,
    )
    s.add(wo)
    s.flush()
    return wo


def token_for(app: Flask, user: User) -> str:
    """A valid access token for a user."""
    with app.app_context():
        token, _ = issue_access_token(user_id=user.id, tenant_id=user.tenant_id, role=user.role)
    return token


class Api:
    """A test client that signs every request as one user."""

    def __init__(self, client: FlaskClient, app: Flask, user: User | None = None) -> None:
        self.client = client
        self.app = app
        self.user = user
        self.token = token_for(app, user) if user else None

    def as_(self, user: User) -> Api:
        """The same client, signed in as someone else."""
        return Api(self.client, self.app, user)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def get(self, url: str, **kw: Any) -> Any:
        """GET."""
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url: str, json: Any = None, **kw: Any) -> Any:
        """POST JSON."""
        return self.client.post(
            url, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    def patch(self, url: str, json: Any = None, **kw: Any) -> Any:
        """PATCH JSON."""
        return self.client.patch(
            url, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    def put(self, url: str, data: Any = None, **kw: Any) -> Any:
        """PUT a raw body (bytes)."""
        return self.client.put(url, data=data, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        """DELETE."""
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)


def aware(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A UTC datetime."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def new_id() -> str:
    """A random UUID string."""
    return str(uuid.uuid4())


@contextlib.contextmanager
def count_queries(connection: Any) -> Iterator[list[str]]:
    """Collect every SQL statement run on the test connection."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            seen.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)
