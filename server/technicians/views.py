"""Technicians: the office reads and plans them; a technician may read their own record."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ALL_ROLES, OFFICE_ROLES, PLANNER_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint, get_or_404, paginate
from server.technicians import service
from server.technicians.models import Technician
from server.technicians.schemas import (
    PositionReportSchema,
    PositionSchema,
    TechnicianCreateSchema,
    TechnicianQueryArgsSchema,
    TechnicianSchema,
    TechnicianUpdateSchema,
)
from workflow.lifecycle import Role

blp = Blueprint(
    "technicians",
    __name__,
    url_prefix="/technicians",
    description="Field engineers: skills, territories, weekly shifts.",
)


@blp.route("")
class Technicians(MethodView):
    """The tenant's technicians."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(TechnicianQueryArgsSchema, location="query")
    @blp.response(200, TechnicianSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List technicians; filter by skill (and min_level), territory, activity or name."""
        return paginate(service.technician_query(filters=args), pagination_parameters)

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(TechnicianCreateSchema)
    @blp.response(201, TechnicianSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a technician."""
        return service.create_technician(db_session=db.session(), data=data)


@blp.route("/<uuid:technician_id>")
class TechnicianById(MethodView):
    """One technician."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, TechnicianSchema)
    def get(self, technician_id: uuid.UUID) -> Any:
        """Get a technician (technicians: only themselves)."""
        return service.get_technician(
            db_session=db.session(), principal=current(), technician_id=technician_id
        )

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(TechnicianUpdateSchema)
    @blp.response(200, TechnicianSchema)
    def patch(self, data: dict[str, Any], technician_id: uuid.UUID) -> Any:
        """Change a technician; skills, territory_ids and shifts replace the old lists."""
        technician = get_or_404(Technician, technician_id)
        return service.update_technician(db_session=db.session(), technician=technician, data=data)


@blp.route("/me/position")
class MyPosition(MethodView):
    """The signed-in technician's GPS position."""

    @roles_required(Role.TECHNICIAN)
    @blp.arguments(PositionReportSchema)
    @blp.response(200, PositionSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Report a GPS fix; an older fix than the stored one is kept out (applied false)."""
        return service.report_position(db_session=db.session(), principal=current(), data=data)
