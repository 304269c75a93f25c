"""Customer and site endpoints, including the Customer 360 overview."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ALL_ROLES, OFFICE_ROLES, current, roles_required
from server.customers import service
from server.customers.schemas import (
    CustomerCreateSchema,
    CustomerOverviewSchema,
    CustomerQueryArgsSchema,
    CustomerSchema,
    CustomerUpdateSchema,
    SiteCreateSchema,
    SiteQueryArgsSchema,
    SiteSchema,
    SiteUpdateSchema,
)
from server.db import db
from server.http import Blueprint

customers_blp = Blueprint("customers", __name__, url_prefix="/customers", description="customers.")
sites_blp = Blueprint("sites", __name__, url_prefix="/sites", description="sites.")


@customers_blp.route("")
class Customers(MethodView):
    """Customers of this tenant."""

    @roles_required(*OFFICE_ROLES)
    @customers_blp.arguments(CustomerQueryArgsSchema, location="query")
    @customers_blp.response(200, CustomerSchema(many=True))
    @customers_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List customers (sort: name, code, created_at)."""
        return service.list_customers(args=args, pagination=pagination_parameters)

    @roles_required(*OFFICE_ROLES)
    @customers_blp.arguments(CustomerCreateSchema)
    @customers_blp.response(201, CustomerSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a customer."""
        return service.create_customer(db_session=db.session(), data=data)


@customers_blp.route("/<uuid:customer_id>")
class CustomerById(MethodView):
    """One customer."""

    @roles_required(*ALL_ROLES)
    @customers_blp.response(200, CustomerSchema)
    def get(self, customer_id: uuid.UUID) -> Any:
        """Get a customer (technicians: only customers of their work orders)."""
        return service.get_customer(
            db_session=db.session(), principal=current(), customer_id=customer_id
        )

    @roles_required(*OFFICE_ROLES)
    @customers_blp.arguments(CustomerUpdateSchema)
    @customers_blp.response(200, CustomerSchema)
    def patch(self, data: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Update a customer."""
        session = db.session()
        customer = service.get_customer(
            db_session=session, principal=current(), customer_id=customer_id
        )
        return service.update_customer(db_session=session, customer=customer, data=data)


@customers_blp.route("/<uuid:customer_id>/overview")
class CustomerOverview(MethodView):
    """Customer 360."""

    @roles_required(*ALL_ROLES)
    @customers_blp.response(200, CustomerOverviewSchema)
    def get(self, customer_id: uuid.UUID) -> Any:
        """The customer with its sites, equipment, open and recent work orders, and counts."""
        return service.customer_overview(
            db_session=db.session(), principal=current(), customer_id=customer_id
        )


@sites_blp.route("")
class Sites(MethodView):
    """Sites of this tenant's customers."""

    @roles_required(*OFFICE_ROLES)
    @sites_blp.arguments(SiteQueryArgsSchema, location="query")
    @sites_blp.response(200, SiteSchema(many=True))
    @sites_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List sites by customer, territory, map box or distance from a point."""
        return service.list_sites(args=args, pagination=pagination_parameters)

    @roles_required(*OFFICE_ROLES)
    @sites_blp.arguments(SiteCreateSchema)
    @sites_blp.response(201, SiteSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a site."""
        return service.create_site(db_session=db.session(), principal=current(), data=data)


@sites_blp.route("/<uuid:site_id>")
class SiteById(MethodView):
    """One site."""

    @roles_required(*ALL_ROLES)
    @sites_blp.response(200, SiteSchema)
    def get(self, site_id: uuid.UUID) -> Any:
        """Get a site (technicians: only sites of their work orders)."""
        return service.get_site(db_session=db.session(), principal=current(), site_id=site_id)

    @roles_required(*OFFICE_ROLES)
    @sites_blp.arguments(SiteUpdateSchema)
    @sites_blp.response(200, SiteSchema)
    def patch(self, data: dict[str, Any], site_id: uuid.UUID) -> Any:
        """Update a site."""
        session = db.session()
        site = service.get_site(db_session=session, principal=current(), site_id=site_id)
        return service.update_site(db_session=session, site=site, data=data, principal=current())
