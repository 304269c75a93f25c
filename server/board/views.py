"""Board endpoints: Gantt lanes and map GeoJSON for the office."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask.views import MethodView

from geo.travel import HaversineProvider
from server.auth.principal import OFFICE_ROLES, current, roles_required
from server.board import service
from server.board.schemas import (
    FeatureCollectionSchema,
    GanttQueryArgsSchema,
    GanttSchema,
    MapQueryArgsSchema,
)
from server.db import db
from server.http import Blueprint

blp = Blueprint(
    "board",
    __name__,
    url_prefix="/board",
    description="The dispatch board: Gantt lanes per technician and map data.",
)


def _travel() -> HaversineProvider:
    config = current_app.config
    return HaversineProvider(
        speed_kmh=float(config.get("TRAVEL_SPEED_KMH", 30.0)),
        detour_factor=float(config.get("TRAVEL_DETOUR_FACTOR", 1.3)),
    )


@blp.route("/gantt")
class Gantt(MethodView):
    """Who does what when."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(GanttQueryArgsSchema, location="query")
    @blp.response(200, GanttSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Lanes per technician for local days date_from..date_to (at most 31): shifts,
        breaks, visits (lead or helper), travel estimates and conflicts, times in UTC."""
        board = service.gantt(
            db_session=db.session(), tenant_id=current().tenant_id, args=args, travel=_travel()
        )
        return jsonify(board)  # already JSON-shaped: no per-item schema dump


@blp.route("/map")
class Map(MethodView):
    """Where everyone and everything is."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(MapQueryArgsSchema, location="query")
    @blp.response(200, FeatureCollectionSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """GeoJSON of technicians' last positions and open orders in bbox; below zoom 13
        orders come as grid clusters (count, max priority), above it singly, capped."""
        features = service.map_data(db_session=db.session(), args=args, dialect=db.dialect)
        return jsonify(features)
