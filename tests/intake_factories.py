"""Builders and helpers for the intake tests (QR codes, public requests, tracking)."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import func, select

from geo import Point
from server.blobs.models import Blob
from server.intake.models import IntakeRequest
from server.work_orders.models import WorkOrder
from tests import factories as f

CONFIG_KEYS = (
    "BLOB_DIR",
    "INTAKE_SUBMIT_LIMIT_PER_TOKEN",
    "INTAKE_SUBMIT_LIMIT_PER_ADDRESS",
    "INTAKE_VIEW_LIMIT_PER_ADDRESS",
    "INTAKE_MAX_PHOTOS",
    "INTAKE_MAX_PHOTO_BYTES",
    "INTAKE_MAX_BODY_BYTES",
    "INTAKE_DUPLICATE_WINDOW_MINUTES",
    "PUBLIC_BASE_URL",
    "RATELIMIT_KEY_PREFIX",
)
VALID_FORM = {
    "symptom": "noise",
    "description": "The lift makes a grinding noise between floors 3 and 4.",
    "name": "Wang Fang",
    "phone": "+86 138 0000 0000",
    "email": "wang.fang@example.com",
}


@pytest.fixture()
def intake_config(app: Any, tmp_path: Path) -> Iterator[Path]:
    """Blobs go to a per-test directory; config changed by a test is restored after it."""
    saved = {key: app.config.get(key) for key in CONFIG_KEYS}
    root = tmp_path / "blobs"
    app.config.update(BLOB_DIR=str(root))
    yield root
    app.config.update(saved)


@pytest.fixture()
def unit(world: Any, session: Any, intake_config: Path) -> Any:
    """A unit at a Shanghai site of tenant A, with an issued QR code."""
    customer = f.make_customer(session, world.a, name="Jinmao Tower")
    site = f.make_site(
        session, world.a, customer, at=Point(31.2350, 121.5010), name="Jinmao Tower – Block B"
    )
    equipment = f.make_equipment(
        session, world.a, site, name="Lift 3", model="Gen2-MRL", serial_number="SN-42-XYZ"
    )
    session.commit()
    issued = world.admin.post(f"/api/v1/equipment/{equipment.id}/qr")
    assert issued.status_code == 201, issued.json
    return SimpleNamespace(
        customer=customer,
        site=site,
        equipment=equipment,
        token=issued.json["token"],
        blob_dir=intake_config,
    )


def address() -> str:
    """A client address of its own, so in-memory rate-limit counters never collide."""
    raw = uuid.uuid4().int
    return f"10.{raw % 250 + 1}.{(raw >> 8) % 250 + 1}.{(raw >> 16) % 250 + 1}"


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG carrying an EXIF GPS position (which must never be served back)."""
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (IFDRational(31), IFDRational(14), IFDRational(1094, 100)),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (IFDRational(121), IFDRational(30), IFDRational(0)),
    }
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def png(size: tuple[int, int] = (32, 32)) -> bytes:
    """A small PNG."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def submit(
    client: Any,
    token: str,
    form: dict[str, Any] | None = None,
    photos: list[tuple[bytes, str]] | None = None,
    *,
    lang: str = "en",
    remote: str | None = None,
) -> Any:
    """POST the repair form as a browser does (multipart)."""
    data: dict[str, Any] = dict(VALID_FORM if form is None else form)
    if photos:
        data["photos"] = [(io.BytesIO(body), name) for body, name in photos]
    return client.post(
        f"/r/{token}?lang={lang}",
        data=data,
        content_type="multipart/form-data",
        environ_base={"REMOTE_ADDR": remote or address()},
    )


def tracking_token_of(response: Any) -> str:
    """The tracking token a successful submit redirected to."""
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    match = re.search(r"/t/([A-Za-z0-9_-]+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def counts(session: Any) -> tuple[int, int, int]:
    """(work orders, intake requests, blobs) in the database."""
    return (
        session.scalar(select(func.count()).select_from(WorkOrder)),
        session.scalar(select(func.count()).select_from(IntakeRequest)),
        session.scalar(select(func.count()).select_from(Blob)),
    )


def order_of(session: Any, tracking_token: str) -> WorkOrder:
    """The work order behind a tracking token."""
    session.expire_all()
    request = session.scalar(
        select(IntakeRequest).where(IntakeRequest.tracking_token == tracking_token)
    )
    assert request is not None
    order: WorkOrder | None = session.get(WorkOrder, request.work_order_id)
    assert order is not None
    return order
