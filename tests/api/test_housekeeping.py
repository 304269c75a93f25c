"""Blob garbage collection: orphans go (row, then bytes), referenced and young blobs stay."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from server.blobs.gc import (
    REFERENCES,
    GcReport,
    collect_garbage,
    delete_orphans,
    find_orphans,
    remove_objects,
)
from server.blobs.models import Blob
from server.blobs.service import lock_key
from server.blobs.storage import BlobStorage, LocalStorage, storage_from_config
from server.db import db, utcnow
from server.field.models import WorkOrderPhoto
from tests import factories as f
from tests.api import test_blobs
from tests.api.test_blobs import image_bytes, sha, upload
from tests.api.test_sync import DEVICE_NOW, pull, push
from tests.conftest import IS_POSTGRES

URL = "/api/v1/blobs"
# The blob tests' fixtures (autouse blob_dir included), found by pytest under these names.
blob_dir = test_blobs.blob_dir
moto_endpoint = test_blobs.moto_endpoint
s3_bucket = test_blobs.s3_bucket
order = test_blobs.order
GRACE = dt.timedelta(hours=72)


def cutoff() -> dt.datetime:
    return utcnow() - GRACE


def age(session: Session, tenant_id: uuid.UUID, digest: str, hours: float) -> None:
    """Pretend the blob was uploaded ``hours`` ago."""
    session.execute(
        update(Blob)
        .where(Blob.tenant_id == tenant_id, Blob.sha256 == digest)
        .values(created_at=utcnow() - dt.timedelta(hours=hours))
    )
    session.commit()


def color(i: int) -> tuple[int, int, int]:
    """Far enough apart that JPEG encodes each one to different bytes."""
    return ((i * 53) % 256, (i * 101 + 40) % 256, (i * 29 + 200) % 256)


def put_old(session: Session, api: Any, tenant_id: uuid.UUID, i: int, hours: float = 100) -> str:
    """Upload image number ``i`` as ``api`` and age it; returns its hash."""
    data = image_bytes(color=color(i))
    assert upload(api, data).status_code == 201
    age(session, tenant_id, sha(data), hours)
    return sha(data)


def photo(session: Session, world: Any, work_order: Any, digest: str) -> None:
    """A photo row of tenant A that references the blob."""
    session.add(
        WorkOrderPhoto(
            id=uuid.uuid4(),
            tenant_id=world.a.id,
            work_order_id=work_order.id,
            occurred_at=utcnow(),
            blob_sha256=digest,
        )
    )
    session.commit()


def rows(session: Session) -> set[tuple[uuid.UUID, str]]:
    session.expire_all()
    return set(session.execute(select(Blob.tenant_id, Blob.sha256)).tuples())


def files_of(root: Path, digest: str) -> list[str]:
    return sorted(p.name for p in root.rglob(f"{digest}*")) if root.exists() else []


def storage(app: Any) -> BlobStorage:
    return storage_from_config(app.config)


def gc(app: Any, **kw: Any) -> GcReport:
    return collect_garbage(db_session=db.session(), storage=storage(app), older_than=cutoff(), **kw)


def cli(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["blobs-gc", *args])


# --- what is collected ------------------------------------------------------------------


def test_orphans_past_the_grace_go_referenced_and_young_ones_stay(
    app: Any, world: Any, session: Session, order: Any, blob_dir: Path
) -> None:
    orphan = put_old(session, world.technician, world.a.id, 1)
    referenced = put_old(session, world.technician, world.a.id, 2)
    young = put_old(session, world.technician, world.a.id, 3, hours=71)
    photo(session, world, order.mine, referenced)
    assert len(files_of(blob_dir, orphan)) == 2

    result = cli(app)
    assert result.exit_code == 0, result.output
    assert "deleted 1 orphan blobs older than 72 h" in result.output
    assert "2 stored objects" in result.output

    assert rows(session) == {(world.a.id, referenced), (world.a.id, young)}
    assert files_of(blob_dir, orphan) == []
    for kept in (referenced, young):
        assert len(files_of(blob_dir, kept)) == 2
        assert world.dispatcher.get(f"{URL}/{kept}").status_code == 200
    assert world.dispatcher.get(f"{URL}/{orphan}/meta").status_code == 404

    # A shorter grace, from the command line, takes the young one too.
    result = cli(app, "--hours", "70")
    assert result.exit_code == 0 and "deleted 1 orphan" in result.output, result.output
    assert rows(session) == {(world.a.id, referenced)}
    assert files_of(blob_dir, young) == []


def test_dry_run_lists_and_deletes_nothing(
    app: Any, world: Any, session: Session, blob_dir: Path
) -> None:
    orphan = put_old(session, world.technician, world.a.id, 4)
    stale = blob_dir / ".tmp" / "upload-stale"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half a photo")
    os.utime(stale, (0, 0))

    result = cli(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"{world.a.id} {orphan}" in result.output
    assert "dry run: 1 orphan blobs older than 72 h would be deleted" in result.output
    assert "1 stale temp files" in result.output
    assert rows(session) == {(world.a.id, orphan)}
    assert len(files_of(blob_dir, orphan)) == 2 and stale.exists()


def test_grace_hours_must_be_positive(app: Any) -> None:
    result = cli(app, "--hours", "0")
    assert result.exit_code == 2 and "--hours" in result.output


def test_every_tenant_is_collected_and_references_count_per_tenant(
    app: Any, world: Any, session: Session, order: Any
) -> None:
    """The same bytes in two tenants are two blobs: A's photo row does not keep B's copy."""
    data = image_bytes(color=color(5))
    digest = sha(data)
    for api, tenant in ((world.technician, world.a), (world.b_api, world.b)):
        assert upload(api, data).status_code == 201
        age(session, tenant.id, digest, 100)
    b_only = put_old(session, world.b_api, world.b.id, 6)
    photo(session, world, order.mine, digest)

    report = gc(app)
    assert (report.found, report.deleted, report.kept) == (2, 2, 0)
    assert report.objects_removed == 4 and report.failed_keys == []
    assert rows(session) == {(world.a.id, digest)}
    assert world.b_api.get(f"{URL}/{digest}/meta").status_code == 404
    assert world.b_api.get(f"{URL}/{b_only}/meta").status_code == 404


def test_checklist_answers_that_name_a_blob_keep_it(
    app: Any, world: Any, session: Session, order: Any
) -> None:
    """A "photo" checklist item's answer may carry the hash: conservatively a reference."""
    data = image_bytes(color=color(7))
    digest = sha(data)
    for api, tenant in ((world.technician, world.a), (world.b_api, world.b)):
        assert upload(api, data).status_code == 201
        age(session, tenant.id, digest, 100)
    order.mine.checklist_answers = {"door_sensor_photo": [digest], "ok": True}
    session.commit()

    report = gc(app)
    assert report.deleted == 1  # B's copy: tenant A's answers do not reference it
    assert rows(session) == {(world.a.id, digest)}


def test_batches_walk_every_orphan(app: Any, world: Any, session: Session, order: Any) -> None:
    hashes = [put_old(session, world.technician, world.a.id, 10 + i) for i in range(5)]
    photo(session, world, order.mine, sorted(hashes)[1])  # a kept one in the first batch
    report = gc(app, batch_size=2)
    assert (report.found, report.deleted) == (4, 4)
    assert rows(session) == {(world.a.id, sorted(hashes)[1])}


def test_every_column_that_can_name_a_blob_is_a_reference() -> None:
    """A new reference (signature, attachment...) must be registered, or GC deletes it."""
    from server.models import metadata

    registered = {(r.table, r.column) for r in REFERENCES}
    for table, column in registered:
        assert column in metadata.tables[table].c
        assert "tenant_id" in metadata.tables[table].c  # references are per tenant
    hints = ("sha256", "blob", "photo", "image", "signature", "attachment", "file")
    suspects = {
        (table.name, column.name)
        for table in metadata.sorted_tables
        if table.name != "blobs"
        for column in table.columns
        if any(hint in column.name for hint in hints)
    }
    assert suspects <= registered, f"unregistered blob references? {suspects - registered}"


# --- races ------------------------------------------------------------------------------


def test_a_reference_pushed_while_gc_runs_keeps_the_blob(
    app: Any, world: Any, session: Session, order: Any, blob_dir: Path
) -> None:
    data = image_bytes(color=color(20))
    digest = sha(data)
    assert upload(world.technician, data).status_code == 201
    age(session, world.a.id, digest, 100)
    candidates = find_orphans(db_session=db.session(), older_than=cutoff())
    assert [c.sha256 for c in candidates] == [digest]

    # The phone comes back online and pushes the photo row between GC's look and delete.
    t0 = pull(world.technician).json["timestamp"]
    row = {
        "id": str(uuid.uuid4()),
        "work_order_id": str(order.mine.id),
        "occurred_at": DEVICE_NOW,
        "blob_sha256": digest,
    }
    r = push(world.technician, {"work_order_photos": {"created": [row]}}, t0)
    assert r.status_code == 200, r.json

    deleted = delete_orphans(db_session=db.session(), orphans=candidates, older_than=cutoff())
    assert deleted == []  # the DELETE re-checked "still unreferenced"
    assert rows(session) == {(world.a.id, digest)}
    assert len(files_of(blob_dir, digest)) == 2
    assert world.dispatcher.get(f"{URL}/{digest}").status_code == 200


def test_a_photo_of_a_collected_blob_is_refused_until_the_bytes_come_again(
    app: Any, world: Any, session: Session, order: Any, blob_dir: Path
) -> None:
    data = image_bytes(color=color(21))
    digest = sha(data)
    first = upload(world.technician, data)
    assert first.status_code == 201
    age(session, world.a.id, digest, 100)
    assert gc(app).deleted == 1
    assert files_of(blob_dir, digest) == []

    t0 = pull(world.technician).json["timestamp"]
    row = {
        "id": str(uuid.uuid4()),
        "work_order_id": str(order.mine.id),
        "occurred_at": DEVICE_NOW,
        "blob_sha256": digest,
    }
    late = push(world.technician, {"work_order_photos": {"created": [row]}}, t0)
    assert late.status_code == 422 and late.json["code"] == "foreign_or_invalid_rows"
    assert f"work_order_photos/{row['id']}" in late.json["errors"]

    # Same bytes again: stored afresh (201), not mistaken for the collected blob.
    again = upload(world.technician, data)
    assert again.status_code == 201, again.json
    assert len(files_of(blob_dir, digest)) == 2
    assert world.technician.get(f"{URL}/{digest}/thumbnail").status_code == 200
    r = push(world.technician, {"work_order_photos": {"created": [row]}}, t0)
    assert r.status_code == 200, r.json


def test_bytes_reuploaded_after_the_row_went_are_not_deleted(
    app: Any, world: Any, session: Session, blob_dir: Path
) -> None:
    data = image_bytes(color=color(22))
    digest = sha(data)
    assert upload(world.technician, data).status_code == 201
    age(session, world.a.id, digest, 100)
    candidates = find_orphans(db_session=db.session(), older_than=cutoff())
    deleted = delete_orphans(db_session=db.session(), orphans=candidates, older_than=cutoff())
    assert [d.sha256 for d in deleted] == [digest]
    assert len(files_of(blob_dir, digest)) == 2  # rows first; bytes only afterwards

    # An upload of the same bytes lands between the two steps (same keys).
    assert upload(world.technician, data).status_code == 201
    removed, failed = remove_objects(
        db_session=db.session(), storage=storage(app), orphan=deleted[0]
    )
    assert (removed, failed) == (False, [])
    assert len(files_of(blob_dir, digest)) == 2
    assert world.technician.get(f"{URL}/{digest}").status_code == 200


def test_objects_that_cannot_be_removed_are_named_and_fail_the_command(
    app: Any, world: Any, session: Session, monkeypatch: Any
) -> None:
    orphan = put_old(session, world.technician, world.a.id, 23)

    def unplugged(self: LocalStorage, key: str) -> None:
        raise OSError("read-only file system")

    monkeypatch.setattr(LocalStorage, "delete", unplugged)
    result = cli(app)
    assert result.exit_code == 1
    assert "2 stored objects could not be removed" in result.output
    assert f"{world.a.id}/{orphan[:2]}/{orphan}.thumb" in result.output
    assert rows(session) == set()  # the row is gone either way


def test_stale_temp_files_are_swept(app: Any, world: Any, blob_dir: Path) -> None:
    staging = blob_dir / ".tmp"
    staging.mkdir(parents=True)
    stale, fresh = staging / "upload-stale", staging / "upload-fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    old = (utcnow() - dt.timedelta(hours=100)).timestamp()
    os.utime(stale, (old, old))
    result = cli(app)
    assert result.exit_code == 0 and "removed 1 stale temp files" in result.output
    assert not stale.exists() and fresh.exists()


# --- S3 (moto server) ---------------------------------------------------------------------


def test_orphans_are_deleted_from_s3_too(
    app: Any, world: Any, session: Session, order: Any, moto_endpoint: str, s3_bucket: str
) -> None:
    import boto3

    app.config.update(
        BLOB_S3_BUCKET=s3_bucket,
        BLOB_S3_ENDPOINT_URL=moto_endpoint,
        BLOB_S3_REGION="us-east-1",
        BLOB_S3_PREFIX="fsm",
    )
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")

    def keys() -> set[str]:
        listed = client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
        return {o["Key"] for o in listed}

    orphan = put_old(session, world.technician, world.a.id, 30)
    referenced = put_old(session, world.technician, world.a.id, 31)
    photo(session, world, order.mine, referenced)

    def base(digest: str) -> str:
        return f"fsm/{world.a.id}/{digest[:2]}/{digest}"

    assert keys() == {
        base(orphan),
        f"{base(orphan)}.thumb",
        base(referenced),
        f"{base(referenced)}.thumb",
    }
    dry = cli(app, "--dry-run")
    assert dry.exit_code == 0 and orphan in dry.output and len(keys()) == 4

    result = cli(app)
    assert result.exit_code == 0, result.output
    assert keys() == {base(referenced), f"{base(referenced)}.thumb"}
    assert rows(session) == {(world.a.id, referenced)}

    # Re-uploading the collected bytes writes them again (S3 holds nothing stale to trust).
    data = image_bytes(color=color(30))
    assert upload(world.technician, data).status_code == 201
    assert {base(orphan), f"{base(orphan)}.thumb"} <= keys()
    assert world.technician.get(f"{URL}/{orphan}").status_code == 200


# --- PostgreSQL: locks held by other sessions -----------------------------------------------


@pytest.mark.postgis
@pytest.mark.skipif(not IS_POSTGRES, reason="row and advisory locks are PostgreSQL's")
def test_gc_skips_blobs_an_upload_or_another_collector_holds(app: Any, tmp_path: Path) -> None:
    engine = db.engine
    assert engine is not None
    store = LocalStorage(tmp_path)
    hashes = [sha(bytes([i])) for i in range(3)]
    with app.app_context(), Session(engine) as s:
        s.info["system"] = True
        tenant_id = f.make_tenant(s).id
        for digest in hashes:
            key = f"{tenant_id}/{digest[:2]}/{digest}"
            store.put(key, b"bytes", content_type="image/jpeg")
            s.add(
                Blob(
                    tenant_id=tenant_id,
                    sha256=digest,
                    content_type="image/jpeg",
                    size_bytes=5,
                    storage_key=key,
                    thumbnail_key=None,
                    created_at=utcnow() - dt.timedelta(hours=100),
                )
            )
        s.commit()
    uploading, collecting, free = hashes
    try:
        with engine.connect() as holder:
            # An upload of the first blob is in flight; another collector has the second.
            holder.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(tenant_id, uploading)}
            )
            holder.execute(
                text("SELECT 1 FROM blobs WHERE tenant_id = :t AND sha256 = :h FOR UPDATE"),
                {"t": tenant_id, "h": collecting},
            )
            with engine.connect() as conn:
                conn.exec_driver_sql("SET lock_timeout = '5s'")  # waiting would be the bug
                conn.commit()
                try:
                    with app.app_context(), Session(bind=conn) as s:
                        report = collect_garbage(db_session=s, storage=store, older_than=cutoff())
                finally:
                    conn.invalidate()  # not back into the pool with a changed setting
            holder.rollback()
        assert (report.found, report.deleted, report.kept) == (3, 1, 2)
        with Session(engine) as s:
            s.info["system"] = True
            left = set(s.scalars(select(Blob.sha256).where(Blob.tenant_id == tenant_id)))
        assert left == {uploading, collecting}
        assert store.exists(f"{tenant_id}/{uploading[:2]}/{uploading}")
        assert not store.exists(f"{tenant_id}/{free[:2]}/{free}")
    finally:
        with app.app_context(), Session(engine) as s:
            s.info["system"] = True
            from server.tenants.models import Tenant

            s.execute(delete(Blob).where(Blob.tenant_id == tenant_id))
            s.execute(delete(Tenant).where(Tenant.id == tenant_id))
            s.commit()
