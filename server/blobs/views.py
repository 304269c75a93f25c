"""Blob endpoints: content-addressed photo upload, download, thumbnail and metadata."""

from __future__ import annotations

import io
from typing import Any

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from werkzeug.wsgi import wrap_file

from server.auth.principal import ALL_ROLES, current, roles_required
from server.blobs import service
from server.blobs.images import ALLOWED_FORMATS, THUMBNAIL_CONTENT_TYPE
from server.blobs.models import Blob
from server.blobs.schemas import BlobSchema
from server.blobs.storage import BlobStorage, storage_from_config, storage_settings
from server.db import db
from server.http import Blueprint

blp = Blueprint(
    "blobs",
    __name__,
    url_prefix="/blobs",
    description="Photos as content-addressed blobs: upload the bytes (PUT, idempotent) "
    "before pushing the row that references them.",
)

SHA256_PARAM = {
    "in": "path",
    "name": "sha256",
    "description": "SHA-256 of the uploaded bytes, 64 lowercase hex digits.",
    "schema": {"type": "string", "pattern": service.SHA256_PATTERN},
}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY = {
    "required": True,
    "description": "The raw image bytes (JPEG, PNG or WEBP). The server decodes them to "
    "decide the type; the Content-Type header is not trusted.",
    "content": {ct: _BINARY for ct in [*ALLOWED_FORMATS.values(), "application/octet-stream"]},
}
# Content-addressed, so never changes; private: photos of customers' premises.
CACHE_CONTROL = "private, max-age=31536000, immutable"


def _image_doc(description: str, types: list[str]) -> dict[str, Any]:
    return {
        "responses": {
            "200": {
                "description": description,
                "headers": {"ETag": {"schema": {"type": "string"}}},
                "content": {ct: _BINARY for ct in types},
            },
            "304": {"description": "Not modified (If-None-Match matched the ETag)."},
        }
    }


def _storage() -> BlobStorage:
    """The configured backend, built once per distinct configuration."""
    settings = storage_settings(current_app.config)
    cached = current_app.extensions.get("blob_storage")
    if cached is None or cached[0] != settings:
        cached = (settings, storage_from_config(current_app.config))
        current_app.extensions["blob_storage"] = cached
    storage: BlobStorage = cached[1]
    return storage


def _load(sha256: str) -> Blob:
    return service.get_blob(db_session=db.session(), tenant_id=current().tenant_id, sha256=sha256)


def _send(key: str | None, content_type: str, etag: str) -> Response:
    """Stream a stored object with validators; 304 when the client has it already."""
    headers = {"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304, headers=headers)
        response.set_etag(etag)
        return response
    stream, size = service.open_object(storage=_storage(), key=key)
    response = Response(
        wrap_file(request.environ, stream),
        mimetype=content_type,
        headers=headers,
        direct_passthrough=True,
    )
    response.content_length = size
    response.set_etag(etag)
    return response


@blp.route("/<sha256>", parameters=[SHA256_PARAM])
class BlobById(MethodView):
    """Upload and download one blob."""

    @roles_required(*ALL_ROLES)
    @blp.doc(requestBody=UPLOAD_BODY)
    @blp.response(201, BlobSchema, description="Stored for the first time.")
    @blp.alt_response(200, schema=BlobSchema, description="Already stored: nothing changed.")
    def put(self, sha256: str) -> Any:
        """Upload image bytes addressed by their SHA-256 (idempotent; retry freely).

        Errors: 422 invalid_hash / hash_mismatch / image_too_large, 413 payload_too_large,
        415 unsupported_media.
        """
        service.check_sha256(sha256)
        config = current_app.config
        # The global 1 MiB request limit does not fit photos; this route alone allows more.
        request.max_content_length = int(config["BLOB_MAX_BYTES"])
        blob, created = service.store_upload(
            db_session=db.session(),
            storage=_storage(),
            tenant_id=current().tenant_id,
            sha256=sha256,
            # A JSON-typed body was already read (and size-checked) by guard_request_text.
            stream=io.BytesIO(request.get_data()) if request.is_json else request.stream,
            limits=service.Limits(
                max_bytes=int(config["BLOB_MAX_BYTES"]),
                max_pixels=int(config["BLOB_MAX_PIXELS"]),
                thumbnail_px=int(config["BLOB_THUMBNAIL_PX"]),
            ),
        )
        headers = {
            "ETag": f'"{blob.sha256}"',
            "Location": url_for("blobs.BlobById", sha256=blob.sha256),
        }
        return blob, 201 if created else 200, headers

    @roles_required(*ALL_ROLES)
    @blp.doc(**_image_doc("The image, oriented and without metadata.", [*ALLOWED_FORMATS.values()]))
    def get(self, sha256: str) -> Any:
        """Download the sanitized image (EXIF orientation applied, no EXIF/GPS)."""
        blob = _load(sha256)
        return _send(blob.storage_key, blob.content_type, blob.sha256)


@blp.route("/<sha256>/thumbnail", parameters=[SHA256_PARAM])
class BlobThumbnail(MethodView):
    """The small rendition."""

    @roles_required(*ALL_ROLES)
    @blp.doc(**_image_doc("JPEG, at most 320 px on the long side.", [THUMBNAIL_CONTENT_TYPE]))
    def get(self, sha256: str) -> Any:
        """Download the thumbnail."""
        blob = _load(sha256)
        return _send(blob.thumbnail_key, THUMBNAIL_CONTENT_TYPE, f"{blob.sha256}-thumbnail")


@blp.route("/<sha256>/meta", parameters=[SHA256_PARAM])
class BlobMeta(MethodView):
    """What the server knows about a blob."""

    @roles_required(*ALL_ROLES)
    @blp.response(200, BlobSchema)
    def get(self, sha256: str) -> Any:
        """Type, size, oriented dimensions and capture position/time of a blob."""
        return _load(sha256)
