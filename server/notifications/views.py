"""Device-token registry: each signed-in user manages the push tokens of their installs."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from server.auth.principal import ALL_ROLES, current, roles_required
from server.db import db
from server.http import Blueprint
from server.notifications import service
from server.notifications.schemas import DeviceTokenRegisterSchema, DeviceTokenSchema

blp = Blueprint(
    "devices",
    __name__,
    url_prefix="/devices",
    description="Push notification tokens (FCM) of the caller's app installs.",
)


@blp.route("/tokens")
class DeviceTokens(MethodView):
    """The caller's device tokens."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, DeviceTokenSchema(many=True))
    def get(self) -> Any:
        """List the caller's active tokens."""
        return service.list_tokens(db_session=db.session(), principal=current())

    @roles_required(*ALL_ROLES)
    @blp.arguments(DeviceTokenRegisterSchema)
    @blp.response(200, DeviceTokenSchema)
    def put(self, data: dict[str, Any]) -> Any:
        """Register or refresh a token (idempotent); a token of another user moves here."""
        return service.register_token(db_session=db.session(), principal=current(), data=data)


@blp.route("/tokens/<path:token>")
class DeviceTokenByValue(MethodView):
    """One of the caller's tokens."""

    @roles_required(*ALL_ROLES)
    @blp.response(204)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def delete(self, token: str) -> Response:
        """Forget a token (sign-out); unknown or someone else's tokens answer 204 too."""
        service.forget_token(db_session=db.session(), principal=current(), token=token)
        # An empty 204 without a JSON content type: there is no body to parse.
        response = Response(status=204)
        del response.headers["Content-Type"]
        return response
