"""The caller's tenant: name, time zone, order number prefix."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.auth.principal import ADMIN_ONLY, ALL_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint
from server.tenants import service

blp = Blueprint("tenant", __name__, url_prefix="/tenant", description="The caller's tenant.")

TIMEZONES = validate.OneOf(sorted(available_timezones()), error="Unknown IANA time zone.")


class TenantSchema(Schema):
    """Tenant settings."""

    id = fields.UUID(dump_only=True)
    slug = fields.String(dump_only=True)
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(validate=TIMEZONES)
    order_prefix = fields.String(dump_only=True)


@blp.route("")
class CurrentTenant(MethodView):
    """The tenant of the signed-in user."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, TenantSchema)
    def get(self) -> Any:
        """Read tenant settings."""
        return service.get_tenant(db_session=db.session(), tenant_id=current().tenant_id)

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(TenantSchema)
    @blp.response(200, TenantSchema)
    def patch(self, data: dict[str, Any]) -> Any:
        """Change tenant name or time zone."""
        return service.update_tenant(
            db_session=db.session(), tenant_id=current().tenant_id, data=data
        )
