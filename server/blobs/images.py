"""Image intake: decode with Pillow (allow-list, pixel limit), orient, read the capture
position and time from EXIF, and re-encode without any metadata, plus a thumbnail.

Pure: bytes in, bytes and data out; no Flask, no database.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from dataclasses import dataclass, field
from typing import IO, Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

# Pillow format name -> the media type we serve it as. Nothing else is decoded.
ALLOWED_FORMATS: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
THUMBNAIL_FORMAT = "JPEG"
THUMBNAIL_CONTENT_TYPE = "image/jpeg"
# An ICC colour profile is kept (colours of wide-gamut phone photos); anything larger than
# this is not a real profile and is dropped.
MAX_ICC_BYTES = 512 * 1024
_OFFSET = re.compile(r"^[+-](0\d|1[0-4]):[0-5]\d$")


class ImageRejected(Exception):
    """The upload cannot be accepted as an image."""

    code = "unsupported_media"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedImage(ImageRejected):
    """Not a decodable JPEG, PNG or WEBP (another format, garbage, truncated)."""

    code = "unsupported_media"


class ImageTooLarge(ImageRejected):
    """More pixels than allowed (a decompression bomb, or just too big)."""

    code = "image_too_large"


@dataclass(frozen=True)
class ProcessedImage:
    """The sanitized image, its thumbnail, and what was learnt from the metadata."""

    data: bytes
    content_type: str
    width: int
    height: int
    thumbnail: bytes
    thumbnail_content_type: str
    capture: dict[str, Any] = field(default_factory=dict)


def process_image(source: IO[bytes], *, max_pixels: int, thumbnail_px: int = 320) -> ProcessedImage:
    """Decode, check, orient and re-encode an upload; raises ImageRejected subclasses."""
    # Pillow's own guard warns above this many pixels and refuses at twice as many; the
    # explicit check below refuses at the limit itself, before any pixel is decoded.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(source, formats=list(ALLOWED_FORMATS)) as im:
            fmt = str(im.format)
            if fmt not in ALLOWED_FORMATS:  # pragma: no cover - formats= already limits
                raise UnsupportedImage("Only JPEG, PNG and WEBP images are accepted.")
            width, height = im.size
            if width <= 0 or height <= 0:
                raise UnsupportedImage("The image has no pixels.")
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"The image has {width}x{height} pixels; the limit is {max_pixels}."
                )
            im.seek(0)
            im.load()  # decode everything now: truncated or corrupt data fails here
            capture = read_capture(im)
            icc = im.info.get("icc_profile")
            clean, kept_mode = _without_metadata(_oriented(im), fmt)
        keep_icc = kept_mode and isinstance(icc, bytes) and len(icc) <= MAX_ICC_BYTES
        icc_profile = icc if keep_icc else None
        data = _encode(clean, fmt, icc_profile)
        width, height = clean.size
        thumbnail = _thumbnail(clean, thumbnail_px, icc_profile)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"The image has too many pixels; the limit is {max_pixels}.") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedImage("Not a JPEG, PNG or WEBP image.") from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, IndexError) as exc:
        # Pillow's decoders signal truncated/corrupt input with any of these.
        raise UnsupportedImage("The image could not be decoded (corrupt or truncated).") from exc
    return ProcessedImage(
        data=data,
        content_type=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        thumbnail=thumbnail,
        thumbnail_content_type=THUMBNAIL_CONTENT_TYPE,
        capture=capture,
    )


def _oriented(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation in place; unreadable metadata means 'as stored'."""
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception:  # noqa: BLE001 - metadata is untrusted; the pixels are still fine
        pass
    return im


def _without_metadata(im: Image.Image, fmt: str) -> tuple[Image.Image, bool]:
    """A brand-new image holding only the pixels (no info, EXIF, XMP, text chunks).

    Returns the image and whether its mode is the decoded one (so a colour profile still
    applies).
    """
    alpha = im.has_transparency_data
    if fmt == "JPEG":
        target = im.mode if im.mode in ("L", "RGB") else "RGB"
    elif fmt == "PNG" and im.mode in ("L", "LA"):
        target = "LA" if alpha else "L"
    else:
        target = "RGBA" if alpha else "RGB"
    pixels = im if im.mode == target else im.convert(target)
    fresh = Image.new(target, pixels.size)
    fresh.paste(pixels)  # pixels only, alpha included; no copy of info/EXIF/XMP
    return fresh, target == im.mode


def _encode(im: Image.Image, fmt: str, icc_profile: bytes | None) -> bytes:
    """Encode with no metadata except an optional colour profile."""
    out = io.BytesIO()
    params: dict[str, Any] = {}
    if icc_profile:
        params["icc_profile"] = icc_profile
    if fmt == "JPEG":
        im.save(out, "JPEG", quality=90, **params)
    elif fmt == "PNG":
        im.save(out, "PNG", **params)
    else:
        im.save(out, "WEBP", quality=90, **params)
    return out.getvalue()


def _thumbnail(im: Image.Image, max_px: int, icc_profile: bytes | None) -> bytes:
    """At most ``max_px`` on the long side (never enlarged), JPEG, alpha over white.

    Shrinks ``im`` in place (no full-size copy of a large photo).
    """
    source_mode = im.mode
    thumb = im
    thumb.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    if thumb.mode in ("RGBA", "LA"):
        background = Image.new("RGB", thumb.size, (255, 255, 255))
        background.paste(thumb.convert("RGBA"), mask=thumb.convert("RGBA").getchannel("A"))
        thumb = background
        icc_profile = None if source_mode == "LA" else icc_profile
    elif thumb.mode not in ("L", "RGB"):
        thumb = thumb.convert("RGB")
    out = io.BytesIO()
    params: dict[str, Any] = {"icc_profile": icc_profile} if icc_profile else {}
    thumb.save(out, THUMBNAIL_FORMAT, quality=80, **params)
    return out.getvalue()


# --- capture metadata ------------------------------------------------------------------


def read_capture(im: Image.Image) -> dict[str, Any]:
    """Position (lat, lon, altitude_m), camera time and GPS time from EXIF; {} if none.

    Best effort: EXIF is untrusted, so any value that does not parse is simply left out.
    """
    try:
        exif = im.getexif()
        gps = dict(exif.get_ifd(ExifTags.IFD.GPSInfo))
        details = dict(exif.get_ifd(ExifTags.IFD.Exif))
    except Exception:  # noqa: BLE001 - a broken EXIF block must not reject the photo
        return {}
    capture: dict[str, Any] = {}
    lat = _coordinate(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
    lon = _coordinate(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef))
    if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
        capture["lat"] = round(lat, 7)
        capture["lon"] = round(lon, 7)
        altitude = _number(gps.get(ExifTags.GPS.GPSAltitude))
        if altitude is not None and abs(altitude) < 100_000:
            below_sea = _text(gps.get(ExifTags.GPS.GPSAltitudeRef)) in ("1", "\x01")
            capture["altitude_m"] = round(-altitude if below_sea else altitude, 2)
    taken_at = _exif_time(
        details.get(ExifTags.Base.DateTimeOriginal),
        details.get(ExifTags.Base.OffsetTimeOriginal),
    )
    if taken_at:
        capture["taken_at"] = taken_at
    gps_time = _gps_time(gps.get(ExifTags.GPS.GPSDateStamp), gps.get(ExifTags.GPS.GPSTimeStamp))
    if gps_time:
        capture["gps_time"] = gps_time
    return capture


def _number(value: Any) -> float | None:
    """A finite float from an EXIF rational/number, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    """EXIF ASCII/byte values as a stripped string."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip("\x00 ") if value is not None else ""


def _coordinate(value: Any, ref: Any) -> float | None:
    """Degrees/minutes/seconds plus N/S/E/W reference -> signed decimal degrees."""
    if value is None:
        return None
    parts = list(value) if isinstance(value, (tuple, list)) else [value]
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [_number(p) for p in parts]
    if any(n is None or n < 0 for n in numbers):
        return None
    degrees = sum(n / math.pow(60, i) for i, n in enumerate(numbers) if n is not None)
    direction = _text(ref).upper()
    if direction not in ("N", "S", "E", "W"):
        return None
    return -degrees if direction in ("S", "W") else degrees


def _exif_time(value: Any, offset: Any) -> str | None:
    """'YYYY:MM:DD HH:MM:SS' (+ optional '+08:00') -> ISO-8601; camera-local if no offset."""
    text = _text(value)
    try:
        moment = dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if not 1900 <= moment.year < 2200:
        return None
    zone = _text(offset)
    if _OFFSET.match(zone):
        return moment.isoformat() + zone
    return moment.isoformat()


def _gps_time(date_value: Any, time_value: Any) -> str | None:
    """GPSDateStamp + GPSTimeStamp (always UTC) -> ISO-8601 with 'Z'."""
    try:
        day = dt.datetime.strptime(_text(date_value)[:10], "%Y:%m:%d")
    except ValueError:
        return None
    if not isinstance(time_value, (tuple, list)) or len(time_value) != 3:
        return None
    h, m, s = (_number(v) for v in time_value)
    if h is None or m is None or s is None or not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        return None
    if not 1900 <= day.year < 2200:
        return None
    moment = day + dt.timedelta(hours=int(h), minutes=int(m), seconds=int(s))
    return moment.isoformat() + "Z"
