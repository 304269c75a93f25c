"""Where blob bytes live: one small interface, a local-directory and an S3 implementation.

Keys are relative, '/'-separated and built by the service (``<tenant>/<aa>/<sha256>``), so
the same database rows work whichever backend holds the bytes. Writes are all-or-nothing:
a reader never sees a partially written object under its final key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Protocol

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class ObjectMissing(LookupError):
    """No object is stored under the key."""


class BlobStorage(Protocol):
    """What the blob service needs from an object store."""

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` under ``key`` atomically (replacing any previous object)."""
        ...

    def get(self, key: str) -> bytes:
        """The whole object; raises ObjectMissing."""
        ...

    def open(self, key: str) -> tuple[IO[bytes], int]:
        """A readable stream of the object and its size; raises ObjectMissing."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; absent objects are ignored."""
        ...


def check_key(key: str) -> str:
    """Refuse keys that could escape the store's root (absolute, '..', odd characters)."""
    if len(key) > 300 or not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    """Objects as files under one root directory; writes go to a temp file, then rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write to a temp file in the same file system, fsync, then rename over the key."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.root / ".tmp"
        staging.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=staging, prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(path.parent)

    def get(self, key: str) -> bytes:
        """The file's bytes."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc

    def open(self, key: str) -> tuple[IO[bytes], int]:
        """An open binary file and its size."""
        try:
            fh = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        return fh, os.fstat(fh.fileno()).st_size

    def exists(self, key: str) -> bool:
        """Whether the file exists."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the file if present."""
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def sweep_staging(self, older_than: dt.datetime, *, dry_run: bool = False) -> int:
        """Remove temp files last written before ``older_than``; returns how many.

        A write takes seconds, so an old temp file is one a killed process left behind:
        never visible under a key, but still taking disk space.
        """
        staging = self.root / ".tmp"
        if not staging.is_dir():
            return 0
        limit = older_than.timestamp()
        removed = 0
        for path in staging.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if not path.is_file() or path.stat().st_mtime >= limit:
                    continue
                if not dry_run:
                    path.unlink()
                removed += 1
        return removed


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: the row committed next must not outlive its file on a crash."""
    if os.name != "posix":  # pragma: no cover - directories cannot be opened elsewhere
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in {"404", "NoSuchKey", "NotFound"} or status == 404


class S3Storage:
    """Objects in an S3-compatible bucket; a single PutObject is atomic, never partial."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """PutObject (S3 makes an object visible only once fully received)."""
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        """GetObject, read fully."""
        stream, _ = self.open(key)
        try:
            return bytes(stream.read())
        finally:
            stream.close()

    def open(self, key: str) -> tuple[IO[bytes], int]:
        """GetObject's streaming body and its length."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectMissing(key) from exc
            raise
        return response["Body"], int(response["ContentLength"])

    def exists(self, key: str) -> bool:
        """HeadObject."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        """DeleteObject (idempotent in S3)."""
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def storage_settings(config: Mapping[str, Any]) -> tuple[Any, ...]:
    """The config values that select and shape the backend (a cache key)."""
    return (
        config.get("BLOB_S3_BUCKET"),
        config.get("BLOB_S3_ENDPOINT_URL"),
        config.get("BLOB_S3_REGION"),
        config.get("BLOB_S3_PREFIX") or "",
        config.get("BLOB_DIR"),
    )


def storage_from_config(config: Mapping[str, Any]) -> BlobStorage:
    """S3 when BLOB_S3_BUCKET is set, else the local directory BLOB_DIR."""
    bucket, endpoint_url, region, prefix, directory = storage_settings(config)
    if bucket:
        return S3Storage(bucket, endpoint_url=endpoint_url, region=region, prefix=prefix)
    if not directory:
        raise RuntimeError("Set BLOB_DIR or BLOB_S3_BUCKET to store uploaded photos.")
    return LocalStorage(directory)
