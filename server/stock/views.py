"""The spare-parts ledger: locations, movements, balances, serial history, discrepancies."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView

from server.auth.principal import ALL_ROLES, OFFICE_ROLES, PLANNER_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint, get_or_404, paginate
from server.stock import queries, usecases
from server.stock.models import StockLocation, StockMovement
from server.stock.schemas import (
    BalanceQueryArgsSchema,
    BalanceSchema,
    DiscrepancyQueryArgsSchema,
    DiscrepancySchema,
    LocationCreateSchema,
    LocationQueryArgsSchema,
    LocationSchema,
    LocationUpdateSchema,
    MovementCreateSchema,
    MovementQueryArgsSchema,
    MovementSchema,
    ResolveSchema,
    ReverseSchema,
    SerialHistorySchema,
    SerialQueryArgsSchema,
)

blp = Blueprint(
    "stock",
    __name__,
    url_prefix="/stock",
    description="Spare-parts ledger: locations, movements, balances, serials, discrepancies.",
)


# --- locations ---------------------------------------------------------------------------


@blp.route("/locations")
class Locations(MethodView):
    """Warehouses, vans, sites and the tenant's outside accounts."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(LocationQueryArgsSchema, location="query")
    @blp.response(200, LocationSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List stock locations; filter by kind, active, technician or text."""
        return paginate(queries.location_query(filters=args), pagination_parameters)

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(LocationCreateSchema)
    @blp.response(201, LocationSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Add a warehouse or a technician's van (409 duplicate_code, duplicate_van)."""
        return usecases.create_location(db_session=db.session(), data=data)


@blp.route("/locations/<uuid:location_id>")
class LocationById(MethodView):
    """One stock location."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, LocationSchema)
    def get(self, location_id: uuid.UUID) -> Any:
        """Get a stock location."""
        return get_or_404(StockLocation, location_id, what="stock location")

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(LocationUpdateSchema)
    @blp.response(200, LocationSchema)
    def patch(self, data: dict[str, Any], location_id: uuid.UUID) -> Any:
        """Rename, (de)activate or re-home a warehouse or van."""
        location = get_or_404(StockLocation, location_id, what="stock location")
        return usecases.update_location(db_session=db.session(), location=location, data=data)


# --- movements ---------------------------------------------------------------------------


@blp.route("/movements")
class Movements(MethodView):
    """The ledger's postings."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(MovementQueryArgsSchema, location="query")
    @blp.response(200, MovementSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List movements, newest first; filter by part, location, order, reason, serial, time."""
        stmt = queries.movement_query(filters=args, dialect=db.dialect)
        return paginate(stmt, pagination_parameters)

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(MovementCreateSchema)
    @blp.response(201, MovementSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Post a receipt, transfer, return, adjustment or RMA (409 insufficient_stock)."""
        return usecases.post_movement(db_session=db.session(), principal=current(), data=data)


@blp.route("/movements/<uuid:movement_id>")
class MovementById(MethodView):
    """One movement."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, MovementSchema)
    def get(self, movement_id: uuid.UUID) -> Any:
        """Get a movement."""
        return get_or_404(StockMovement, movement_id, what="movement")


@blp.route("/movements/<uuid:movement_id>/reverse")
class ReverseMovement(MethodView):
    """Undo a movement."""

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(ReverseSchema)
    @blp.response(201, MovementSchema)
    def post(self, data: dict[str, Any], movement_id: uuid.UUID) -> Any:
        """Post the mirror image of a movement (409 already_reversed, is_reversal)."""
        movement = get_or_404(StockMovement, movement_id, what="movement")
        return usecases.reverse_movement(
            db_session=db.session(), principal=current(), movement=movement, note=data.get("note")
        )


# --- balances ----------------------------------------------------------------------------


@blp.route("/balances")
class Balances(MethodView):
    """Stock on hand per location and part."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(BalanceQueryArgsSchema, location="query")
    @blp.response(200, BalanceSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List balances (technicians: their own van); ?format=csv exports all rows as CSV."""
        export = args.pop("format") == "csv"
        stmt = queries.balance_query(filters=args, principal=current())
        if not export:
            return paginate(stmt, pagination_parameters, rows=True)
        rows = db.session.execute(stmt).all()
        # An export is never paged: the header then says "one page holding everything".
        pagination_parameters.page = 1
        pagination_parameters.page_size = max(len(rows), 1)
        pagination_parameters.item_count = len(rows)
        return Response(
            queries.balances_csv(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="stock-balances.csv"'},
        )


# --- serials -----------------------------------------------------------------------------


@blp.route("/serials/<path:serial>")
class SerialHistory(MethodView):
    """One serial number of a serialised part."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(SerialQueryArgsSchema, location="query")
    @blp.response(200, SerialHistorySchema)
    def get(self, args: dict[str, Any], serial: str) -> Any:
        """Where a serial number is now and its movements, oldest first (404 when unknown)."""
        return queries.serial_history(
            db_session=db.session(), part_id=args["part_id"], serial=serial, dialect=db.dialect
        )


# --- discrepancies -----------------------------------------------------------------------


@blp.route("/discrepancies")
class Discrepancies(MethodView):
    """What the field recorded that the books did not expect."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(DiscrepancyQueryArgsSchema, location="query")
    @blp.response(200, DiscrepancySchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List discrepancies, newest first; filter by status, location or part."""
        return paginate(queries.discrepancy_query(filters=args), pagination_parameters)


@blp.route("/discrepancies/<uuid:discrepancy_id>/resolve")
class ResolveDiscrepancy(MethodView):
    """Settle a discrepancy."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(ResolveSchema)
    @blp.response(200, DiscrepancySchema)
    def post(self, data: dict[str, Any], discrepancy_id: uuid.UUID) -> Any:
        """Record how a discrepancy was settled (409 already_resolved)."""
        return usecases.resolve_discrepancy(
            db_session=db.session(),
            principal=current(),
            discrepancy_id=discrepancy_id,
            resolution=data["resolution"],
        )
