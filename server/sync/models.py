"""Sync bookkeeping: the change log, scope exits, idempotent pushes, the conflict log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, JSONType, TenantScoped, utcnow


class SyncChange(TenantScoped, Base):
    """One committed write to a synced row: which columns, by whom; ``seq`` comes later.

    Writers never take a lock for ordering. The sequencer stamps ``seq`` on committed
    rows under a lock at pull time, so a transaction that commits late simply receives
    a later number and no cursor can skip it.
    """

    __tablename__ = "sync_changes"
    __table_args__ = (
        Index(
            "ix_sync_changes_unsequenced",
            "tenant_id",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
        Index("ix_sync_changes_tenant_seq", "tenant_id", "seq"),
        Index("ix_sync_changes_row", "table_name", "row_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    seq: Mapped[int | None] = mapped_column(BigInteger)
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[uuid.UUID]
    op: Mapped[str] = mapped_column(String(8))  # "insert" | "update" | "delete"
    columns: Mapped[list[Any]] = mapped_column(default=list)
    origin_device: Mapped[str | None] = mapped_column(String(128))
    # The order the row belongs to (itself for orders): routes deletes of child rows.
    work_order_id: Mapped[uuid.UUID | None]
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SyncScopeExit(TenantScoped, Base):
    """A work order entered or left a technician's scope, or one device may now drop it.

    Leaving is two-step, because WatermelonDB destroys a deleted record even when it holds
    unpushed edits: the device first receives the order as updated (reassigned), and only
    once it has settled (pushed, or reported nothing to push) after that does a per-device
    entry (``device_id`` set) tell it to delete the order.
    """

    __tablename__ = "sync_scope_exits"
    __table_args__ = (Index("ix_sync_scope_exits_tech_seq", "technician_id", "seq"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    seq: Mapped[int | None] = mapped_column(BigInteger)
    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE")
    )
    work_order_id: Mapped[uuid.UUID]
    entered: Mapped[bool] = mapped_column(default=False)
    device_id: Mapped[str | None] = mapped_column(String(128))
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SyncCounter(TenantScoped, Base):
    """Per-tenant high-water mark of the sequencer."""

    __tablename__ = "sync_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Change-log entries at or below this were pruned: older cursors need a full resync.
    pruned_through: Mapped[int] = mapped_column(BigInteger, default=0)


class SyncPush(TenantScoped, Base):
    """A completed push, kept so a replay with the same Idempotency-Key gets the same answer."""

    __tablename__ = "sync_pushes"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "idempotency_key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SyncConflict(TenantScoped, Base):
    """A value the merge policy overwrote or refused, kept for a dispatcher to review."""

    __tablename__ = "sync_conflicts"
    __table_args__ = (Index("ix_sync_conflicts_row", "table_name", "row_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[uuid.UUID]
    column: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    kept: Mapped[str] = mapped_column(String(8))  # "server" | "device"
    server_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    device_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    device_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class SyncDevice(TenantScoped, Base):
    """One app install, and the cursor its unpushed local edits were made against.

    WatermelonDB pulls before it pushes, and a pull keeps locally edited columns; so the
    cursor sent with a push is newer than the state those edits were based on. The
    conflict base is therefore the cursor of the first pull after the last committed push.
    """

    __tablename__ = "sync_devices"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "device_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(128))
    conflict_base: Mapped[int | None] = mapped_column(BigInteger)
    base_set: Mapped[bool] = mapped_column(default=False)
    last_cursor: Mapped[int | None] = mapped_column(BigInteger)
    # Everything this install did before this cursor is on the server (see feed.settle).
    settled_through: Mapped[int | None] = mapped_column(BigInteger)
    # The install sends X-Sync-Clean-Through on pulls made with nothing unpushed: then only
    # such a pull settles it (a committed push does not: the app may have edited since).
    reports_clean: Mapped[bool] = mapped_column(default=False)
    last_pull_at: Mapped[dt.datetime | None]
    last_push_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
