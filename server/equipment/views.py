"""Equipment endpoints: units, configuration revisions and service history."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ALL_ROLES, OFFICE_ROLES, current, roles_required
from server.db import db
from server.equipment import service
from server.equipment.schemas import (
    EquipmentConfigRevisionSchema,
    EquipmentCreateSchema,
    EquipmentDetailSchema,
    EquipmentHistoryArgsSchema,
    EquipmentHistoryEntrySchema,
    EquipmentQueryArgsSchema,
    EquipmentSchema,
    EquipmentUpdateSchema,
)
from server.http import Blueprint

blp = Blueprint("equipment", __name__, url_prefix="/equipment", description="equipment.")


@blp.route("")
class EquipmentList(MethodView):
    """Installed equipment of this tenant."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(EquipmentQueryArgsSchema, location="query")
    @blp.response(200, EquipmentSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List equipment (sort: name, install_date, warranty_end)."""
        return service.list_equipment(
            db_session=db.session(),
            principal=current(),
            args=args,
            pagination=pagination_parameters,
        )

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(EquipmentCreateSchema)
    @blp.response(201, EquipmentSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Register a unit; its configuration becomes revision 1."""
        return service.create_equipment(db_session=db.session(), principal=current(), data=data)


@blp.route("/<uuid:equipment_id>")
class EquipmentById(MethodView):
    """One unit."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, EquipmentDetailSchema)
    def get(self, equipment_id: uuid.UUID) -> Any:
        """Get a unit with its direct components (technicians: units of their orders)."""
        return service.get_equipment(
            db_session=db.session(),
            principal=current(),
            equipment_id=equipment_id,
            with_children=True,
        )

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(EquipmentUpdateSchema)
    @blp.response(200, EquipmentDetailSchema)
    def patch(self, data: dict[str, Any], equipment_id: uuid.UUID) -> Any:
        """Update a unit; a changed configuration is recorded as a new revision."""
        session, principal = db.session(), current()
        equipment = service.get_equipment(
            db_session=session, principal=principal, equipment_id=equipment_id, with_children=True
        )
        return service.update_equipment(
            db_session=session, principal=principal, equipment=equipment, data=data
        )


@blp.route("/<uuid:equipment_id>/config-revisions")
class ConfigRevisions(MethodView):
    """Configuration history of one unit."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, EquipmentConfigRevisionSchema(many=True))
    @blp.paginate()
    def get(self, equipment_id: uuid.UUID, pagination_parameters: Any) -> Any:
        """List configuration revisions, newest first."""
        return service.list_config_revisions(
            db_session=db.session(),
            principal=current(),
            equipment_id=equipment_id,
            pagination=pagination_parameters,
        )


@blp.route("/<uuid:equipment_id>/history")
class History(MethodView):
    """Service history of one unit."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(EquipmentHistoryArgsSchema, location="query")
    @blp.response(200, EquipmentHistoryEntrySchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], equipment_id: uuid.UUID, pagination_parameters: Any) -> Any:
        """Work orders, their events, parts used and config revisions, newest first."""
        return service.equipment_history(
            db_session=db.session(),
            principal=current(),
            equipment_id=equipment_id,
            include_children=args["include_children"],
            pagination=pagination_parameters,
        )
