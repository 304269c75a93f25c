"""Blob representation: what the server knows about an uploaded photo."""

from __future__ import annotations

from marshmallow import Schema, fields

from server.schemas import Timestamp


class CaptureSchema(Schema):
    """Where and when the photo was taken, read from its EXIF (each key only if present)."""

    lat = fields.Float(metadata={"description": "Decimal degrees, WGS 84."})
    lon = fields.Float(metadata={"description": "Decimal degrees, WGS 84."})
    altitude_m = fields.Float(metadata={"description": "Metres above sea level."})
    taken_at = fields.String(
        metadata={
            "description": "EXIF DateTimeOriginal as ISO-8601; with an offset when the "
            "camera recorded one, else the camera's local time."
        }
    )
    gps_time = fields.String(metadata={"description": "GPS fix time, ISO-8601 UTC."})


class BlobSchema(Schema):
    """A stored image; the served file is re-encoded without metadata."""

    sha256 = fields.String(
        metadata={"description": "SHA-256 of the uploaded bytes (the blob's id)."}
    )
    content_type = fields.String(metadata={"enum": ["image/jpeg", "image/png", "image/webp"]})
    size_bytes = fields.Integer(metadata={"description": "Size of the served (sanitized) file."})
    width = fields.Integer(allow_none=True, metadata={"description": "After EXIF orientation."})
    height = fields.Integer(allow_none=True, metadata={"description": "After EXIF orientation."})
    capture = fields.Nested(CaptureSchema)
    created_at = Timestamp(dump_only=True)
