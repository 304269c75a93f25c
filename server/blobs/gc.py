"""Garbage collection of orphan blobs: uploaded, referenced by nothing, past a grace period.

A phone uploads a photo's bytes before it pushes the row that references them, possibly
days later after being offline, so only blobs older than the grace period are candidates.
For each batch of candidates:

1. Lock them (PostgreSQL: the rows ``FOR UPDATE SKIP LOCKED`` and each blob's upload lock,
   skipping blobs that an upload holds; SQLite: the database write lock), then delete the
   rows whose blob is *still* unreferenced, re-checked by the DELETE itself, and commit.
2. Only after that commit remove the stored objects (original and thumbnail), one blob at
   a time under its upload lock, and only if no upload has re-created the row meanwhile
   (the same bytes map to the same keys, so deleting them would break the new row).

A photo push naming a deleted blob is refused as "bytes not uploaded yet", and uploading
the same bytes again creates the blob afresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Text, and_, cast, delete, exists, or_, select, text
from sqlalchemy.orm import Session

from server.blobs.models import Blob
from server.blobs.service import is_postgres, lock_blob, lock_key
from server.blobs.storage import BlobStorage, LocalStorage
from server.db import system_scope

log = logging.getLogger(__name__)

BATCH_SIZE = 500


@dataclass(frozen=True)
class Reference:
    """A column that can name a blob by its hash, in a table with a ``tenant_id``."""

    table: str
    column: str
    # True for a JSON document that may mention the hash anywhere inside it.
    embedded: bool = False


# Every place that can reference a blob. A blob named by none of them is an orphan, so a
# new reference MUST be listed here (tests/api/test_housekeeping.py fails on a column that
# looks like one and is missing).
REFERENCES: tuple[Reference, ...] = (
    Reference("work_order_photos", "blob_sha256"),
    # Checklist items can be of kind "photo" and the shape of their answers is not fixed
    # yet: any mention of the hash in an order's answers keeps the blob (at worst a blob
    # is kept too long; never is a referenced one deleted).
    Reference("work_orders", "checklist_answers", embedded=True),
    # Photos attached to comments (a customer's "add information" on the tracking page).
    Reference("work_order_comments", "attachments", embedded=True),
)


@dataclass(frozen=True)
class Orphan:
    """An unreferenced blob past the grace period (a deletion candidate)."""

    tenant_id: uuid.UUID
    sha256: str
    storage_key: str
    thumbnail_key: str | None
    size_bytes: int
    created_at: dt.datetime

    @property
    def keys(self) -> list[str]:
        """Storage keys of every rendition."""
        return [self.storage_key] + ([self.thumbnail_key] if self.thumbnail_key else [])


@dataclass
class GcReport:
    """What one run of the collector did (or, dry, would do)."""

    found: int = 0
    deleted: int = 0
    # Candidates that got referenced, or were being uploaded, while the collector ran.
    kept: int = 0
    size_bytes: int = 0
    objects_removed: int = 0
    # Rows deleted but re-created by an upload before their bytes went: bytes kept.
    reuploaded: int = 0
    failed_keys: list[str] = field(default_factory=list)
    staging_removed: int = 0
    # Filled in dry runs only, for the operator to review.
    orphans: list[Orphan] = field(default_factory=list)


def _referenced() -> ColumnElement[bool]:
    """True when any registered reference of the blob's tenant names the blob's hash."""
    from server.models import metadata  # every model, so each referencing table is known

    blobs = Blob.__table__
    checks: list[ColumnElement[bool]] = []
    for ref in REFERENCES:
        table = metadata.tables[ref.table]
        column = table.c[ref.column]
        names = (
            cast(column, Text).contains(blobs.c.sha256)
            if ref.embedded
            else column == blobs.c.sha256
        )
        checks.append(exists().where(table.c.tenant_id == blobs.c.tenant_id, names))
    return or_(*checks)


def _among(blobs: Iterable[tuple[uuid.UUID, str]]) -> ColumnElement[bool]:
    """Blob rows with these (tenant, hash) keys, grouped per tenant to keep the SQL small."""
    by_tenant: dict[uuid.UUID, list[str]] = defaultdict(list)
    for tenant_id, sha256 in blobs:
        by_tenant[tenant_id].append(sha256)
    return or_(
        *(
            and_(Blob.tenant_id == tenant_id, Blob.sha256.in_(hashes))
            for tenant_id, hashes in by_tenant.items()
        )
    )


def find_orphans(
    *,
    db_session: Session,
    older_than: dt.datetime,
    limit: int = BATCH_SIZE,
    after: tuple[uuid.UUID, str] | None = None,
) -> list[Orphan]:
    """Unreferenced blobs of every tenant created before ``older_than``, in key order.

    ``after`` is the (tenant, hash) key of the last blob of the previous page.
    """
    stmt = select(
        Blob.tenant_id,
        Blob.sha256,
        Blob.storage_key,
        Blob.thumbnail_key,
        Blob.size_bytes,
        Blob.created_at,
    ).where(Blob.created_at < older_than, ~_referenced())
    if after is not None:
        tenant_id, sha256 = after
        stmt = stmt.where(
            or_(Blob.tenant_id > tenant_id, and_(Blob.tenant_id == tenant_id, Blob.sha256 > sha256))
        )
    stmt = stmt.order_by(Blob.tenant_id, Blob.sha256).limit(limit)
    with system_scope(db_session):
        return [Orphan(*row) for row in db_session.execute(stmt).tuples()]


def _lockable(db_session: Session, orphans: list[Orphan]) -> list[tuple[uuid.UUID, str]]:
    """PostgreSQL: lock the rows and upload locks of what nobody else holds right now."""
    rows = db_session.execute(
        select(Blob.tenant_id, Blob.sha256)
        .where(_among((o.tenant_id, o.sha256) for o in orphans))
        .with_for_update(of=Blob, skip_locked=True)
    ).tuples()
    by_key = {lock_key(tenant_id, sha256): (tenant_id, sha256) for tenant_id, sha256 in rows}
    if not by_key:
        return []
    # Sorted: two collectors running at once take the locks in the same order.
    got = db_session.execute(
        text("SELECT k, pg_try_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"),
        {"keys": sorted(by_key)},
    ).tuples()
    return [by_key[key] for key, locked in got if locked]


def delete_orphans(
    *, db_session: Session, orphans: list[Orphan], older_than: dt.datetime
) -> list[Orphan]:
    """Delete the rows of those candidates that are still orphans, and commit.

    Returns the deleted ones; their stored objects are still there (``remove_objects``).
    """
    if not orphans:
        return []
    with system_scope(db_session):
        keys = [(o.tenant_id, o.sha256) for o in orphans]
        if is_postgres(db_session):
            # The re-check below must run as a statement of its own after the locks are
            # granted: under READ COMMITTED it then sees every reference committed before.
            keys = _lockable(db_session, orphans)
            if not keys:
                db_session.commit()
                return []
        deleted = db_session.execute(
            delete(Blob)
            .where(_among(keys), Blob.created_at < older_than, ~_referenced())
            .returning(Blob.tenant_id, Blob.sha256)
            .execution_options(synchronize_session=False)
        ).tuples()
        gone = set(deleted)
        db_session.commit()
    return [o for o in orphans if (o.tenant_id, o.sha256) in gone]


def remove_objects(
    *, db_session: Session, storage: BlobStorage, orphan: Orphan
) -> tuple[bool, list[str]]:
    """Remove a deleted blob's stored objects unless an upload re-created its row.

    Returns whether they were removed and the keys whose removal failed.
    """
    failed: list[str] = []
    with system_scope(db_session):
        lock_blob(db_session, orphan.tenant_id, orphan.sha256)
        # A query, not Session.get: the identity map may still hold the deleted row.
        back = db_session.scalar(
            select(Blob.sha256).where(
                Blob.tenant_id == orphan.tenant_id, Blob.sha256 == orphan.sha256
            )
        )
        if back is None:
            for key in orphan.keys:
                try:
                    storage.delete(key)
                except Exception:  # noqa: BLE001 - one unreachable object must not stop the run
                    log.exception("blob gc: could not remove stored object %s", key)
                    failed.append(key)
        db_session.commit()  # releases the lock, only now that the objects are gone
    return back is None, failed


def collect_garbage(
    *,
    db_session: Session,
    storage: BlobStorage,
    older_than: dt.datetime,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
) -> GcReport:
    """Delete orphan blobs created before ``older_than``: rows first, then their objects."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    report = GcReport()
    after: tuple[uuid.UUID, str] | None = None
    while True:
        batch = find_orphans(
            db_session=db_session, older_than=older_than, limit=batch_size, after=after
        )
        if not batch:
            db_session.commit()
            break
        after = (batch[-1].tenant_id, batch[-1].sha256)
        report.found += len(batch)
        if dry_run:
            db_session.commit()  # read only; ends the transaction (SQLite: the write lock)
            report.orphans.extend(batch)
            report.size_bytes += sum(o.size_bytes for o in batch)
            continue
        deleted = delete_orphans(db_session=db_session, orphans=batch, older_than=older_than)
        report.deleted += len(deleted)
        report.kept += len(batch) - len(deleted)
        report.size_bytes += sum(o.size_bytes for o in deleted)
        for orphan in deleted:
            removed, failed = remove_objects(db_session=db_session, storage=storage, orphan=orphan)
            if not removed:
                report.reuploaded += 1
                continue
            report.objects_removed += len(orphan.keys) - len(failed)
            report.failed_keys.extend(failed)
    if isinstance(storage, LocalStorage):
        report.staging_removed = storage.sweep_staging(older_than, dry_run=dry_run)
    return report
