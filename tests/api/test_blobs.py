"""Photo blobs over HTTP: content-addressed upload, sanitizing, thumbnails, storage backends."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from geo import Point
from server.blobs.storage import LocalStorage, ObjectMissing, S3Storage, check_key
from tests import factories as f
from tests.api.test_sync import DEVICE_NOW, ids, pull, push

URL = "/api/v1/blobs"
CONFIG_KEYS = (
    "BLOB_DIR",
    "BLOB_MAX_BYTES",
    "BLOB_MAX_PIXELS",
    "BLOB_S3_BUCKET",
    "BLOB_S3_ENDPOINT_URL",
    "BLOB_S3_REGION",
    "BLOB_S3_PREFIX",
)


@pytest.fixture(autouse=True)
def blob_dir(app: Any, tmp_path: Path) -> Iterator[Path]:
    """Every test stores into its own directory; config changes are undone afterwards."""
    saved = {key: app.config.get(key) for key in CONFIG_KEYS}
    root = tmp_path / "blobs"
    app.config.update(BLOB_DIR=str(root), BLOB_S3_BUCKET=None, BLOB_S3_ENDPOINT_URL=None)
    yield root
    app.config.update(saved)


# --- building images in memory ----------------------------------------------------------


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_bytes(
    fmt: str = "JPEG",
    size: tuple[int, int] = (40, 20),
    mode: str = "RGB",
    color: Any = (200, 30, 30),
    exif: Image.Exif | None = None,
    **params: Any,
) -> bytes:
    im = Image.new(mode, size, color)
    out = io.BytesIO()
    if exif is not None:
        params["exif"] = exif
    im.save(out, fmt, **params)
    return out.getvalue()


def camera_exif(
    orientation: int = 6, lat_ref: str = "N", lon_ref: str = "E", altitude_ref: bytes = b"\x00"
) -> Image.Exif:
    """EXIF as a phone writes it: orientation, GPS position/altitude/time, capture time."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "TestPhone"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: lat_ref,
        ExifTags.GPS.GPSLatitude: (IFDRational(31), IFDRational(14), IFDRational(1094, 100)),
        ExifTags.GPS.GPSLongitudeRef: lon_ref,
        ExifTags.GPS.GPSLongitude: (121.0, 28.0, 25.32),
        ExifTags.GPS.GPSAltitudeRef: altitude_ref,
        ExifTags.GPS.GPSAltitude: IFDRational(125, 10),
        ExifTags.GPS.GPSDateStamp: "2026:11:23",
        ExifTags.GPS.GPSTimeStamp: (1.0, 15.0, 2.0),
    }
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.DateTimeOriginal: "2026:11:23 09:15:00",
        ExifTags.Base.OffsetTimeOriginal: "+08:00",
    }
    return exif


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims these dimensions (a decompression-bomb shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def upload(api: Any, data: bytes, digest: str | None = None, ctype: str = "image/jpeg") -> Any:
    return api.put(f"{URL}/{digest or sha(data)}", data=data, content_type=ctype)


def opened(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# --- upload, idempotency, download -------------------------------------------------------


def test_upload_is_idempotent_and_downloads_sanitized(world: Any) -> None:
    data = image_bytes(size=(64, 48))
    digest = sha(data)
    first = upload(world.technician, data)
    assert first.status_code == 201, first.json
    body = first.json
    assert body["sha256"] == digest and body["content_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (64, 48)
    assert body["capture"] == {} and body["size_bytes"] > 0 and body["created_at"]
    assert first.headers["Location"].endswith(f"/blobs/{digest}")

    again = upload(world.technician, data)
    assert again.status_code == 200 and again.json == body

    r = world.technician.get(f"{URL}/{digest}")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert r.headers["ETag"] == f'"{digest}"'
    assert "private" in r.headers["Cache-Control"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert len(r.data) == body["size_bytes"] == int(r.headers["Content-Length"])
    assert opened(r.data).size == (64, 48)

    meta = world.dispatcher.get(f"{URL}/{digest}/meta")
    assert meta.status_code == 200 and meta.json == body


@pytest.mark.parametrize(
    "fmt,mode,ctype",
    [("PNG", "RGBA", "image/png"), ("WEBP", "RGB", "image/webp"), ("PNG", "P", "image/png")],
)
def test_png_and_webp_stay_in_their_format(world: Any, fmt: str, mode: str, ctype: str) -> None:
    color: Any = 3 if mode == "P" else (10, 200, 10, 128)[: len(mode)]
    data = image_bytes(fmt, size=(30, 50), mode=mode, color=color)
    r = upload(world.admin, data, ctype="application/octet-stream")
    assert r.status_code == 201, r.json
    assert r.json["content_type"] == ctype
    served = world.admin.get(f"{URL}/{sha(data)}")
    assert served.mimetype == ctype
    im = opened(served.data)
    assert im.format == fmt and im.size == (30, 50)
    if mode == "RGBA":
        assert im.mode == "RGBA" and im.getchannel("A").getpixel((0, 0)) == 128


def test_content_type_header_is_not_trusted(world: Any) -> None:
    data = image_bytes("PNG")
    r = upload(world.admin, data, ctype="image/jpeg")
    assert r.status_code == 201 and r.json["content_type"] == "image/png"


def test_conditional_get_and_head(world: Any) -> None:
    data = image_bytes()
    digest = sha(data)
    upload(world.agent, data)
    r = world.agent.get(f"{URL}/{digest}", headers={"If-None-Match": f'"{digest}"'})
    assert r.status_code == 304 and r.data == b""
    head = world.agent.client.head(
        f"{URL}/{digest}", headers={"Authorization": f"Bearer {world.agent.token}"}
    )
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) > 0


# --- refusals ---------------------------------------------------------------------------


def test_hash_mismatch(world: Any) -> None:
    data = image_bytes()
    wrong = sha(data + b"x")
    r = upload(world.technician, data, digest=wrong)
    assert r.status_code == 422 and r.json["code"] == "hash_mismatch"
    assert r.json["received"] == sha(data)
    assert world.technician.get(f"{URL}/{wrong}/meta").status_code == 404


@pytest.mark.parametrize(
    "digest",
    ["A" * 64, "a" * 63, "a" * 65, "g" * 64, "not-a-hash", " " + "a" * 63, "%00" + "a" * 61],
)
def test_invalid_hash(world: Any, digest: str) -> None:
    r = world.technician.put(f"{URL}/{digest}", data=image_bytes(), content_type="image/jpeg")
    assert r.status_code == 422 and r.json["code"] == "invalid_hash", r.json
    for suffix in ("", "/meta", "/thumbnail"):
        r = world.technician.get(f"{URL}/{digest}{suffix}")
        assert r.status_code == 422 and r.json["code"] == "invalid_hash"


def test_size_limit_is_per_route(world: Any, app: Any) -> None:
    # Above the global 1 MiB request limit, below BLOB_MAX_BYTES: accepted here only.
    noise = Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    big = out.getvalue()
    assert big_enough(big)
    r = upload(world.admin, big, ctype="image/png")
    assert r.status_code == 201, r.json
    elsewhere = world.admin.post(
        "/api/v1/customers", data=b"{" + b" " * len(big) + b"}", content_type="application/json"
    )
    assert elsewhere.status_code == 413

    app.config["BLOB_MAX_BYTES"] = 10_000
    r = upload(world.admin, big, ctype="image/png")
    assert r.status_code == 413 and r.json["code"] == "payload_too_large"


def big_enough(data: bytes) -> bool:
    return len(data) > 1024 * 1024


def test_size_limit_without_content_length(world: Any, app: Any) -> None:
    """A chunked body (no Content-Length) is cut off at the limit too."""
    app.config["BLOB_MAX_BYTES"] = 1000
    data = b"x" * 5000
    r = world.admin.client.put(
        f"{URL}/{sha(data)}",
        input_stream=io.BytesIO(data),
        headers={
            "Authorization": f"Bearer {world.admin.token}",
            "Transfer-Encoding": "chunked",
            "Content-Type": "image/jpeg",
        },
        # What a server that de-chunks request bodies (gunicorn, werkzeug) announces.
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert r.status_code == 413 and r.json["code"] == "payload_too_large"


def _gif() -> bytes:
    return image_bytes("GIF", mode="P", color=1)


def _truncated_jpeg() -> bytes:
    noise = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG")
    return out.getvalue()[:-600]


@pytest.mark.parametrize(
    "make",
    [
        lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n",
        _gif,
        lambda: image_bytes("BMP"),
        lambda: image_bytes("TIFF"),
        lambda: os.urandom(2048),
        lambda: b"",
        lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        lambda: image_bytes("PNG")[:60],
        _truncated_jpeg,
        lambda: b'{"json": "not an image"}',
    ],
    ids=[
        "pdf",
        "gif",
        "bmp",
        "tiff",
        "garbage",
        "empty",
        "png-junk",
        "png-cut",
        "jpeg-cut",
        "json",
    ],
)
def test_non_images_are_unsupported_media(world: Any, blob_dir: Path, make: Any) -> None:
    data = make()
    r = upload(world.technician, data, ctype="application/pdf")
    assert r.status_code == 415 and r.json["code"] == "unsupported_media", r.json
    assert world.technician.get(f"{URL}/{sha(data)}/meta").status_code == 404
    assert not any(p.is_file() for p in blob_dir.rglob("*")) if blob_dir.exists() else True


def test_json_content_type_cannot_bypass_the_checks(world: Any) -> None:
    data = b'{"a": 1}'
    r = upload(world.technician, data, ctype="application/json")
    assert r.status_code == 415 and r.json["code"] == "unsupported_media"


def test_decompression_bomb_header_is_refused(world: Any) -> None:
    bomb = png_header_only(100_000, 100_000)
    r = upload(world.technician, bomb, ctype="image/png")
    assert r.status_code == 422 and r.json["code"] == "image_too_large", r.json


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_limit_from_config(world: Any, app: Any) -> None:
    app.config["BLOB_MAX_PIXELS"] = 1000
    just_over = image_bytes("PNG", size=(40, 30))  # 1200 px: Pillow only warns
    r = upload(world.technician, just_over, ctype="image/png")
    assert r.status_code == 422 and r.json["code"] == "image_too_large"
    far_over = image_bytes("JPEG", size=(100, 100))  # 10000 px: Pillow refuses
    r = upload(world.technician, far_over)
    assert r.status_code == 422 and r.json["code"] == "image_too_large"
    assert upload(world.technician, image_bytes(size=(30, 30))).status_code == 201


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_bomb_warning_raised_as_error_is_handled(world: Any, app: Any) -> None:
    app.config["BLOB_MAX_PIXELS"] = 1000
    r = upload(world.technician, image_bytes("PNG", size=(40, 30)), ctype="image/png")
    assert r.status_code == 422 and r.json["code"] == "image_too_large"


# --- orientation, capture metadata, stripping ---------------------------------------------


def test_orientation_applied_and_gps_extracted_then_stripped(world: Any) -> None:
    data = image_bytes(
        size=(40, 20), exif=camera_exif(orientation=6), xmp=b"<x:xmpmeta>GPS here</x:xmpmeta>"
    )
    assert opened(data).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the input does carry GPS
    r = upload(world.technician, data)
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["width"], body["height"]) == (20, 40)  # rotated 90 degrees
    capture = body["capture"]
    assert capture["lat"] == pytest.approx(31 + 14 / 60 + 10.94 / 3600, abs=1e-6)
    assert capture["lon"] == pytest.approx(121 + 28 / 60 + 25.32 / 3600, abs=1e-6)
    assert capture["altitude_m"] == pytest.approx(12.5)
    assert capture["taken_at"] == "2026-11-23T09:15:00+08:00"
    assert capture["gps_time"] == "2026-11-23T01:15:02Z"

    for suffix in ("", "/thumbnail"):
        served = world.technician.get(f"{URL}/{sha(data)}{suffix}").data
        im = opened(served)
        assert im.size == (20, 40)
        exif = im.getexif()
        assert ExifTags.IFD.GPSInfo not in exif and not exif.get_ifd(ExifTags.IFD.GPSInfo)
        assert len(exif) == 0  # no orientation left to apply twice, no camera make
        assert "exif" not in im.info and "xmp" not in im.info
        assert b"Exif\x00\x00" not in served and b"GPS" not in served
        assert b"TestPhone" not in served


def test_southern_western_position_and_below_sea_level(world: Any) -> None:
    exif = camera_exif(orientation=1, lat_ref="S", lon_ref="W", altitude_ref=b"\x01")
    r = upload(world.technician, image_bytes("WEBP", exif=exif), ctype="image/webp")
    assert r.status_code == 201, r.json
    capture = r.json["capture"]
    assert capture["lat"] < 0 and capture["lon"] < 0 and capture["altitude_m"] == -12.5
    assert (r.json["width"], r.json["height"]) == (40, 20)


def test_png_exif_is_read_and_stripped(world: Any) -> None:
    data = image_bytes("PNG", exif=camera_exif(orientation=8))
    r = upload(world.technician, data, ctype="image/png")
    assert r.status_code == 201 and (r.json["width"], r.json["height"]) == (20, 40)
    assert r.json["capture"]["lat"] > 31
    served = world.technician.get(f"{URL}/{sha(data)}").data
    assert len(opened(served).getexif()) == 0 and b"eXIf" not in served


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_broken_metadata_does_not_reject_the_photo(world: Any) -> None:
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (IFDRational(1, 0), 0.0, 0.0),  # zero denominator
        ExifTags.GPS.GPSLongitudeRef: "Q",
        ExifTags.GPS.GPSLongitude: (1.0, 2.0, 3.0),
    }
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: "yesterday-ish"}
    r = upload(world.technician, image_bytes(exif=exif))
    assert r.status_code == 201 and r.json["capture"] == {}

    jpeg = image_bytes()
    for garbage in (
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + bytes(range(64)),
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00" + b"\xff" * 40,
        b"Exif\x00\x00" + b"\x01" * 3,
    ):
        app1 = b"\xff\xe1" + struct.pack(">H", len(garbage) + 2) + garbage
        r = upload(world.technician, jpeg[:2] + app1 + jpeg[2:])
        assert r.status_code == 201, r.json
        assert r.json["capture"] == {} and r.json["width"] == 40


def test_thumbnail_is_small_jpeg_and_never_enlarged(world: Any) -> None:
    big = image_bytes("PNG", size=(1000, 600), mode="RGBA", color=(0, 0, 255, 0))
    r = upload(world.technician, big, ctype="image/png")
    assert r.status_code == 201
    thumb = world.technician.get(f"{URL}/{sha(big)}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.headers["ETag"] == f'"{sha(big)}-thumbnail"'
    im = opened(thumb.data)
    assert im.format == "JPEG" and im.size == (320, 192)
    assert im.getpixel((5, 5)) == pytest.approx((255, 255, 255), abs=3)  # alpha over white

    tall = image_bytes(size=(100, 2000))
    upload(world.technician, tall)
    assert opened(world.technician.get(f"{URL}/{sha(tall)}/thumbnail").data).size == (16, 320)

    small = image_bytes(size=(40, 20))
    upload(world.technician, small)
    assert opened(world.technician.get(f"{URL}/{sha(small)}/thumbnail").data).size == (40, 20)


# --- tenancy, roles ---------------------------------------------------------------------


def test_other_tenants_blobs_look_absent(world: Any, blob_dir: Path) -> None:
    data = image_bytes()
    digest = sha(data)
    assert upload(world.technician, data).status_code == 201
    for suffix in ("", "/meta", "/thumbnail"):
        r = world.b_api.get(f"{URL}/{digest}{suffix}")
        assert r.status_code == 404 and r.json["code"] == "not_found"
    # The same bytes in tenant B are B's own object, in B's own directory.
    assert upload(world.b_api, data).status_code == 201
    assert (blob_dir / str(world.a.id) / digest[:2] / digest).is_file()
    assert (blob_dir / str(world.b.id) / digest[:2] / digest).is_file()


@pytest.mark.parametrize("role", ["admin", "dispatcher", "agent", "technician"])
def test_every_role_uploads_and_reads(world: Any, role: str) -> None:
    api = getattr(world, role)
    data = image_bytes(color=(len(role), 1, 2))
    assert upload(api, data).status_code == 201
    # Simplification for now: any user of the tenant may read any of its blobs.
    for reader in ("admin", "other_technician"):
        assert getattr(world, reader).get(f"{URL}/{sha(data)}").status_code == 200


def test_anonymous_callers_are_refused(world: Any) -> None:
    data = image_bytes()
    r = world.api.put(f"{URL}/{sha(data)}", data=data, content_type="image/jpeg")
    assert r.status_code == 401
    assert world.api.get(f"{URL}/{sha(data)}").status_code == 401


# --- retry safety -----------------------------------------------------------------------


def test_crash_while_writing_leaves_nothing_under_the_final_key(
    world: Any, blob_dir: Path, monkeypatch: Any
) -> None:
    data = image_bytes()
    digest = sha(data)

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk unplugged")

    # os.replace is the rename that publishes a fully written file under its final key.
    monkeypatch.setattr(os, "replace", crash)
    r = upload(world.technician, data)
    assert r.status_code == 500 and r.json["code"] == "internal_error"
    monkeypatch.undo()
    assert [p for p in blob_dir.rglob("*") if p.is_file()] == []  # no partial, no temp file
    assert world.technician.get(f"{URL}/{digest}/meta").status_code == 404

    assert upload(world.technician, data).status_code == 201  # the retry just works
    assert world.technician.get(f"{URL}/{digest}").status_code == 200


def stored_files(root: Path) -> list[Path]:
    """Every file under the blob directory, temp files included."""
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_an_interrupted_upload_leaves_nothing_and_the_retry_is_idempotent(
    world: Any, blob_dir: Path
) -> None:
    data = image_bytes(size=(64, 48))
    digest = sha(data)
    # The connection dropped halfway: the body is cut short, the URL still names the whole.
    cut = upload(world.technician, data[: len(data) // 2], digest=digest)
    assert cut.status_code == 422 and cut.json["code"] == "hash_mismatch"
    assert stored_files(blob_dir) == []
    assert world.technician.get(f"{URL}/{digest}/meta").status_code == 404

    first = upload(world.technician, data)
    assert first.status_code == 201
    files = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in stored_files(blob_dir)}
    assert len(files) == 2  # the image and its thumbnail, no temp file left
    for _ in range(2):  # retried after a lost response: same answer, nothing rewritten
        again = upload(world.technician, data)
        assert again.status_code == 200 and again.json == first.json
        assert again.headers["ETag"] == first.headers["ETag"]
        assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in stored_files(blob_dir)} == files


class _DroppedConnection(io.BytesIO):
    """A request body whose socket resets after ``cut`` bytes."""

    def __init__(self, data: bytes, cut: int) -> None:
        super().__init__(data)
        self.cut = cut

    def read(self, size: int | None = -1) -> bytes:
        left = self.cut - self.tell()
        if left <= 0:
            raise ConnectionResetError("connection reset by peer")
        return super().read(left if size is None or size < 0 else min(size, left))

    read1 = read

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("reset", [False, True], ids=["short-body", "connection-reset"])
def test_a_client_that_disconnects_mid_body_leaves_nothing(
    world: Any, blob_dir: Path, reset: bool
) -> None:
    data = image_bytes(size=(64, 48))
    half = len(data) // 2
    r = world.technician.client.put(
        f"{URL}/{sha(data)}",
        # Content-Length promises the whole photo; the body ends (or breaks) halfway.
        input_stream=_DroppedConnection(data, half) if reset else io.BytesIO(data[:half]),
        headers={
            "Authorization": f"Bearer {world.technician.token}",
            "Content-Type": "image/jpeg",
            "Content-Length": str(len(data)),
        },
    )
    if reset:
        assert r.status_code == 400, r.json  # werkzeug: ClientDisconnected
    else:
        assert r.status_code == 422 and r.json["code"] == "hash_mismatch"
    assert stored_files(blob_dir) == []
    assert world.technician.get(f"{URL}/{sha(data)}/meta").status_code == 404
    assert upload(world.technician, data).status_code == 201


def test_reupload_restores_lost_bytes(world: Any, blob_dir: Path) -> None:
    data = image_bytes()
    digest = sha(data)
    body = upload(world.technician, data).json
    for path in blob_dir.rglob(f"{digest}*"):
        path.unlink()
    r = world.technician.get(f"{URL}/{digest}")
    assert r.status_code == 404 and r.json["code"] == "blob_missing"
    again = upload(world.technician, data)
    assert again.status_code == 200 and again.json == body
    assert world.technician.get(f"{URL}/{digest}/thumbnail").status_code == 200


def test_concurrent_upload_of_the_same_bytes_answers_200(world: Any, monkeypatch: Any) -> None:
    """Two uploads race: the loser's insert conflicts, and it answers with the winner's row."""
    from sqlalchemy.orm import Session

    from server.blobs.models import Blob

    data = image_bytes()
    body = upload(world.technician, data).json
    real_get = Session.get
    calls = {"n": 0}

    def racing_get(self: Session, entity: Any, ident: Any, **kw: Any) -> Any:
        if entity is Blob:
            calls["n"] += 1
            if calls["n"] == 1:  # the row is not there yet when the loser looks
                return None
        return real_get(self, entity, ident, **kw)

    monkeypatch.setattr(Session, "get", racing_get)
    r = upload(world.technician, data)
    assert r.status_code == 200 and r.json == body
    assert calls["n"] == 2


def test_storage_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    for key in ("../x", "/etc/passwd", "a/../../b", "a//b", "", "a/./b", "a\\b"):
        with pytest.raises(ValueError):
            check_key(key)
        with pytest.raises(ValueError):
            store.put(key, b"x", content_type="image/jpeg")
    with pytest.raises(ObjectMissing):
        store.get("a/b")
    store.put("a/b", b"one", content_type="image/jpeg")
    store.put("a/b", b"two", content_type="image/jpeg")
    assert store.get("a/b") == b"two" and store.exists("a/b")
    store.delete("a/b")
    store.delete("a/b")
    assert not store.exists("a/b")
    assert list((tmp_path / ".tmp").iterdir()) == []


# --- sync integration -------------------------------------------------------------------


@pytest.fixture()
def order(world: Any, session: Any) -> Any:
    """An order dispatched to world.tech."""
    site = f.make_site(session, world.a, f.make_customer(session, world.a), at=Point(31.2, 121.5))
    mine = f.make_work_order(
        session,
        world.a,
        site,
        status="dispatched",
        lead_technician_id=world.tech.id,
        scheduled_start=f.aware(2026, 11, 23, 1),
        scheduled_end=f.aware(2026, 11, 23, 3),
    )
    session.commit()
    return SimpleNamespace(mine=mine)


def test_photo_rows_sync_only_after_the_bytes(world: Any, order: Any) -> None:
    data = image_bytes(exif=camera_exif())
    digest = sha(data)
    row = {
        "id": str(uuid.uuid4()),
        "work_order_id": str(order.mine.id),
        "occurred_at": DEVICE_NOW,
        "blob_sha256": digest,
        "caption": "Door sensor, before",
        "lat": 31.2364,
        "lon": 121.4737,
    }
    t0 = pull(world.technician).json["timestamp"]
    early = push(world.technician, {"work_order_photos": {"created": [row]}}, t0)
    assert early.status_code == 422 and early.json["code"] == "foreign_or_invalid_rows"
    assert f"work_order_photos/{row['id']}" in early.json["errors"]

    assert upload(world.technician, data).status_code == 201
    r = push(world.technician, {"work_order_photos": {"created": [row]}}, t0)
    assert r.status_code == 200, r.json
    assert row["id"] in ids(
        pull(world.technician, t0, device="tablet").json, "work_order_photos", "created"
    )
    # A blob of another tenant does not count.
    other = image_bytes(color=(1, 2, 3))
    assert upload(world.b_api, other).status_code == 201
    foreign = {**row, "id": str(uuid.uuid4()), "blob_sha256": sha(other)}
    r = push(world.technician, {"work_order_photos": {"created": [foreign]}}, t0)
    assert r.status_code == 422 and r.json["code"] == "foreign_or_invalid_rows"


# --- S3-compatible storage (moto in server mode, loopback only) ----------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture()
def s3_bucket(moto_endpoint: str, monkeypatch: Any) -> str:
    import boto3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    bucket = f"photos-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    return bucket


def test_s3_storage_put_get_exists(moto_endpoint: str, s3_bucket: str) -> None:
    store = S3Storage(s3_bucket, endpoint_url=moto_endpoint, region="us-east-1", prefix="fsm/")
    assert not store.exists("t/ab/key")
    with pytest.raises(ObjectMissing):
        store.get("t/ab/key")
    store.put("t/ab/key", b"photo bytes", content_type="image/jpeg")
    assert store.exists("t/ab/key") and store.get("t/ab/key") == b"photo bytes"
    stream, size = store.open("t/ab/key")
    assert size == 11 and stream.read() == b"photo bytes"
    stream.close()
    listed = store.client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["fsm/t/ab/key"]
    head = store.client.head_object(Bucket=s3_bucket, Key="fsm/t/ab/key")
    assert head["ContentType"] == "image/jpeg"
    store.delete("t/ab/key")
    assert not store.exists("t/ab/key")
    with pytest.raises(ValueError):
        store.put("../escape", b"x", content_type="image/jpeg")


def test_a_mismatched_upload_leaves_no_s3_object(
    world: Any, app: Any, moto_endpoint: str, s3_bucket: str
) -> None:
    import boto3

    app.config.update(
        BLOB_S3_BUCKET=s3_bucket, BLOB_S3_ENDPOINT_URL=moto_endpoint, BLOB_S3_REGION="us-east-1"
    )
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    data = image_bytes()
    cut = upload(world.technician, data[:100], digest=sha(data))
    assert cut.status_code == 422 and cut.json["code"] == "hash_mismatch"
    assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    first = upload(world.technician, data)
    assert first.status_code == 201
    again = upload(world.technician, data)
    assert again.status_code == 200 and again.json == first.json
    assert client.list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 2


def test_upload_and_download_through_s3(
    world: Any, app: Any, moto_endpoint: str, s3_bucket: str, blob_dir: Path
) -> None:
    app.config.update(
        BLOB_S3_BUCKET=s3_bucket,
        BLOB_S3_ENDPOINT_URL=moto_endpoint,
        BLOB_S3_REGION="us-east-1",
        BLOB_S3_PREFIX="",
    )
    data = image_bytes(size=(400, 100), exif=camera_exif(orientation=6))
    digest = sha(data)
    r = upload(world.technician, data)
    assert r.status_code == 201, r.json
    assert upload(world.technician, data).status_code == 200
    assert (r.json["width"], r.json["height"]) == (100, 400)

    served = world.dispatcher.get(f"{URL}/{digest}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert opened(served.data).size == (100, 400)
    assert ExifTags.IFD.GPSInfo not in opened(served.data).getexif()
    thumb = world.dispatcher.get(f"{URL}/{digest}/thumbnail")
    assert opened(thumb.data).size == (80, 320)

    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    base = f"{world.a.id}/{digest[:2]}/{digest}"
    assert keys == {base, f"{base}.thumb"}
    assert not blob_dir.exists()  # nothing went to the local directory
    assert world.b_api.get(f"{URL}/{digest}").status_code == 404
