"""Blob use cases: receive an upload (hash-checked, size-limited), process and store it once
per tenant, and look blobs up for download.

Order of effects on upload: the objects are written to storage first (atomically, under
keys derived from the hash), then the row is committed. A crash in between leaves at most
an orphan object that the retry overwrites with identical content; a row never points at
bytes that were not written. An upload holds a per-blob lock (``lock_blob``) from its
lookup to its commit, which the garbage collector (``server.blobs.gc``) takes too.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import uuid
from dataclasses import dataclass
from typing import IO

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.blobs.images import ImageRejected, ImageTooLarge, process_image
from server.blobs.models import Blob
from server.blobs.storage import BlobStorage, ObjectMissing
from server.errors import DomainError, NotFound, ValidationFailed

SHA256_PATTERN = "^[0-9a-f]{64}$"
_SHA256 = re.compile(SHA256_PATTERN)
_CHUNK = 64 * 1024
# Uploads up to this size stay in memory while being hashed; larger ones spill to disk.
_SPOOL_BYTES = 2 * 1024 * 1024


class PayloadTooLarge(DomainError):
    """The upload is bigger than BLOB_MAX_BYTES."""

    status = 413
    code = "payload_too_large"


class UnsupportedMedia(DomainError):
    """The bytes are not an accepted image type."""

    status = 415
    code = "unsupported_media"


@dataclass(frozen=True)
class Limits:
    """Per-deployment upload limits (from config)."""

    max_bytes: int
    max_pixels: int
    thumbnail_px: int = 320


def check_sha256(value: str) -> str:
    """The value itself when it is 64 lowercase hex digits; else 422 invalid_hash."""
    if not _SHA256.match(value):
        raise ValidationFailed(
            "The blob id must be the SHA-256 of the bytes: 64 lowercase hex digits.",
            code="invalid_hash",
        )
    return value


def object_keys(tenant_id: uuid.UUID, sha256: str) -> tuple[str, str]:
    """Storage keys of the served image and its thumbnail (tenant-separated)."""
    base = f"{tenant_id}/{sha256[:2]}/{sha256}"
    return base, f"{base}.thumb"


def lock_key(tenant_id: uuid.UUID, sha256: str) -> int:
    """The 64-bit advisory-lock key of one tenant's blob."""
    digest = hashlib.blake2b(f"blob:{tenant_id}:{sha256}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def is_postgres(db_session: Session) -> bool:
    """Whether the session talks to PostgreSQL."""
    return db_session.get_bind().dialect.name == "postgresql"


def lock_blob(db_session: Session, tenant_id: uuid.UUID, sha256: str) -> None:
    """Hold the blob's lock until the transaction ends (uploads and GC of it take turns).

    PostgreSQL: a transaction-level advisory lock. SQLite needs none: every transaction
    starts with BEGIN IMMEDIATE, so the one holding the write lock runs alone.
    """
    if is_postgres(db_session):
        db_session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(tenant_id, sha256)}
        )


def receive(stream: IO[bytes], *, max_bytes: int) -> tuple[str, int, IO[bytes]]:
    """Read the body in chunks while hashing it; 413 past ``max_bytes``.

    Returns the hex digest, the size and a rewound spooled copy of the bytes.
    """
    digest = hashlib.sha256()
    size = 0
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
    try:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"The upload is larger than {max_bytes} bytes.", limit_bytes=max_bytes
                )
            digest.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return digest.hexdigest(), size, spool


def _objects_present(storage: BlobStorage, blob: Blob) -> bool:
    keys = [blob.storage_key] + ([blob.thumbnail_key] if blob.thumbnail_key else [])
    return all(storage.exists(key) for key in keys)


def store_upload(
    *,
    db_session: Session,
    storage: BlobStorage,
    tenant_id: uuid.UUID,
    sha256: str,
    stream: IO[bytes],
    limits: Limits,
) -> tuple[Blob, bool]:
    """Store an upload once; returns the blob and whether this call created it.

    Re-sending the same bytes is a no-op answered with the stored blob (and re-writes the
    objects if storage lost them). Errors: invalid_hash, payload_too_large, hash_mismatch,
    unsupported_media, image_too_large.
    """
    check_sha256(sha256)
    received, _size, body = receive(stream, max_bytes=limits.max_bytes)
    with body:
        if received != sha256:
            raise ValidationFailed(
                "The bytes do not hash to the SHA-256 in the URL; the upload was corrupted "
                "or the URL is wrong.",
                code="hash_mismatch",
                expected=sha256,
                received=received,
            )
        # Until this transaction ends the GC can neither delete this row nor, once it has
        # deleted it, the bytes this upload is about to write.
        lock_blob(db_session, tenant_id, sha256)
        existing = db_session.get(Blob, (tenant_id, sha256))
        if existing is not None and _objects_present(storage, existing):
            return existing, False
        try:
            image = process_image(
                body, max_pixels=limits.max_pixels, thumbnail_px=limits.thumbnail_px
            )
        except ImageTooLarge as exc:
            raise ValidationFailed(exc.message, code=exc.code) from exc
        except ImageRejected as exc:
            raise UnsupportedMedia(exc.message, code=exc.code) from exc
    key, thumb_key = object_keys(tenant_id, sha256)
    storage.put(thumb_key, image.thumbnail, content_type=image.thumbnail_content_type)
    storage.put(key, image.data, content_type=image.content_type)
    if existing is not None:
        return existing, False
    blob = Blob(
        tenant_id=tenant_id,
        sha256=sha256,
        content_type=image.content_type,
        size_bytes=len(image.data),
        width=image.width,
        height=image.height,
        storage_key=key,
        thumbnail_key=thumb_key,
        capture=image.capture,
    )
    try:
        with db_session.begin_nested():
            db_session.add(blob)
    except IntegrityError:
        # A concurrent upload of the same bytes committed first: same content, same answer.
        winner = db_session.get(Blob, (tenant_id, sha256))
        if winner is None:
            raise
        db_session.commit()
        return winner, False
    db_session.commit()
    return blob, True


def get_blob(*, db_session: Session, tenant_id: uuid.UUID, sha256: str) -> Blob:
    """The tenant's blob or 404 (other tenants' blobs look absent)."""
    check_sha256(sha256)
    blob = db_session.get(Blob, (tenant_id, sha256))
    if blob is None:
        raise NotFound(f"No blob {sha256}.")
    return blob


def open_object(*, storage: BlobStorage, key: str | None) -> tuple[IO[bytes], int]:
    """A stream of a stored object; 404 blob_missing when the bytes are gone."""
    if key is None:
        raise NotFound("This blob has no such rendition.", code="blob_missing")
    try:
        return storage.open(key)
    except ObjectMissing as exc:
        raise NotFound(
            "The blob's bytes are missing from storage; upload them again.", code="blob_missing"
        ) from exc
