"""Checklist templates: everyone reads them, planners maintain them."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ALL_ROLES, PLANNER_ROLES, roles_required
from server.checklists import service
from server.checklists.models import ChecklistTemplate
from server.checklists.schemas import (
    ChecklistTemplateCreateSchema,
    ChecklistTemplateQueryArgsSchema,
    ChecklistTemplateSchema,
    ChecklistTemplateUpdateSchema,
)
from server.db import db
from server.http import Blueprint, get_or_404, paginate

blp = Blueprint(
    "checklist_templates",
    __name__,
    url_prefix="/checklist-templates",
    description="SOP checklist templates that work orders follow.",
)


@blp.route("")
class ChecklistTemplates(MethodView):
    """The tenant's checklist templates."""

    @roles_required(*ALL_ROLES)
    @blp.arguments(ChecklistTemplateQueryArgsSchema, location="query")
    @blp.response(200, ChecklistTemplateSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List templates; filter by name, active, or what they apply to."""
        stmt = service.template_query(filters=args, dialect=db.dialect)
        return paginate(stmt, pagination_parameters)

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(ChecklistTemplateCreateSchema)
    @blp.response(201, ChecklistTemplateSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a template (422 invalid_checklist_items when items contradict each other)."""
        return service.create_template(db_session=db.session(), data=data)


@blp.route("/<uuid:template_id>")
class ChecklistTemplateById(MethodView):
    """One template."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, ChecklistTemplateSchema)
    def get(self, template_id: uuid.UUID) -> Any:
        """Get a template."""
        return get_or_404(ChecklistTemplate, template_id, what="checklist template")

    @roles_required(*PLANNER_ROLES)
    @blp.arguments(ChecklistTemplateUpdateSchema)
    @blp.response(200, ChecklistTemplateSchema)
    def patch(self, data: dict[str, Any], template_id: uuid.UUID) -> Any:
        """Change a template; active=false deactivates it (templates are never deleted)."""
        template = get_or_404(ChecklistTemplate, template_id, what="checklist template")
        return service.update_template(db_session=db.session(), template=template, data=data)
