"""Intake use cases: QR codes of equipment, public repair requests and order tracking."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from geo.sql import point_from_element
from geo.travel import TravelTimeError, TravelTimeProvider
from server.auth.service_accounts import service_principal
from server.blobs.images import ImageRejected, ImageTooLarge, ProcessedImage, process_image
from server.blobs.models import Blob
from server.blobs.service import lock_blob, object_keys
from server.blobs.storage import BlobStorage
from server.customers.models import Site
from server.db import set_tenant, system_scope, utcnow
from server.equipment.models import Equipment
from server.errors import Conflict, DomainError, NotFound, ValidationFailed
from server.intake.i18n import SYMPTOMS, translate
from server.intake.models import EquipmentQrCode, IntakeRequest
from server.schemas import storable_text_error
from server.technicians.models import Technician
from server.work_orders import service as work_orders
from server.work_orders.models import WorkOrder, WorkOrderComment, WorkOrderEvent
from workflow.lifecycle import Status

# 32 random bytes = 256 bits, URL-safe base64 (43 characters).
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_LABELS = 200
DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 4000
NAME_MAX, PHONE_MAX, EMAIL_MAX, REASON_MAX = 120, 40, 254, 500
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,39}$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
# The customer may cancel until someone is on the way.
CANCELLABLE = frozenset(
    {
        Status.NEW,
        Status.TRIAGED,
        Status.SCHEDULED,
        Status.DISPATCHED,
        Status.ACCEPTED,
        Status.ON_HOLD,
        Status.REOPENED,
    }
)
CLOSED = frozenset({Status.CLOSED, Status.CANCELLED})
ETA_FROM_SCHEDULE = frozenset(
    {Status.SCHEDULED, Status.DISPATCHED, Status.ACCEPTED, Status.EN_ROUTE}
)


def new_token() -> str:
    """An unguessable URL-safe token (256 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def repair_url(base_url: str, token: str) -> str:
    """The public repair-page link a QR code encodes."""
    return f"{base_url.rstrip('/')}/r/{token}"


def tracking_url(base_url: str, token: str) -> str:
    """The public tracking-page link of a request."""
    return f"{base_url.rstrip('/')}/t/{token}"


# --- QR codes (office) ---------------------------------------------------------------


def _equipment(db_session: Session, equipment_id: uuid.UUID) -> Equipment:
    equipment = db_session.get(Equipment, equipment_id)
    if equipment is None:
        raise NotFound(f"No equipment with id {equipment_id}.")
    return equipment


def _code_of(db_session: Session, equipment_id: uuid.UUID) -> EquipmentQrCode | None:
    return db_session.scalar(
        select(EquipmentQrCode).where(EquipmentQrCode.equipment_id == equipment_id)
    )


def get_qr_code(*, db_session: Session, equipment_id: uuid.UUID) -> EquipmentQrCode:
    """The unit's QR code (active or revoked); 404 qr_code_missing when never issued."""
    _equipment(db_session, equipment_id)
    code = _code_of(db_session, equipment_id)
    if code is None:
        raise NotFound("This unit has no QR code yet.", code="qr_code_missing")
    return code


def active_qr_code(*, db_session: Session, equipment_id: uuid.UUID) -> EquipmentQrCode:
    """The unit's valid QR code; 404 qr_code_missing when none or revoked."""
    code = get_qr_code(db_session=db_session, equipment_id=equipment_id)
    if not code.active:
        raise NotFound("This unit's QR code was revoked.", code="qr_code_missing")
    return code


def _issue(db_session: Session, equipment: Equipment, now: dt.datetime) -> EquipmentQrCode:
    """Give the unit a fresh token (the previous one, if any, stops resolving)."""
    code = _code_of(db_session, equipment.id)
    if code is None:
        code = EquipmentQrCode(tenant_id=equipment.tenant_id, equipment_id=equipment.id)
        db_session.add(code)
    code.token = new_token()
    code.created_at = now
    code.revoked_at = None
    return code


def issue_qr_code(
    *, db_session: Session, equipment_id: uuid.UUID, commit: bool = True
) -> EquipmentQrCode:
    """Issue or regenerate the unit's QR token; the old token is revoked by replacement."""
    code = _issue(db_session, _equipment(db_session, equipment_id), utcnow())
    if commit:
        db_session.commit()
    return code


def revoke_qr_code(*, db_session: Session, equipment_id: uuid.UUID) -> None:
    """Stop the unit's QR code from opening the repair page (idempotent)."""
    code = get_qr_code(db_session=db_session, equipment_id=equipment_id)
    if code.revoked_at is None:
        code.revoked_at = utcnow()
        db_session.commit()


@dataclass(frozen=True)
class Label:
    """What one printed label shows."""

    equipment: Equipment
    site: Site
    token: str


def labels_for(*, db_session: Session, equipment_ids: Sequence[uuid.UUID]) -> list[Label]:
    """Labels of many units in the given order; missing or revoked codes are issued now."""
    ids = list(dict.fromkeys(equipment_ids))
    units = {e.id: e for e in db_session.scalars(select(Equipment).where(Equipment.id.in_(ids)))}
    unknown = [str(i) for i in ids if i not in units]
    if unknown:
        raise ValidationFailed(
            "Unknown equipment.", code="unknown_equipment", errors={"equipment_ids": unknown}
        )
    sites = {
        s.id: s
        for s in db_session.scalars(
            select(Site).where(Site.id.in_({u.site_id for u in units.values()}))
        )
    }
    codes = {
        c.equipment_id: c
        for c in db_session.scalars(
            select(EquipmentQrCode).where(EquipmentQrCode.equipment_id.in_(ids))
        )
    }
    now = utcnow()
    for unit_id in ids:
        code = codes.get(unit_id)
        if code is None or not code.active:
            codes[unit_id] = _issue(db_session, units[unit_id], now)
    db_session.commit()
    return [Label(units[i], sites[units[i].site_id], codes[i].token) for i in ids]


# --- public lookups ------------------------------------------------------------------


def _check_token_shape(token: str, what: str, code: str) -> None:
    # Refuse before touching the database: odd bytes (NUL) would even make PostgreSQL fail.
    if not TOKEN_PATTERN.match(token):
        raise NotFound(f"Unknown or revoked {what}.", code=code)


@dataclass(frozen=True)
class QrTarget:
    """What a valid QR token opens: the code, its unit and the unit's site."""

    code: EquipmentQrCode
    equipment: Equipment
    site: Site


def resolve_qr(*, db_session: Session, token: str) -> QrTarget:
    """Look a public QR token up and bind the session to its tenant; 404 qr_unknown."""
    _check_token_shape(token, "QR code", "qr_unknown")
    # The caller has no tenant yet: the token tells which one, so look it up unscoped.
    with system_scope(db_session):
        code = db_session.scalar(select(EquipmentQrCode).where(EquipmentQrCode.token == token))
    if code is None or not code.active:
        raise NotFound("Unknown or revoked QR code.", code="qr_unknown")
    set_tenant(db_session, code.tenant_id)
    equipment = db_session.get(Equipment, code.equipment_id)
    assert equipment is not None  # the code row cascades with its unit
    site = db_session.get(Site, equipment.site_id)
    assert site is not None
    return QrTarget(code, equipment, site)


@dataclass(frozen=True)
class Tracked:
    """What a tracking token opens."""

    request: IntakeRequest
    order: WorkOrder
    site: Site


def resolve_tracking(*, db_session: Session, token: str) -> Tracked:
    """Look a tracking token up and bind the session to its tenant; 404 tracking_unknown."""
    _check_token_shape(token, "tracking link", "tracking_unknown")
    with system_scope(db_session):
        found = db_session.scalar(
            select(IntakeRequest).where(IntakeRequest.tracking_token == token)
        )
    if found is None:
        raise NotFound("Unknown tracking link.", code="tracking_unknown")
    set_tenant(db_session, found.tenant_id)
    order = db_session.get(WorkOrder, found.work_order_id)
    assert order is not None  # the request row cascades with its order
    site = db_session.get(Site, order.site_id)
    assert site is not None
    return Tracked(found, order, site)


# --- request validation --------------------------------------------------------------

Problem = tuple[str, dict[str, Any]]


def _text_problem(
    value: str, *, required: bool, max_length: int, min_length: int = 0
) -> Problem | None:
    if storable_text_error(value):
        return ("error.text", {})
    if not value:
        return ("error.required", {}) if required else None
    if len(value) > max_length:
        return ("error.too_long", {"max": max_length})
    if len(value) < min_length:
        return ("error.too_short", {"min": min_length})
    return None


def request_problems(data: dict[str, str]) -> dict[str, Problem]:
    """Field -> (message key, parameters) for every rule a request breaks; {} when valid."""
    problems: dict[str, Problem] = {}
    symptom = data.get("symptom", "")
    if symptom not in SYMPTOMS:
        problems["symptom"] = ("error.symptom", {}) if symptom else ("error.required", {})
    checks = {
        "description": (True, DESCRIPTION_MAX, DESCRIPTION_MIN),
        "name": (True, NAME_MAX, 1),
        "phone": (False, PHONE_MAX, 0),
        "email": (False, EMAIL_MAX, 0),
    }
    for key, (required, max_length, min_length) in checks.items():
        problem = _text_problem(
            data.get(key, ""), required=required, max_length=max_length, min_length=min_length
        )
        if problem:
            problems[key] = problem
    phone, email = data.get("phone", ""), data.get("email", "")
    if "phone" not in problems and phone and not _PHONE.match(phone):
        problems["phone"] = ("error.phone", {})
    if "email" not in problems and email and not _EMAIL.match(email):
        problems["email"] = ("error.email", {})
    if not phone and not email and "phone" not in problems and "email" not in problems:
        problems["phone"] = ("error.contact", {})
    return problems


def normalise_form(raw: dict[str, Any]) -> dict[str, str]:
    """Trimmed strings of the request fields (missing ones empty)."""
    keys = ("symptom", "description", "name", "phone", "email", "website")
    return {k: str(raw.get(k) or "").strip() for k in keys}


def check_request(data: dict[str, str]) -> None:
    """Raise 422 invalid_request (English messages per field) when the request is invalid."""
    problems = request_problems(data)
    if problems:
        raise ValidationFailed(
            "The request did not validate; see errors.",
            code="invalid_request",
            errors={k: [translate("en", key, **params)] for k, (key, params) in problems.items()},
        )


def fingerprint(description: str) -> str:
    """SHA-256 of the description with case, width and whitespace differences removed."""
    text = unicodedata.normalize("NFKC", description).casefold()
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


# --- photos --------------------------------------------------------------------------


class PhotoRejected(DomainError):
    """An attached photo is refused (too many, too big, not an image)."""

    def __init__(self, message: str, *, status: int, code: str, key: str, **params: Any) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Photo:
    """A decoded, re-encoded photo ready to store (metadata stripped)."""

    sha256: str
    image: ProcessedImage


def prepare_photos(
    streams: Sequence[IO[bytes]], *, max_photos: int, max_bytes: int, max_pixels: int
) -> list[Photo]:
    """Read, size-check and decode every upload before anything is stored."""
    if len(streams) > max_photos:
        raise PhotoRejected(
            f"At most {max_photos} photos.",
            status=422,
            code="too_many_photos",
            key="error.too_many_photos",
            count=max_photos,
        )
    photos = []
    for stream in streams:
        data = stream.read(max_bytes + 1)
        mb = max_bytes // (1024 * 1024)
        if len(data) > max_bytes:
            raise PhotoRejected(
                f"A photo is larger than {max_bytes} bytes.",
                status=413,
                code="photo_too_large",
                key="error.photo_too_large",
                mb=mb,
            )
        try:
            image = process_image(io.BytesIO(data), max_pixels=max_pixels)
        except ImageTooLarge as exc:
            raise PhotoRejected(
                exc.message, status=422, code="image_too_large", key="error.image_too_large"
            ) from exc
        except ImageRejected as exc:
            raise PhotoRejected(
                exc.message, status=415, code="unsupported_media", key="error.not_an_image"
            ) from exc
        photos.append(Photo(hashlib.sha256(data).hexdigest(), image))
    return photos


def _store_photos(
    db_session: Session, storage: BlobStorage, tenant_id: uuid.UUID, photos: Sequence[Photo]
) -> list[str]:
    """Write the bytes, add Blob rows (uncommitted); a failed request leaves only orphan
    objects, which the blob garbage collector removes."""
    for photo in photos:
        lock_blob(db_session, tenant_id, photo.sha256)
        key, thumb_key = object_keys(tenant_id, photo.sha256)
        storage.put(
            thumb_key, photo.image.thumbnail, content_type=photo.image.thumbnail_content_type
        )
        storage.put(key, photo.image.data, content_type=photo.image.content_type)
        if db_session.get(Blob, (tenant_id, photo.sha256)) is None:
            db_session.add(
                Blob(
                    tenant_id=tenant_id,
                    sha256=photo.sha256,
                    content_type=photo.image.content_type,
                    size_bytes=len(photo.image.data),
                    width=photo.image.width,
                    height=photo.image.height,
                    storage_key=key,
                    thumbnail_key=thumb_key,
                    # The customer's photo position is not kept: it may be their home.
                    capture={},
                )
            )
    return list(dict.fromkeys(p.sha256 for p in photos))


# --- submission ----------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """The outcome of a submission: where to track it, and whether it was a repeat."""

    tracking_token: str
    duplicate: bool = False
    # True for a honeypot hit: nothing was stored and the token resolves to nothing.
    discarded: bool = False
    number: str | None = None


@contextlib.contextmanager
def _added_on_commit(db_session: Session, order_id: uuid.UUID, rows: list[Any]) -> Iterator[None]:
    """Add ``rows`` in the same transaction as the order that create_work_order commits.

    create_work_order commits itself; rows referencing the order cannot be flushed before
    the order row exists, so they join at the first commit (savepoints included) that
    finds the order in the session: the order never exists without its tracking link,
    nor the link without the order.
    """
    added = False

    def _attach(session: Session) -> None:
        nonlocal added
        if added:
            return
        if any(
            isinstance(o, WorkOrder) and o.id == order_id for o in session.identity_map.values()
        ):
            added = True
            session.add_all(rows)

    event.listen(db_session, "before_commit", _attach)
    try:
        yield
    finally:
        event.remove(db_session, "before_commit", _attach)


def submit_request(
    *,
    db_session: Session,
    target: QrTarget,
    data: dict[str, str],
    photos: Sequence[Photo],
    storage: BlobStorage,
    source: str,
    locale: str,
    duplicate_window: dt.timedelta,
) -> Submission:
    """File a repair request as a qr-channel work order (or find the identical recent one).

    ``data`` must have passed ``check_request``. A filled honeypot answers like a success
    and stores nothing.
    """
    if data.get("website"):
        return Submission(tracking_token=new_token(), discarded=True)
    now = utcnow()
    equipment = target.equipment
    print_ = fingerprint(data["description"])
    # Serialise submissions per code (PostgreSQL row lock; SQLite transactions already
    # run one writer at a time), so two identical taps cannot both pass the guard.
    db_session.execute(
        select(EquipmentQrCode.id).where(EquipmentQrCode.id == target.code.id).with_for_update()
    )
    earlier = db_session.scalar(
        select(IntakeRequest)
        .where(
            IntakeRequest.equipment_id == equipment.id,
            IntakeRequest.fingerprint == print_,
            IntakeRequest.created_at >= now - duplicate_window,
        )
        .order_by(IntakeRequest.created_at.desc())
        .limit(1)
    )
    if earlier is not None:
        order = db_session.get(WorkOrder, earlier.work_order_id)
        return Submission(
            earlier.tracking_token, duplicate=True, number=order.number if order else None
        )
    principal = service_principal(
        db_session=db_session, tenant_id=equipment.tenant_id, kind="portal"
    )
    order_id = uuid.uuid4()
    attachments = _store_photos(db_session, storage, equipment.tenant_id, photos)
    contact = {
        "name": data["name"],
        "phone": data.get("phone") or None,
        "email": data.get("email") or None,
        "locale": locale,
    }
    tracking_token = new_token()
    rows: list[Any] = [
        IntakeRequest(
            tenant_id=equipment.tenant_id,
            work_order_id=order_id,
            equipment_id=equipment.id,
            tracking_token=tracking_token,
            fingerprint=print_,
            source=source,
            locale=locale,
            created_at=now,
        )
    ]
    if attachments:
        # Photos hang off a customer-visible comment: that is where the model keeps
        # customer attachments (and the blob GC knows the column); work_order_photos are
        # technician field records synced from phones.
        rows.append(
            WorkOrderComment(
                tenant_id=equipment.tenant_id,
                work_order_id=order_id,
                visibility="customer",
                author_kind="customer",
                author_name=data["name"],
                body=data["description"],
                attachments=attachments,
                created_at=now,
            )
        )
    title = f"{translate('en', 'symptom.' + data['symptom'])}: {equipment.name}"
    with _added_on_commit(db_session, order_id, rows):
        order = work_orders.create_work_order(
            db_session=db_session,
            principal=principal,
            data={
                "id": order_id,
                "title": title[:200],
                "description": data["description"],
                "order_type": "repair",
                "category": data["symptom"],
                "channel": "qr",
                "site_id": equipment.site_id,
                "equipment_id": equipment.id,
                "contact": contact,
            },
        )
    return Submission(tracking_token, number=order.number)


# --- tracking ------------------------------------------------------------------------


def first_name(full_name: str) -> str:
    """Only the first word of a name (privacy: the customer needs no more)."""
    parts = full_name.split()
    return parts[0] if parts else ""


def _local(value: dt.datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else None


@dataclass
class TrackingView:
    """Everything the tracking page and its JSON twin show (nothing internal)."""

    number: str
    status: str
    status_label: str
    timezone: str
    timeline: list[dict[str, Any]] = field(default_factory=list)
    scheduled_start: dt.datetime | None = None
    scheduled_end: dt.datetime | None = None
    window_text: str | None = None
    engineer: str | None = None
    eta: dt.datetime | None = None
    eta_text: str | None = None
    position: dict[str, float] | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
    cancellable: bool = False
    closed: bool = False
    version: str = ""


def _eta(
    technician: Technician | None,
    site: Site,
    travel: TravelTimeProvider | None,
    now: dt.datetime,
) -> dt.datetime | None:
    """Now plus the travel time from the engineer's last fix to the site, when known."""
    if technician is None or travel is None:
        return None
    origin = point_from_element(technician.last_position)
    destination = point_from_element(site.location)
    if origin is None or destination is None:
        return None
    try:
        matrix = travel.matrix_between([origin], [destination])
    except TravelTimeError:
        return None
    return now + dt.timedelta(seconds=int(matrix.durations_s[0][0]))


def tracking_view(
    *,
    db_session: Session,
    tracked: Tracked,
    lang: str,
    travel: TravelTimeProvider | None,
) -> TrackingView:
    """The customer's view of an order: plain-word timeline, visit, engineer, messages."""
    order, site = tracked.order, tracked.site
    zone = ZoneInfo(site.timezone)
    status = Status(order.status)
    events = db_session.scalars(
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id == order.id, WorkOrderEvent.to_status.is_not(None))
        .order_by(WorkOrderEvent.occurred_at, WorkOrderEvent.recorded_at)
    ).all()
    timeline = [
        {
            "status": e.to_status,
            "label": translate(lang, f"status.{e.to_status}"),
            "at": e.occurred_at,
            "at_text": _local(e.occurred_at, zone),
        }
        for e in events
    ]
    technician = (
        db_session.get(Technician, order.lead_technician_id) if order.lead_technician_id else None
    )
    view = TrackingView(
        number=order.number,
        status=status.value,
        status_label=translate(lang, f"status.{status.value}"),
        timezone=site.timezone,
        timeline=timeline,
        cancellable=status in CANCELLABLE,
        closed=status in CLOSED,
    )
    if status not in CLOSED and status is not Status.COMPLETED:
        view.scheduled_start, view.scheduled_end = order.scheduled_start, order.scheduled_end
        if order.scheduled_start and order.scheduled_end:
            end = order.scheduled_end.astimezone(zone).strftime("%H:%M")
            view.window_text = f"{_local(order.scheduled_start, zone)}–{end} ({site.timezone})"
        if technician is not None:
            view.engineer = first_name(technician.name)
        now = utcnow()
        if status is Status.EN_ROUTE:
            view.eta = _eta(technician, site, travel, now)
            # Privacy: the engineer's position is shown only while they are on the way.
            fix = point_from_element(technician.last_position) if technician else None
            if fix is not None:
                view.position = {"lat": fix.lat, "lon": fix.lon}
        if view.eta is None and status in ETA_FROM_SCHEDULE:
            # No usable fix (or not on the way yet): the planned start is the best guess.
            view.eta = order.scheduled_start
        if view.eta is not None:
            view.eta_text = f"{_local(view.eta, zone)} ({site.timezone})"
    comments = db_session.scalars(
        select(WorkOrderComment)
        .where(
            WorkOrderComment.work_order_id == order.id,
            WorkOrderComment.visibility == "customer",
        )
        .order_by(WorkOrderComment.created_at, WorkOrderComment.id)
    ).all()
    view.comments = [
        {
            "mine": c.author_kind == "customer",
            "author": (c.author_name or translate(lang, "you"))
            if c.author_kind == "customer"
            else translate(lang, "service_team"),
            "body": c.body,
            "photos": len(c.attachments or []),
            "at": c.created_at,
            "at_text": _local(c.created_at, zone),
        }
        for c in comments
    ]
    # Changes whenever anything shown changes; the page polls it to refresh itself.
    position_at = technician.last_position_at if technician and view.position else None
    view.version = hashlib.sha256(
        f"{order.version}|{len(timeline)}|{len(comments)}|{position_at}|{view.engineer}".encode()
    ).hexdigest()[:16]
    return view


def cancel_request(*, db_session: Session, tracked: Tracked, reason: str) -> WorkOrder:
    """Cancel through the lifecycle, as the portal account; only before anyone is on the way."""
    problem = _text_problem(reason, required=False, max_length=REASON_MAX)
    if problem:
        raise ValidationFailed(
            "Bad reason.",
            code="invalid_request",
            errors={"reason": [translate("en", problem[0], **problem[1])]},
        )
    order = tracked.order
    if Status(order.status) not in CANCELLABLE:
        raise Conflict("This request can no longer be cancelled here.", code="cannot_cancel")
    principal = service_principal(db_session=db_session, tenant_id=order.tenant_id, kind="portal")
    text = f"Cancelled by the customer: {reason}" if reason else "Cancelled by the customer."
    return work_orders.transition(
        db_session=db_session,
        principal=principal,
        order=order,
        data={"to": "cancelled", "reason": text},
    )


def add_information(
    *,
    db_session: Session,
    tracked: Tracked,
    body: str,
    photos: Sequence[Photo],
    storage: BlobStorage,
) -> WorkOrderComment:
    """Append a customer comment (optionally with photos) to an open order."""
    problem = _text_problem(body, required=True, max_length=DESCRIPTION_MAX)
    if problem:
        raise ValidationFailed(
            "Bad message.",
            code="invalid_request",
            errors={"body": [translate("en", problem[0], **problem[1])]},
        )
    order = tracked.order
    if Status(order.status) in CLOSED:
        raise Conflict("This request is closed.", code="order_closed")
    attachments = _store_photos(db_session, storage, order.tenant_id, photos)
    comment = WorkOrderComment(
        tenant_id=order.tenant_id,
        work_order_id=order.id,
        visibility="customer",
        author_kind="customer",
        author_name=(order.contact or {}).get("name"),
        body=body,
        attachments=attachments,
        created_at=utcnow(),
    )
    db_session.add(comment)
    db_session.commit()
    return comment
