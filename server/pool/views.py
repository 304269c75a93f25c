"""Pool endpoints: planners publish and withdraw, technicians see ranked offers and claim."""

from __future__ import annotations

import uuid
from typing import Any

import click
from flask.views import MethodView

from server.auth.principal import PLANNER_ROLES, current, roles_required
from server.db import db, system_scope
from server.http import Blueprint
from server.pool import service
from server.pool.schemas import PoolEntrySchema, PoolPublishSchema, PoolQueryArgsSchema
from workflow.lifecycle import Role

blp = Blueprint(
    "pool",
    __name__,
    url_prefix="/pool",
    description="The order pool (抢单): offers to eligible technicians; first claim wins.",
    cli_group=None,
)


@blp.route("")
class Pool(MethodView):
    """Offered orders."""

    @roles_required(*PLANNER_ROLES, Role.TECHNICIAN)
    @blp.arguments(PoolQueryArgsSchema, location="query")
    @blp.response(200, PoolEntrySchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """Planners: every entry (filter by status). Technicians: open offers they may take,
        best first (priority, distance, customer window), with distance_km and score."""
        items, total = service.list_pool(
            db_session=db.session(),
            principal=current(),
            args=args,
            page=pagination_parameters.page,
            page_size=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return items

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(PoolPublishSchema)
    @blp.response(201, PoolEntrySchema(many=True))
    def post(self, data: dict[str, Any]) -> Any:
        """Offer unassigned new/triaged/reopened orders (all or none; 409 already_in_pool)."""
        return service.publish(db_session=db.session(), principal=current(), data=data)


@blp.route("/<uuid:entry_id>")
class PoolEntryById(MethodView):
    """One offer."""

    @roles_required(*PLANNER_ROLES)
    @blp.response(200, PoolEntrySchema)
    def delete(self, entry_id: uuid.UUID) -> Any:
        """Withdraw an open offer (409 when already claimed or expired)."""
        return service.withdraw(db_session=db.session(), principal=current(), entry_id=entry_id)


@blp.route("/<uuid:entry_id>/claim")
class Claim(MethodView):
    """Taking an offer."""

    @roles_required(Role.TECHNICIAN)
    @blp.response(200, PoolEntrySchema)
    def post(self, entry_id: uuid.UUID) -> Any:
        """Claim an offer: the first valid claim wins (lead + schedule); later claims get 409
        already_claimed, ineligible technicians 403 not_eligible with the reason."""
        return service.claim(db_session=db.session(), principal=current(), entry_id=entry_id)


@blp.cli.command("pool-expire")
def pool_expire() -> None:
    """Expire timed-out pool entries of every tenant (run every minute or so)."""
    session = db.session()
    with system_scope(session):
        closed = service.expire_due(db_session=session)
    click.echo(f"closed {closed} pool entries")
