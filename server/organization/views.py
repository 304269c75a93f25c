"""Skills, territories and custom field definitions: read by everyone, managed by admins."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ADMIN_ONLY, ALL_ROLES, roles_required
from server.db import db
from server.http import Blueprint, get_or_404, paginate
from server.organization import service
from server.organization.models import CustomFieldDefinition, Skill, Territory
from server.organization.schemas import (
    CustomFieldCreateSchema,
    CustomFieldQueryArgsSchema,
    CustomFieldSchema,
    CustomFieldUpdateSchema,
    SkillCreateSchema,
    SkillQueryArgsSchema,
    SkillSchema,
    SkillUpdateSchema,
    TerritoryCreateSchema,
    TerritoryQueryArgsSchema,
    TerritorySchema,
    TerritoryUpdateSchema,
)

skills_blp = Blueprint(
    "skills", __name__, url_prefix="/skills", description="Skills technicians hold."
)
territories_blp = Blueprint(
    "territories", __name__, url_prefix="/territories", description="Service areas."
)
custom_fields_blp = Blueprint(
    "custom_fields",
    __name__,
    url_prefix="/custom-fields",
    description="Tenant-defined extra fields on work orders.",
)


@skills_blp.route("")
class Skills(MethodView):
    """The tenant's skills."""

    @roles_required(*ALL_ROLES)
    @skills_blp.arguments(SkillQueryArgsSchema, location="query")
    @skills_blp.response(200, SkillSchema(many=True))
    @skills_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List skills."""
        return paginate(service.skill_query(filters=args), pagination_parameters)

    @roles_required(*ADMIN_ONLY)
    @skills_blp.arguments(SkillCreateSchema)
    @skills_blp.response(201, SkillSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a skill."""
        return service.create_skill(db_session=db.session(), data=data)


@skills_blp.route("/<uuid:skill_id>")
class SkillById(MethodView):
    """One skill."""

    @roles_required(*ALL_ROLES)
    @skills_blp.response(200, SkillSchema)
    def get(self, skill_id: uuid.UUID) -> Any:
        """Get a skill."""
        return get_or_404(Skill, skill_id)

    @roles_required(*ADMIN_ONLY)
    @skills_blp.arguments(SkillUpdateSchema)
    @skills_blp.response(200, SkillSchema)
    def patch(self, data: dict[str, Any], skill_id: uuid.UUID) -> Any:
        """Rename a skill."""
        skill = get_or_404(Skill, skill_id)
        return service.update_skill(db_session=db.session(), skill=skill, data=data)


@territories_blp.route("")
class Territories(MethodView):
    """The tenant's territories."""

    @roles_required(*ALL_ROLES)
    @territories_blp.arguments(TerritoryQueryArgsSchema, location="query")
    @territories_blp.response(200, TerritorySchema(many=True))
    @territories_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List territories; lat+lon finds the ones containing a point."""
        stmt = service.territory_query(filters=args, dialect=db.dialect)
        return paginate(stmt, pagination_parameters)

    @roles_required(*ADMIN_ONLY)
    @territories_blp.arguments(TerritoryCreateSchema)
    @territories_blp.response(201, TerritorySchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a territory."""
        return service.create_territory(db_session=db.session(), data=data)


@territories_blp.route("/<uuid:territory_id>")
class TerritoryById(MethodView):
    """One territory."""

    @roles_required(*ALL_ROLES)
    @territories_blp.response(200, TerritorySchema)
    def get(self, territory_id: uuid.UUID) -> Any:
        """Get a territory."""
        return get_or_404(Territory, territory_id, what="territory")

    @roles_required(*ADMIN_ONLY)
    @territories_blp.arguments(TerritoryUpdateSchema)
    @territories_blp.response(200, TerritorySchema)
    def patch(self, data: dict[str, Any], territory_id: uuid.UUID) -> Any:
        """Change a territory."""
        territory = get_or_404(Territory, territory_id, what="territory")
        return service.update_territory(db_session=db.session(), territory=territory, data=data)


@custom_fields_blp.route("")
class CustomFields(MethodView):
    """The tenant's custom field definitions."""

    @roles_required(*ALL_ROLES)
    @custom_fields_blp.arguments(CustomFieldQueryArgsSchema, location="query")
    @custom_fields_blp.response(200, CustomFieldSchema(many=True))
    @custom_fields_blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List custom field definitions."""
        return paginate(service.custom_field_query(filters=args), pagination_parameters)

    @roles_required(*ADMIN_ONLY)
    @custom_fields_blp.arguments(CustomFieldCreateSchema)
    @custom_fields_blp.response(201, CustomFieldSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Define a custom field."""
        return service.create_custom_field(db_session=db.session(), data=data)


@custom_fields_blp.route("/<uuid:field_id>")
class CustomFieldById(MethodView):
    """One custom field definition."""

    @roles_required(*ALL_ROLES)
    @custom_fields_blp.response(200, CustomFieldSchema)
    def get(self, field_id: uuid.UUID) -> Any:
        """Get a custom field definition."""
        return get_or_404(CustomFieldDefinition, field_id, what="custom field")

    @roles_required(*ADMIN_ONLY)
    @custom_fields_blp.arguments(CustomFieldUpdateSchema)
    @custom_fields_blp.response(200, CustomFieldSchema)
    def patch(self, data: dict[str, Any], field_id: uuid.UUID) -> Any:
        """Change a custom field definition."""
        definition = get_or_404(CustomFieldDefinition, field_id, what="custom field")
        return service.update_custom_field(
            db_session=db.session(), definition=definition, data=data
        )
