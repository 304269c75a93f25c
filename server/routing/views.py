"""HTTP edge of the routing domain: the rule list (admins write, office reads), dry-run."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ADMIN_ONLY, OFFICE_ROLES, roles_required
from server.channels.views import BLUEPRINTS as CHANNEL_BLUEPRINTS
from server.db import db
from server.http import Blueprint
from server.routing import service
from server.routing.schemas import (
    DryRunResultSchema,
    DryRunSchema,
    RoutingRuleCreateSchema,
    RoutingRuleSchema,
    RoutingRuleUpdateSchema,
    RuleOrderSchema,
)

blp = Blueprint(
    "routing",
    __name__,
    url_prefix="/routing",
    description="Ordered routing rules applied to every new work order, and a dry-run.",
)


@blp.route("/rules")
class RoutingRules(MethodView):
    """The tenant's rule list, in evaluation order."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, RoutingRuleSchema(many=True))
    def get(self) -> Any:
        """List every rule (active or not) in evaluation order."""
        return service.list_rules(db_session=db.session())

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(RoutingRuleCreateSchema)
    @blp.response(201, RoutingRuleSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Add a rule; unknown fields/ops/actions, bad values and loops answer 422."""
        return service.create_rule(db_session=db.session(), data=data)


@blp.route("/rules/positions")
class RoutingRulePositions(MethodView):
    """The order of the rules."""

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(RuleOrderSchema)
    @blp.response(200, RoutingRuleSchema(many=True))
    def put(self, data: dict[str, Any]) -> Any:
        """Reorder: send every rule id once, first rule first."""
        return service.reorder_rules(db_session=db.session(), ids=data["ids"])


@blp.route("/rules/<uuid:rule_id>")
class RoutingRuleById(MethodView):
    """One rule."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, RoutingRuleSchema)
    def get(self, rule_id: uuid.UUID) -> Any:
        """Read a rule."""
        return service.get_rule(db_session=db.session(), rule_id=rule_id)

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(RoutingRuleUpdateSchema)
    @blp.response(200, RoutingRuleSchema)
    def patch(self, data: dict[str, Any], rule_id: uuid.UUID) -> Any:
        """Change a rule (position moves it); the whole list is re-validated."""
        rule = service.get_rule(db_session=db.session(), rule_id=rule_id)
        return service.update_rule(db_session=db.session(), rule=rule, data=data)

    @roles_required(*ADMIN_ONLY)
    @blp.response(204)
    def delete(self, rule_id: uuid.UUID) -> None:
        """Delete a rule; the ones after it move up."""
        rule = service.get_rule(db_session=db.session(), rule_id=rule_id)
        service.delete_rule(db_session=db.session(), rule=rule)


@blp.route("/dry-run")
class RoutingDryRun(MethodView):
    """Try the active rules on a sample request."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(DryRunSchema)
    @blp.response(200, DryRunResultSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Which rules would fire and the resulting fields; nothing is stored."""
        return service.dry_run(db_session=db.session(), data=data)


# flask-smorest blueprints served under /api/v1, in documentation order.
BLUEPRINTS: list[Any] = [blp, *CHANNEL_BLUEPRINTS]
