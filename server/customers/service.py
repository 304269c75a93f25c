"""Customers and their sites: listing, reading, writing, and the Customer 360 overview.

Also home of what a technician may see of customers, sites and installed equipment:
only what hangs off a work order they lead or help on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, not_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

from geo import BBox, GeoError, Point, bbox_around
from geo.sql import contains_point, distance_m, point_element, point_from_element, within_bbox
from server.auth.principal import Principal
from server.customers.models import Customer, Site
from server.db import UUIDPk, db, utcnow
from server.equipment.models import Equipment
from server.errors import Conflict, NotFound, ValidationFailed
from server.http import apply_sort, paginate, text_search
from server.organization.models import Territory
from server.schemas import point_dict, point_of
from server.tenants.models import Tenant
from server.work_orders.models import WorkOrder
from server.work_orders.scope import assigned_to, linked_ids
from server.work_orders.service import record_event
from workflow.lifecycle import OPEN

M = TypeVar("M", bound=UUIDPk)

OPEN_STATUSES = sorted(s.value for s in OPEN)
DEFAULT_RADIUS_M = 5_000.0
RECENT_ORDERS_LIMIT = 20
# Lists in the overview are capped to keep it one screen; counts stay exact.
OVERVIEW_OPEN_LIMIT = 200
OVERVIEW_EQUIPMENT_LIMIT = 500

# Names sort case-insensitively on both engines (SQLite compares bytes).
CUSTOMER_SORTS = {
    "name": func.lower(Customer.name),
    "code": Customer.code,
    "created_at": Customer.created_at,
}
SITE_SORTS = {"name": func.lower(Site.name), "created_at": Site.created_at}


# --- visibility -------------------------------------------------------------------------


def customers_visible_to(principal: Principal) -> ColumnElement[bool] | None:
    """Extra WHERE on customers for technicians; None when the role sees all of them."""
    if not principal.is_technician:
        return None
    return Customer.id.in_(linked_ids(principal, WorkOrder.customer_id))


def sites_visible_to(principal: Principal) -> ColumnElement[bool] | None:
    """Extra WHERE on sites for technicians; None when the role sees all of them."""
    if not principal.is_technician:
        return None
    return Site.id.in_(linked_ids(principal, WorkOrder.site_id))


def equipment_visible_to(principal: Principal) -> ColumnElement[bool] | None:
    """Extra WHERE on equipment for technicians: units of their orders and every component."""
    if not principal.is_technician:
        return None
    tree = (
        select(Equipment.id)
        .where(Equipment.id.in_(linked_ids(principal, WorkOrder.equipment_id)))
        .cte("visible_units", recursive=True)
    )
    # UNION (not UNION ALL) terminates even if bad data ever forms a parent cycle.
    tree = tree.union(select(Equipment.id).join(tree, Equipment.parent_id == tree.c.id))
    return Equipment.id.in_(select(tree.c.id))


def orders_visible_to(principal: Principal) -> list[ColumnElement[bool]]:
    """WHERE clauses on work orders for technicians (their own); empty for office roles."""
    return [assigned_to(principal.technician_id)] if principal.is_technician else []


def load_visible(
    db_session: Session,
    model: type[M],
    ident: uuid.UUID,
    *,
    where: ColumnElement[bool] | None,
    what: str,
    options: Sequence[ORMOption] = (),
) -> M:
    """One row by id, or 404 when it is missing, another tenant's, or hidden from the caller."""
    stmt = select(model).where(model.id == ident).options(*options)
    if where is not None:
        stmt = stmt.where(where)
    obj = db_session.scalars(stmt).unique().first()
    if obj is None:
        raise NotFound(f"No {what} with id {ident}.")
    return obj


def unknown(field: str, message: str, code: str) -> ValidationFailed:
    """A 422 for a referenced id that does not exist in the caller's tenant."""
    return ValidationFailed(message, code=code, errors={"json": {field: [message]}})


# --- customers --------------------------------------------------------------------------


def list_customers(*, args: dict[str, Any], pagination: Any) -> list[Any]:
    """One page of customers, filtered by tier and text."""
    stmt = select(Customer)
    if "tier" in args:
        stmt = stmt.where(Customer.tier == args["tier"])
    stmt = text_search(stmt, args.get("q"), Customer.name, Customer.code)
    stmt = apply_sort(stmt, args.get("sort"), CUSTOMER_SORTS, [CUSTOMER_SORTS["name"]], Customer.id)
    return paginate(stmt, pagination)


def get_customer(*, db_session: Session, principal: Principal, customer_id: uuid.UUID) -> Customer:
    """A customer the caller may see."""
    return load_visible(
        db_session, Customer, customer_id, where=customers_visible_to(principal), what="customer"
    )


def _check_code_free(db_session: Session, code: str, *, exclude: uuid.UUID | None) -> None:
    stmt = select(Customer.id).where(Customer.code == code)
    if exclude is not None:
        stmt = stmt.where(Customer.id != exclude)
    if db_session.scalar(stmt) is not None:
        raise Conflict(f"Customer code '{code}' is taken.", code="duplicate_customer_code")


def _contacts(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("name", "phone", "email", "role")
    return [{**{k: c.get(k) for k in keys}, "primary": bool(c.get("primary"))} for c in raw]


def create_customer(*, db_session: Session, data: dict[str, Any]) -> Customer:
    """Create a customer; its code is unique in the tenant."""
    _check_code_free(db_session, data["code"], exclude=None)
    customer = Customer(
        code=data["code"],
        name=data["name"],
        tier=data["tier"],
        contacts=_contacts(data["contacts"]),
        notes=data.get("notes"),
    )
    db_session.add(customer)
    db_session.commit()
    return customer


def update_customer(*, db_session: Session, customer: Customer, data: dict[str, Any]) -> Customer:
    """Change customer fields; ``contacts`` replaces the list."""
    if "code" in data and data["code"] != customer.code:
        _check_code_free(db_session, data["code"], exclude=customer.id)
    for key in ("code", "name", "tier", "notes"):
        if key in data:
            setattr(customer, key, data[key])
    if "contacts" in data:
        customer.contacts = _contacts(data["contacts"])
    db_session.commit()
    return customer


_ORDER_SUMMARY = (
    WorkOrder.id,
    WorkOrder.number,
    WorkOrder.title,
    WorkOrder.status,
    WorkOrder.order_type,
    WorkOrder.priority,
    WorkOrder.site_id,
    WorkOrder.equipment_id,
    WorkOrder.lead_technician_id,
    WorkOrder.scheduled_start,
    WorkOrder.actual_end,
    WorkOrder.created_at,
)


def _count(model: Any, where: list[ColumnElement[bool]]) -> Any:
    return select(func.count()).select_from(model).where(*where).scalar_subquery()


def customer_overview(
    *, db_session: Session, principal: Principal, customer_id: uuid.UUID
) -> dict[str, Any]:
    """Customer 360 in six queries: customer, sites, equipment, open and past orders, counts."""
    customer = get_customer(db_session=db_session, principal=principal, customer_id=customer_id)
    site_where = [Site.customer_id == customer.id]
    equipment_where = [Equipment.customer_id == customer.id]
    order_where = [WorkOrder.customer_id == customer.id, *orders_visible_to(principal)]
    for clauses, extra in (
        (site_where, sites_visible_to(principal)),
        (equipment_where, equipment_visible_to(principal)),
    ):
        if extra is not None:
            clauses.append(extra)
    is_open = WorkOrder.status.in_(OPEN_STATUSES)
    newest_first = (WorkOrder.created_at.desc(), WorkOrder.id.desc())

    sites = db_session.scalars(
        select(Site).where(*site_where).order_by(SITE_SORTS["name"], Site.id)
    )
    equipment = db_session.scalars(
        select(Equipment)
        .where(*equipment_where)
        .order_by(func.lower(Equipment.name), Equipment.id)
        .limit(OVERVIEW_EQUIPMENT_LIMIT)
    )
    open_orders = db_session.execute(
        select(*_ORDER_SUMMARY)
        .where(*order_where, is_open)
        .order_by(*newest_first)
        .limit(OVERVIEW_OPEN_LIMIT)
    )
    past_orders = db_session.execute(
        select(*_ORDER_SUMMARY)
        .where(*order_where, not_(is_open))
        .order_by(*newest_first)
        .limit(RECENT_ORDERS_LIMIT)
    )
    year_ago = utcnow() - dt.timedelta(days=365)
    counts = db_session.execute(
        select(
            _count(Site, site_where).label("sites"),
            _count(Equipment, equipment_where).label("equipment"),
            _count(WorkOrder, [*order_where, is_open]).label("open_work_orders"),
            _count(WorkOrder, [*order_where, WorkOrder.created_at >= year_ago]).label(
                "work_orders_last_365_days"
            ),
        )
    ).one()
    return {
        "customer": customer,
        "sites": list(sites.unique()),
        "equipment": list(equipment),
        "open_work_orders": list(open_orders.mappings()),
        "recent_work_orders": list(past_orders.mappings()),
        "counts": dict(counts._mapping),
    }


# --- sites ------------------------------------------------------------------------------


class SiteHit:
    """A site found by a ``near`` search and its distance; schemas read it like a Site."""

    def __init__(self, site: Site, distance: float) -> None:
        self.site = site
        self.distance_m = distance

    def __getattr__(self, name: str) -> Any:
        return getattr(self.site, name)


def _geo_filter_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, code="invalid_geo_filter", errors={"query": {field: [message]}}
    )


def parse_near(text: str) -> Point:
    """Parse ``lat,lon`` (latitude first, as people say it)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise GeoError("near needs 'lat,lon'")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError as exc:
        raise GeoError("near values must be numbers") from exc
    return Point(lat=lat, lon=lon)


def _in_box(bbox: BBox, dialect: str) -> ColumnElement[bool]:
    return within_bbox(Site.location, bbox, dialect, table="sites", column_name="location")


def list_sites(*, args: dict[str, Any], pagination: Any) -> list[Any]:
    """One page of sites; with ``near`` only those within ``radius_m``, nearest first."""
    dialect = db.dialect
    stmt = select(Site)
    for key in ("customer_id", "territory_id"):
        if key in args:
            stmt = stmt.where(getattr(Site, key) == args[key])
    stmt = text_search(stmt, args.get("q"), Site.name, Site.address)
    if "bbox" in args:
        try:
            stmt = stmt.where(_in_box(BBox.parse(args["bbox"]), dialect))
        except GeoError as exc:
            raise _geo_filter_error("bbox", f"Bad bbox: {exc}.") from exc
    if "near" not in args:
        if "radius_m" in args:
            raise _geo_filter_error("radius_m", "radius_m needs near.")
        stmt = apply_sort(stmt, args.get("sort"), SITE_SORTS, [SITE_SORTS["name"]], Site.id)
        return paginate(stmt, pagination)

    try:
        center = parse_near(args["near"])
    except GeoError as exc:
        raise _geo_filter_error("near", f"Bad near: {exc}.") from exc
    if args.get("sort"):
        raise ValidationFailed(
            "near results are sorted by distance.",
            code="invalid_sort",
            errors={"sort": ["Leave out sort when using near."]},
        )
    radius = float(args.get("radius_m", DEFAULT_RADIUS_M))
    distance = distance_m(Site.location, center, dialect)
    box = bbox_around(center, radius)
    if box.min_lon > -180.0 and box.max_lon < 180.0:
        # Index pre-filter; skipped when the circle reaches the antimeridian (boxes can't wrap).
        stmt = stmt.where(_in_box(box, dialect))
    stmt = (
        stmt.add_columns(distance.label("distance_m"))
        .where(distance <= radius)
        .order_by(distance, Site.id)
    )
    return [SiteHit(site, float(d)) for site, d in paginate(stmt, pagination, rows=True)]


def get_site(*, db_session: Session, principal: Principal, site_id: uuid.UUID) -> Site:
    """A site the caller may see."""
    return load_visible(db_session, Site, site_id, where=sites_visible_to(principal), what="site")


def _explicit_territory(db_session: Session, territory_id: uuid.UUID | None) -> uuid.UUID | None:
    if territory_id is None:
        return None
    if db_session.get(Territory, territory_id) is None:
        raise unknown("territory_id", f"No territory with id {territory_id}.", "unknown_territory")
    return territory_id


def _containing_territory(db_session: Session, point: Point) -> uuid.UUID | None:
    # Overlapping territories: the lowest code wins, so the choice is stable.
    stmt = (
        select(Territory.id)
        .where(
            Territory.boundary.is_not(None),
            contains_point(Territory.boundary, point, db.dialect),
        )
        .order_by(Territory.code, Territory.id)
        .limit(1)
    )
    return db_session.scalar(stmt)


def create_site(*, db_session: Session, principal: Principal, data: dict[str, Any]) -> Site:
    """Create a site of a customer; territory and time zone default from its position/tenant."""
    customer = db_session.get(Customer, data["customer_id"])
    if customer is None:
        raise unknown(
            "customer_id", f"No customer with id {data['customer_id']}.", "unknown_customer"
        )
    point = point_of(data["location"])
    assert point is not None  # required by the schema
    if "territory_id" in data:
        territory_id = _explicit_territory(db_session, data["territory_id"])
    else:
        territory_id = _containing_territory(db_session, point)
    timezone = data.get("timezone")
    if timezone is None:
        tenant = db_session.get(Tenant, principal.tenant_id)
        timezone = tenant.timezone if tenant is not None else "UTC"
    site = Site(
        customer_id=customer.id,
        name=data["name"],
        address=data["address"],
        location=point_element(point),
        access_notes=data.get("access_notes"),
        timezone=timezone,
        territory_id=territory_id,
    )
    db_session.add(site)
    db_session.commit()
    return site


def update_site(
    *, db_session: Session, site: Site, data: dict[str, Any], principal: Principal
) -> Site:
    """Change site fields; a new location re-derives the territory unless one is given."""
    for key in ("name", "address", "access_notes", "timezone"):
        if key in data:
            setattr(site, key, data[key])
    point = point_of(data.get("location"))
    if point is not None:
        site.location = point_element(point)
    if "territory_id" in data:
        site.territory_id = _explicit_territory(db_session, data["territory_id"])
    elif point is not None:
        site.territory_id = _containing_territory(db_session, point)
    if point is not None:
        _relocate_open_orders(db_session, site, principal)
    db_session.commit()
    return site


def _relocate_open_orders(db_session: Session, site: Site, principal: Principal) -> None:
    # Orders copy the site position for the map index; open ones must follow a move
    # (finished ones keep where the work was done). Written through the ORM so their
    # version (ETag) bumps and the sync change log sees every moved order.
    orders = db_session.scalars(
        select(WorkOrder).where(
            WorkOrder.site_id == site.id, WorkOrder.status.in_([s.value for s in OPEN])
        )
    )
    now = utcnow()
    for order in orders:
        order.location = site.location
        order.updated_at = now
        record_event(
            db_session=db_session,
            order=order,
            principal=principal,
            event_type="relocated",
            payload={"site_id": str(site.id), "location": point_dict(point_of_site(site))},
        )


def point_of_site(site: Site) -> Point | None:
    """The site's position as a geo.Point."""
    return point_from_element(site.location)
