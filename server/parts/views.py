"""The parts catalogue: everyone reads it, admins maintain it."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ADMIN_ONLY, ALL_ROLES, roles_required
from server.db import db
from server.http import Blueprint, get_or_404, paginate
from server.parts import service
from server.parts.models import Part
from server.parts.schemas import PartCreateSchema, PartQueryArgsSchema, PartSchema, PartUpdateSchema

blp = Blueprint("parts", __name__, url_prefix="/parts", description="Spare-parts catalogue.")


@blp.route("")
class Parts(MethodView):
    """The tenant's parts catalogue."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(PartQueryArgsSchema, location="query")
    @blp.response(200, PartSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List parts; filter by text, serialized, active or a compatible model."""
        stmt = service.part_query(filters=args, dialect=db.dialect)
        return paginate(stmt, pagination_parameters)

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(PartCreateSchema)
    @blp.response(201, PartSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Add a part."""
        return service.create_part(db_session=db.session(), data=data)


@blp.route("/<uuid:part_id>")
class PartById(MethodView):
    """One part."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, PartSchema)
    def get(self, part_id: uuid.UUID) -> Any:
        """Get a part."""
        return get_or_404(Part, part_id)

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(PartUpdateSchema)
    @blp.response(200, PartSchema)
    def patch(self, data: dict[str, Any], part_id: uuid.UUID) -> Any:
        """Change a part."""
        part = get_or_404(Part, part_id)
        return service.update_part(db_session=db.session(), part=part, data=data)
