"""HTTP edge of the intake domain: QR codes and labels (office), public request twin."""

from __future__ import annotations

import io
import uuid
from typing import Any

import segno
from flask import Response, render_template
from flask.views import MethodView

from server.auth.principal import OFFICE_ROLES, PLANNER_ROLES, roles_required
from server.db import db
from server.http import Blueprint
from server.intake import ratelimit, service, web
from server.intake.i18n import SYMPTOMS
from server.intake.models import EquipmentQrCode
from server.intake.schemas import (
    PublicEquipmentSchema,
    PublicRequestResultSchema,
    PublicRequestSchema,
    QrCodeSchema,
    QrLabelsSchema,
    TrackingArgsSchema,
    TrackingSchema,
)

qr_blp = Blueprint(
    "equipment_qr",
    __name__,
    url_prefix="/equipment",
    description="QR codes on equipment: issue, regenerate, revoke, images, label sheets.",
)
public_blp = Blueprint(
    "public_intake",
    __name__,
    url_prefix="/public",
    description="Public (no login) repair requests from a QR code and order tracking.",
)
NO_AUTH: list[dict[str, list[str]]] = []


def _dump(code: EquipmentQrCode) -> dict[str, Any]:
    return {
        "equipment_id": code.equipment_id,
        "token": code.token,
        "url": service.repair_url(web.base_url(), code.token),
        "active": code.active,
        "created_at": code.created_at,
        "revoked_at": code.revoked_at,
    }


def _qr_image(equipment_id: uuid.UUID) -> segno.QRCode:
    code = service.active_qr_code(db_session=db.session(), equipment_id=equipment_id)
    return segno.make(service.repair_url(web.base_url(), code.token), error="m", micro=False)


@qr_blp.route("/<uuid:equipment_id>/qr")
class EquipmentQr(MethodView):
    """The unit's QR code."""

    @roles_required(*OFFICE_ROLES)
    @qr_blp.response(200, QrCodeSchema)
    def get(self, equipment_id: uuid.UUID) -> Any:
        """Read the unit's code (404 qr_code_missing when never issued)."""
        return _dump(service.get_qr_code(db_session=db.session(), equipment_id=equipment_id))

    @roles_required(*PLANNER_ROLES)
    @qr_blp.response(201, QrCodeSchema)
    def post(self, equipment_id: uuid.UUID) -> Any:
        """Issue a code, or regenerate it: the previous token stops working at once."""
        return _dump(service.issue_qr_code(db_session=db.session(), equipment_id=equipment_id))

    @roles_required(*PLANNER_ROLES)
    @qr_blp.response(204)
    def delete(self, equipment_id: uuid.UUID) -> Any:
        """Revoke the code: scanning it shows a 'not valid' page."""
        service.revoke_qr_code(db_session=db.session(), equipment_id=equipment_id)
        return None


_SVG_DOC = {"responses": {"200": {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}}}
_PNG_DOC = {
    "responses": {
        "200": {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
    }
}


@qr_blp.route("/<uuid:equipment_id>/qr.svg")
@qr_blp.doc(**_SVG_DOC)
@roles_required(*OFFICE_ROLES)
def equipment_qr_svg(equipment_id: uuid.UUID) -> Response:
    """The unit's valid code as SVG (404 qr_code_missing when none or revoked)."""
    out = io.BytesIO()
    _qr_image(equipment_id).save(out, kind="svg", scale=8, border=4, xmldecl=False)
    return Response(out.getvalue(), mimetype="image/svg+xml")


@qr_blp.route("/<uuid:equipment_id>/qr.png")
@qr_blp.doc(**_PNG_DOC)
@roles_required(*OFFICE_ROLES)
def equipment_qr_png(equipment_id: uuid.UUID) -> Response:
    """The unit's valid code as PNG (404 qr_code_missing when none or revoked)."""
    out = io.BytesIO()
    _qr_image(equipment_id).save(out, kind="png", scale=8, border=4)
    return Response(out.getvalue(), mimetype="image/png")


@qr_blp.route("/qr-labels", methods=["POST"])
@qr_blp.doc(
    responses={"200": {"content": {"text/html": {"schema": {"type": "string"}}}}},
)
@roles_required(*PLANNER_ROLES)
@qr_blp.arguments(QrLabelsSchema)
def equipment_qr_labels(data: dict[str, Any]) -> Response:
    """A printable A4 label sheet (name, model, serial, site, code) for up to 200 units."""
    labels = service.labels_for(db_session=db.session(), equipment_ids=data["equipment_ids"])
    base = web.base_url()
    cards = []
    for label in labels:
        url = service.repair_url(base, label.token)
        qr = segno.make(url, error="m", micro=False)
        cards.append({"label": label, "url": url, "svg": qr.svg_inline(scale=3, border=2)})
    html = render_template("intake/labels.html", cards=cards)
    return Response(html, mimetype="text/html")


# --- public twin ---------------------------------------------------------------------


@public_blp.before_request
def _limit_public_views() -> None:
    ratelimit.enforce_views()


@public_blp.route("/qr/<token>")
@public_blp.doc(security=NO_AUTH)
@public_blp.response(200, PublicEquipmentSchema)
def public_qr(token: str) -> Any:
    """What a QR code opens: the unit and its site (404 qr_unknown when unknown/revoked)."""
    target = service.resolve_qr(db_session=db.session(), token=token)
    return {
        "name": target.equipment.name,
        "model": target.equipment.model,
        "serial_number": target.equipment.serial_number,
        "site_name": target.site.name,
        "symptoms": list(SYMPTOMS),
    }


@public_blp.route("/qr/<token>/requests", methods=["POST"])
@public_blp.doc(security=NO_AUTH)
@public_blp.arguments(PublicRequestSchema)
@public_blp.response(201, PublicRequestResultSchema)
def public_request(data: dict[str, Any], token: str) -> Any:
    """File a repair request (a qr-channel work order); an identical one within minutes
    answers 200 with the earlier tracking link instead of creating another order."""
    ratelimit.enforce_writes(token)
    session = db.session()
    target = service.resolve_qr(db_session=session, token=token)
    form = service.normalise_form(data)
    if not form["website"]:
        service.check_request(form)
    submission = service.submit_request(
        db_session=session,
        target=target,
        data=form,
        photos=[],
        storage=web.blob_storage(),
        source="api",
        locale=data["lang"],
        duplicate_window=web.duplicate_window(),
    )
    body = {
        "tracking_token": submission.tracking_token,
        "tracking_url": service.tracking_url(web.base_url(), submission.tracking_token),
        "duplicate": submission.duplicate,
    }
    return body, 200 if submission.duplicate else 201


@public_blp.route("/tracking/<token>")
@public_blp.doc(security=NO_AUTH)
@public_blp.arguments(TrackingArgsSchema, location="query")
@public_blp.response(200, TrackingSchema)
def public_tracking(args: dict[str, Any], token: str) -> Any:
    """The customer's view of a request (the tracking page polls this)."""
    session = db.session()
    tracked = service.resolve_tracking(db_session=session, token=token)
    return service.tracking_view(
        db_session=session, tracked=tracked, lang=args["lang"], travel=web.travel_provider()
    )


# flask-smorest blueprints served under /api/v1, in documentation order.
BLUEPRINTS: list[Any] = [qr_blp, public_blp]
