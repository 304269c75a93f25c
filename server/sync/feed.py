"""The change feed: a sequencer that numbers committed changes, and the per-technician pull.

Why number at read time: on PostgreSQL a sequence value taken while writing can become
visible after a larger one (transactions commit out of order), so ``seq > cursor`` would
skip rows. Here writers leave ``seq`` empty; the sequencer, serialised by a row lock on the
tenant's counter, numbers only rows that are already committed. A late committer simply
gets a later number, so a cursor can never pass over it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select, text
from sqlalchemy.orm import Session

from server.field.models import CheckIn, StatusEvent, WorkOrderNote, WorkOrderPhoto
from server.parts.models import Part, PartUsage
from server.sync.models import SyncChange, SyncCounter, SyncScopeExit
from server.sync.wire import MODELS, to_wire
from server.work_orders.models import WorkOrder
from server.work_orders.scope import assigned_to
from sync.policy import CATALOGUE, CHILDREN_OF_ORDERS, POLICIES, REFERENCE

CHILD_MODELS: dict[str, Any] = {
    "work_order_notes": WorkOrderNote,
    "status_events": StatusEvent,
    "check_ins": CheckIn,
    "work_order_photos": WorkOrderPhoto,
    "part_usages": PartUsage,
}
FINISHED = ("closed", "cancelled")


def sequence(db_session: Session, tenant_id: uuid.UUID) -> int:
    """Number every committed, unnumbered change of the tenant; return the high-water mark.

    The caller commits (the pull commits it together with its device bookkeeping); the
    counter's row lock is held until then, which is what serialises sequencers.
    """
    counter = db_session.scalar(
        select(SyncCounter).where(SyncCounter.tenant_id == tenant_id).with_for_update()
    )
    if counter is None:
        db_session.add(SyncCounter(tenant_id=tenant_id, last_seq=0, pruned_through=0))
        db_session.flush()
        counter = db_session.scalar(
            select(SyncCounter).where(SyncCounter.tenant_id == tenant_id).with_for_update()
        )
    assert counter is not None
    last = counter.last_seq
    # Uuid columns are 32-char hex on SQLite; the raw statement binds the stored form.
    sqlite = db_session.get_bind().dialect.name == "sqlite"
    for table in ("sync_changes", "sync_scope_exits"):
        # One statement: its snapshot decides which committed rows get numbers now.
        result = db_session.execute(
            text(
                f"UPDATE {table} SET seq = :base + numbered.rn "  # noqa: S608 - fixed names
                f"FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM {table} "
                f"WHERE tenant_id = :tenant AND seq IS NULL) AS numbered "
                f"WHERE {table}.id = numbered.id"
            ),
            {
                "base": last,
                "tenant": tenant_id.hex if sqlite else tenant_id,
            },
        )
        last += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    counter.last_seq = last
    db_session.flush()
    return last


@dataclass
class Changes:
    """A WatermelonDB ``changes`` object under construction."""

    tables: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            t: {"created": {}, "updated": {}, "deleted": set()} for t in POLICIES
        }
    )

    def put(self, table: str, bucket: str, obj: Any) -> None:
        """Add a row to created/updated (created wins over updated for the same id)."""
        record = to_wire(table, obj)
        slot = self.tables[table]
        if bucket == "updated" and record["id"] in slot["created"]:
            return
        if bucket == "created":
            slot["updated"].pop(record["id"], None)
        slot[bucket][record["id"]] = record

    def delete(self, table: str, row_id: uuid.UUID | str) -> None:
        """Tell the device to drop a row."""
        self.tables[table]["deleted"].add(str(row_id))

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready changes object (stable order, for golden files)."""
        return {
            table: {
                "created": sorted(slot["created"].values(), key=lambda r: r["id"]),
                "updated": sorted(slot["updated"].values(), key=lambda r: r["id"]),
                "deleted": sorted(slot["deleted"]),
            }
            for table, slot in self.tables.items()
        }


def _scope(db_session: Session, technician_id: uuid.UUID, history_days: int) -> set[uuid.UUID]:
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=history_days)
    stmt = select(WorkOrder.id).where(
        assigned_to(technician_id),
        or_(WorkOrder.status.not_in(FINISHED), WorkOrder.updated_at >= cutoff),
    )
    return set(db_session.scalars(stmt))


RefRow = tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]


def _ref_rows(db_session: Session, order_ids: set[uuid.UUID]) -> dict[uuid.UUID, RefRow]:
    """Customer, site and equipment of each order, in one query."""
    if not order_ids:
        return {}
    rows = db_session.execute(
        select(
            WorkOrder.id, WorkOrder.customer_id, WorkOrder.site_id, WorkOrder.equipment_id
        ).where(WorkOrder.id.in_(order_ids))
    )
    return {order_id: (customer, site, unit) for order_id, customer, site, unit in rows}


def _refs(
    ref_rows: dict[uuid.UUID, RefRow], order_ids: set[uuid.UUID]
) -> dict[str, set[uuid.UUID]]:
    """Reference rows the given orders point at, per table."""
    refs: dict[str, set[uuid.UUID]] = {t: set() for t in REFERENCE}
    for order_id in order_ids & set(ref_rows):
        customer_id, site_id, equipment_id = ref_rows[order_id]
        refs["customers"].add(customer_id)
        refs["sites"].add(site_id)
        if equipment_id:
            refs["equipment"].add(equipment_id)
    return refs


def _load(db_session: Session, table: str, ids: set[uuid.UUID]) -> list[Any]:
    if not ids:
        return []
    model = MODELS[table]
    return list(db_session.scalars(select(model).where(model.id.in_(ids))))


def _children(db_session: Session, order_ids: set[uuid.UUID]) -> dict[str, list[Any]]:
    if not order_ids:
        return {t: [] for t in CHILDREN_OF_ORDERS}
    return {
        table: list(db_session.scalars(select(model).where(model.work_order_id.in_(order_ids))))
        for table, model in CHILD_MODELS.items()
    }


def full(db_session: Session, technician_id: uuid.UUID, history_days: int) -> Changes:
    """Everything the technician's device should hold, all as created."""
    changes = Changes()
    scope = _scope(db_session, technician_id, history_days)
    for order in _load(db_session, "work_orders", scope):
        changes.put("work_orders", "created", order)
    for table, rows in _children(db_session, scope).items():
        for row in rows:
            changes.put(table, "created", row)
    for table, ids in _refs(_ref_rows(db_session, scope), scope).items():
        for row in _load(db_session, table, ids):
            changes.put(table, "created", row)
    for part in db_session.scalars(select(Part).where(Part.active.is_(True))):
        changes.put("parts", "created", part)
    return changes


def incremental(
    db_session: Session,
    technician_id: uuid.UUID,
    device_id: str,
    cursor: int,
    upto: int,
    history_days: int,
) -> Changes:
    """What changed for this technician in (cursor, upto]."""
    changes = Changes()
    scope_now = _scope(db_session, technician_id, history_days)
    moves = db_session.execute(
        select(SyncScopeExit.work_order_id, SyncScopeExit.entered)
        .where(
            SyncScopeExit.technician_id == technician_id,
            SyncScopeExit.seq > cursor,
            SyncScopeExit.seq <= upto,
        )
        .order_by(SyncScopeExit.seq)
    ).all()
    first_move: dict[uuid.UUID, bool] = {}
    for order_id, entered in moves:
        first_move.setdefault(order_id, entered)
    # Membership at the cursor, replayed backwards from now through the moves since.
    scope_then = {o for o in scope_now if first_move.get(o) is not True}
    scope_then |= {o for o, entered in first_move.items() if entered is False}
    arrived, left = scope_now - scope_then, scope_then - scope_now

    log: dict[tuple[str, uuid.UUID], list[SyncChange]] = defaultdict(list)
    for change in db_session.scalars(
        select(SyncChange).where(SyncChange.seq > cursor, SyncChange.seq <= upto)
    ):
        log[(change.table_name, change.row_id)].append(change)

    def bucket(table: str, row_id: uuid.UUID) -> str | None:
        entries = log.get((table, row_id))
        if not entries:
            return None
        inserted = any(e.op == "insert" for e in entries)
        mine = all(e.origin_device == device_id for e in entries)
        # Rows this device created come back as updates, never as creates (WatermelonDB #649).
        return "updated" if mine or not inserted else "created"

    for order in _load(db_session, "work_orders", arrived):
        changes.put("work_orders", "created", order)
    for table, rows in _children(db_session, arrived).items():
        for row in rows:
            changes.put(table, "created", row)
    for order_id in left:
        changes.delete("work_orders", order_id)
    for table, rows in _children(db_session, left).items():
        for row in rows:
            changes.delete(table, row.id)

    kept = scope_now & scope_then
    changed_orders = {row_id for (table, row_id) in log if table == "work_orders"} & kept
    for order in _load(db_session, "work_orders", changed_orders):
        changes.put("work_orders", bucket("work_orders", order.id) or "updated", order)
    # Field records this device pushed for orders it no longer holds (work done offline
    # before it learned of a reassignment) are kept on the server but leave the device.
    for table, model in CHILD_MODELS.items():
        mine = {
            row_id
            for (t, row_id), entries in log.items()
            if t == table and any(e.origin_device == device_id for e in entries)
        }
        if not mine:
            continue
        owned = db_session.execute(
            select(model.id, model.work_order_id).where(model.id.in_(mine))
        ).all()
        for row_id, order_id in owned:
            if order_id not in scope_now:
                changes.delete(table, row_id)

    # Only rows named in the log are read: a pull costs what changed, not what exists.
    for table, model in CHILD_MODELS.items():
        changed_ids = {row_id for (t, row_id) in log if t == table}
        if not changed_ids or not kept:
            continue
        changed_rows = db_session.scalars(
            select(model).where(model.id.in_(changed_ids), model.work_order_id.in_(kept))
        )
        for row in changed_rows:
            which = bucket(table, row.id)
            if which:
                changes.put(table, which, row)

    ref_rows = _ref_rows(db_session, scope_now | scope_then)
    refs_now, refs_then = _refs(ref_rows, scope_now), _refs(ref_rows, scope_then)
    for table in REFERENCE:
        now_ids, then_ids = refs_now[table], refs_then[table]
        for row in _load(db_session, table, now_ids - then_ids):
            changes.put(table, "created", row)
        for row_id in then_ids - now_ids:
            changes.delete(table, row_id)
        changed = {row_id for (t, row_id) in log if t == table} & now_ids & then_ids
        for row in _load(db_session, table, changed):
            changes.put(table, "updated", row)
    for table in CATALOGUE:
        ids = {row_id for (t, row_id) in log if t == table}
        for row in _load(db_session, table, ids):
            if row.active:
                changes.put(table, bucket(table, row.id) or "updated", row)
            else:
                changes.delete(table, row.id)
        for (t, row_id), entries in log.items():
            if t == table and any(e.op == "delete" for e in entries):
                changes.delete(table, row_id)
    return changes


def prune(db_session: Session, tenant_id: uuid.UUID, older_than: dt.datetime) -> int:
    """Drop numbered change-log entries older than the window; returns how many.

    Deletes are kept (they are rare, and a late replay of a deleted append-only row must
    still be recognised). Cursors at or below the highest pruned number get a full
    replacement sync from then on.
    """
    counter = db_session.scalar(
        select(SyncCounter).where(SyncCounter.tenant_id == tenant_id).with_for_update()
    )
    if counter is None:
        return 0
    doomed = select(SyncChange.id, SyncChange.seq).where(
        SyncChange.tenant_id == tenant_id,
        SyncChange.seq.is_not(None),
        SyncChange.changed_at < older_than,
        SyncChange.op != "delete",
    )
    rows = db_session.execute(doomed).all()
    if not rows:
        db_session.rollback()
        return 0
    highest = max(seq for _, seq in rows)
    ids = [ident for ident, _ in rows]
    for start in range(0, len(ids), 1000):
        db_session.execute(delete(SyncChange).where(SyncChange.id.in_(ids[start : start + 1000])))
    db_session.execute(
        delete(SyncScopeExit).where(
            SyncScopeExit.tenant_id == tenant_id,
            SyncScopeExit.seq.is_not(None),
            SyncScopeExit.seq <= highest,
        )
    )
    counter.pruned_through = max(counter.pruned_through, highest)
    db_session.commit()
    return len(ids)
