"""HTTP edge of the sla domain: calendars and policies (admins write, the office reads),
an order's clocks (technicians: their own orders), escalations (the office)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from server.auth.principal import ADMIN_ONLY, ALL_ROLES, OFFICE_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint, paginate
from server.sla import service
from server.sla.schemas import (
    BusinessCalendarCreateSchema,
    BusinessCalendarQueryArgsSchema,
    BusinessCalendarSchema,
    BusinessCalendarUpdateSchema,
    OrderSlaArgsSchema,
    OrderSlaSchema,
    SlaAcknowledgeSchema,
    SlaEscalationQueryArgsSchema,
    SlaEscalationSchema,
    SlaPolicyCreateSchema,
    SlaPolicyQueryArgsSchema,
    SlaPolicySchema,
    SlaPolicyUpdateSchema,
)

blp = Blueprint(
    "sla",
    __name__,
    url_prefix="/sla",
    description="SLA policies, business-hours calendars and escalations.",
)
order_blp = Blueprint(
    "work_order_sla",
    __name__,
    url_prefix="/work-orders",
    description="An order's SLA clocks.",
)


@blp.route("/calendars")
class Calendars(MethodView):
    """Business-hours calendars."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(BusinessCalendarQueryArgsSchema, location="query")
    @blp.response(200, BusinessCalendarSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List calendars by name."""
        return paginate(service.calendar_query(args=args), pagination_parameters)

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(BusinessCalendarCreateSchema)
    @blp.response(201, BusinessCalendarSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a calendar (422 calendar_no_working_hours, invalid_working_hours,
        invalid_timezone, invalid_holidays; 409 calendar_name_taken)."""
        return service.create_calendar(db_session=db.session(), data=data)


@blp.route("/calendars/<uuid:calendar_id>")
class CalendarById(MethodView):
    """One calendar."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, BusinessCalendarSchema)
    def get(self, calendar_id: uuid.UUID) -> Any:
        """Get a calendar."""
        return service.get_calendar(db_session=db.session(), calendar_id=calendar_id)

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(BusinessCalendarUpdateSchema)
    @blp.response(200, BusinessCalendarSchema)
    def patch(self, data: dict[str, Any], calendar_id: uuid.UUID) -> Any:
        """Change a calendar; running clocks count in the new hours from now on."""
        session = db.session()
        calendar = service.get_calendar(db_session=session, calendar_id=calendar_id)
        return service.update_calendar(db_session=session, calendar=calendar, data=data)

    @roles_required(*ADMIN_ONLY)
    @blp.response(204)
    def delete(self, calendar_id: uuid.UUID) -> Any:
        """Delete a calendar no policy and no running clock uses (409 calendar_in_use)."""
        session = db.session()
        calendar = service.get_calendar(db_session=session, calendar_id=calendar_id)
        service.delete_calendar(db_session=session, calendar=calendar)


@blp.route("/policies")
class Policies(MethodView):
    """SLA policies per priority and customer tier."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(SlaPolicyQueryArgsSchema, location="query")
    @blp.response(200, SlaPolicySchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List policies."""
        return paginate(service.policy_query(args=args), pagination_parameters)

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(SlaPolicyCreateSchema)
    @blp.response(201, SlaPolicySchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a policy (422 invalid_target, invalid_warn_percent, unknown_calendar;
        409 policy_conflict when an active one has the same priority and tier)."""
        return service.create_policy(db_session=db.session(), data=data)


@blp.route("/policies/<uuid:policy_id>")
class PolicyById(MethodView):
    """One policy; deactivated (active=false), never deleted."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, SlaPolicySchema)
    def get(self, policy_id: uuid.UUID) -> Any:
        """Get a policy."""
        return service.get_policy(db_session=db.session(), policy_id=policy_id)

    @roles_required(*ADMIN_ONLY)
    @blp.arguments(SlaPolicyUpdateSchema)
    @blp.response(200, SlaPolicySchema)
    def patch(self, data: dict[str, Any], policy_id: uuid.UUID) -> Any:
        """Change a policy; clocks started or re-targeted afterwards use the new values."""
        session = db.session()
        policy = service.get_policy(db_session=session, policy_id=policy_id)
        return service.update_policy(db_session=session, policy=policy, data=data)


@blp.route("/escalations")
class Escalations(MethodView):
    """Breaches escalated by the scheduler."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(SlaEscalationQueryArgsSchema, location="query")
    @blp.response(200, SlaEscalationSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List escalations, newest first."""
        return paginate(service.escalation_query(args=args), pagination_parameters)


@blp.route("/escalations/<uuid:escalation_id>/acknowledge")
class Acknowledge(MethodView):
    """Acknowledging an escalation."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(SlaAcknowledgeSchema)
    @blp.response(200, SlaEscalationSchema)
    def post(self, data: dict[str, Any], escalation_id: uuid.UUID) -> Any:
        """Mark an escalation seen (idempotent: the first acknowledgement stays)."""
        return service.acknowledge(
            db_session=db.session(),
            principal=current(),
            escalation_id=escalation_id,
            note=data.get("note"),
        )


@order_blp.route("/<uuid:order_id>/sla")
class OrderSla(MethodView):
    """An order's SLA clocks."""

    @roles_required(*ALL_ROLES)
    @order_blp.arguments(OrderSlaArgsSchema, location="query")
    @order_blp.response(200, OrderSlaSchema)
    def get(self, args: dict[str, Any], order_id: uuid.UUID) -> Any:
        """Remaining business time, percent elapsed, state and deadline of each clock
        (technicians: their own orders only)."""
        return service.order_sla(
            db_session=db.session(), principal=current(), order_id=order_id, at=args.get("at")
        )


# flask-smorest blueprints served under /api/v1, in documentation order.
BLUEPRINTS: list[Any] = [blp, order_blp]
