"""HTTP edge of the inbound channels: public e-mail webhook and web form, agents' inbox."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask.views import MethodView

from server.auth.principal import OFFICE_ROLES, current, roles_required
from server.channels import service
from server.channels.schemas import (
    ConvertSchema,
    InboundEmailSchema,
    InboundItemSchema,
    InboundResultSchema,
    InboxQueryArgsSchema,
    WebFormReceiptSchema,
    WebFormSchema,
)
from server.db import db
from server.http import Blueprint, paginate
from server.intake.ratelimit import client_address, enforce
from server.work_orders.schemas import WorkOrderSchema

SECRET_HEADER = "X-Webhook-Secret"

blp = Blueprint(
    "channels",
    __name__,
    url_prefix="/channels",
    description="Inbound e-mail and web-form requests, and the inbox of unmatched ones.",
)


def _secret_required(func: Callable[..., Any]) -> Callable[..., Any]:
    """Check the webhook secret before the body is even parsed."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        service.check_secret(
            configured=current_app.config.get("INBOUND_EMAIL_SECRET"),
            given=request.headers.get(SECRET_HEADER),
        )
        return func(*args, **kwargs)

    return wrapper


@blp.route("/email/<string:tenant_slug>")
class InboundEmail(MethodView):
    """The mail provider's webhook for one tenant's support address."""

    @_secret_required
    @blp.arguments(InboundEmailSchema)
    @blp.response(200, InboundResultSchema)
    @blp.doc(
        security=[],
        parameters=[
            {"in": "header", "name": SECRET_HEADER, "required": True, "schema": {"type": "string"}}
        ],
    )
    def post(self, data: dict[str, Any], tenant_slug: str) -> Any:
        """Receive an e-mail: a reply threads onto its order, a new one opens a request."""
        session = db.session()
        tenant = service.bind_tenant(db_session=session, slug=tenant_slug)
        msg = service.receive_email(db_session=session, tenant=tenant, data=data)
        return service.result_of(db_session=session, msg=msg)


@blp.route("/web/<string:tenant_slug>")
class WebForm(MethodView):
    """The public service-request form (no equipment, no login)."""

    @blp.arguments(WebFormSchema)
    @blp.response(202, WebFormReceiptSchema)
    @blp.doc(security=[])
    def post(self, data: dict[str, Any], tenant_slug: str) -> Any:
        """Submit a request; the answer does not say whether the sender was recognised."""
        # Public like the QR pages: the same per-address limit (429 with Retry-After).
        enforce("INTAKE_SUBMIT_LIMIT_PER_ADDRESS", "web-form-addr", client_address())
        session = db.session()
        tenant = service.bind_tenant(db_session=session, slug=tenant_slug)
        msg = service.receive_web_form(db_session=session, tenant=tenant, data=data)
        # A bot that filled the trap gets the same answer as a person, and nothing is kept.
        return {"reference": msg.id if msg is not None else uuid.uuid4()}


@blp.route("/inbox")
class Inbox(MethodView):
    """Inbound messages, by default those no customer could be matched to."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(InboxQueryArgsSchema, location="query")
    @blp.response(200, InboundItemSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: Any) -> Any:
        """List inbound messages (status unmatched unless asked otherwise), newest first."""
        return paginate(service.inbox_query(filters=args), pagination_parameters)


@blp.route("/inbox/<uuid:item_id>")
class InboxItem(MethodView):
    """One inbound message."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, InboundItemSchema)
    def get(self, item_id: uuid.UUID) -> Any:
        """Read an inbound message."""
        return service.get_item(db_session=db.session(), item_id=item_id)


@blp.route("/inbox/<uuid:item_id>/convert")
class InboxConvert(MethodView):
    """Turn an unmatched message into an order."""

    @roles_required(*OFFICE_ROLES)
    @blp.arguments(ConvertSchema)
    @blp.response(201, WorkOrderSchema)
    def post(self, data: dict[str, Any], item_id: uuid.UUID) -> Any:
        """Create the order at the chosen site (channel of the message); 409 if closed."""
        item = service.get_item(db_session=db.session(), item_id=item_id)
        return service.convert_item(
            db_session=db.session(), principal=current(), item=item, data=data
        )


@blp.route("/inbox/<uuid:item_id>/dismiss")
class InboxDismiss(MethodView):
    """Close an unmatched message without an order."""

    @roles_required(*OFFICE_ROLES)
    @blp.response(200, InboundItemSchema)
    def post(self, item_id: uuid.UUID) -> Any:
        """Dismiss (spam, wrong address, already handled); 409 if closed."""
        item = service.get_item(db_session=db.session(), item_id=item_id)
        return service.dismiss_item(db_session=db.session(), principal=current(), item=item)


# flask-smorest blueprints served under /api/v1 (registered via server.routing.views).
BLUEPRINTS: list[Any] = [blp]
