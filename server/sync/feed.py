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
from server.kb.models import KbArticle
from server.organization.models import Skill
from server.parts.models import PartUsage
from server.stock.models import StockBalance, StockLocation
from server.sync.changelog import SKILLS_LOG
from server.sync.models import SyncChange, SyncCounter, SyncDevice, SyncScopeExit
from server.sync.wire import MODELS, to_wire
from server.technicians.models import TechnicianSkill
from server.work_orders.models import WorkOrder
from server.work_orders.scope import assigned_to
from sync.policy import (
    CATALOGUE,
    CHILDREN_OF_ORDERS,
    POLICIES,
    REFERENCE,
    SCHEMA_VERSION,
    Migration,
    tables_at,
)

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
    """A WatermelonDB ``changes`` object under construction, for one app schema version."""

    version: int = SCHEMA_VERSION
    tables: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            t: {"created": {}, "updated": {}, "deleted": set()} for t in POLICIES
        }
    )

    def wants(self, table: str) -> bool:
        """Whether the app's schema has this table (older apps never see newer tables)."""
        return POLICIES[table].since <= self.version

    def put(self, table: str, bucket: str, obj: Any) -> None:
        """Add a row to created/updated (created wins over updated for the same id)."""
        self.put_record(table, bucket, to_wire(table, obj))

    def put_record(self, table: str, bucket: str, record: dict[str, Any]) -> None:
        """Add an already serialised row (created wins over updated for the same id)."""
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

        columns = self._columns

        def rows(records: dict[str, Any], keep: set[str]) -> list[dict[str, Any]]:
            return [
                {k: v for k, v in record.items() if k in keep}
                for _, record in sorted(records.items())
            ]

        return {
            table: {
                "created": rows(slot["created"], columns[table]),
                "updated": rows(slot["updated"], columns[table]),
                # A row sent in full is not also deleted (WatermelonDB wants one bucket per
                # id); keeping it is the side that cannot lose an unpushed edit.
                "deleted": sorted(slot["deleted"] - set(slot["created"]) - set(slot["updated"])),
            }
            for table, slot in self.tables.items()
            if table in columns
        }

    @property
    def _columns(self) -> dict[str, set[str]]:
        return {
            name: {"id", *POLICIES[name].columns_at(self.version)}
            for name in tables_at(self.version)
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


def _leaves(technician_id: uuid.UUID) -> Any:
    """Scope exits of the technician (not the per-device drop entries)."""
    return select(SyncScopeExit.work_order_id).where(
        SyncScopeExit.technician_id == technician_id,
        SyncScopeExit.device_id.is_(None),
        SyncScopeExit.entered.is_(False),
    )


def held_leaving(
    db_session: Session,
    technician_id: uuid.UUID,
    settled_through: int | None,
    scope_now: set[uuid.UUID],
) -> set[uuid.UUID]:
    """Orders that left the technician but that this device still holds (not dropped yet)."""
    if settled_through is None:
        return set()
    stmt = _leaves(technician_id).where(
        or_(SyncScopeExit.seq.is_(None), SyncScopeExit.seq > settled_through)
    )
    return set(db_session.scalars(stmt)) - scope_now


def settle(
    db_session: Session,
    *,
    device: SyncDevice,
    technician_id: uuid.UUID,
    through: int,
    history_days: int,
) -> int:
    """Everything the device did up to ``through`` is on the server: let it drop what left.

    Called after a committed push (its cursor) and when the app reports that a sync had
    nothing to push. Orders that left the technician's scope at or before ``through`` were
    sent as updated (reassigned); now a per-device entry tells the device to delete them.
    Returns the number of drops written.
    """
    start = device.settled_through or 0
    if through <= start:
        return 0
    left = set(
        db_session.scalars(
            _leaves(technician_id).where(SyncScopeExit.seq > start, SyncScopeExit.seq <= through)
        )
    )
    # An order that came back since is the device's again: nothing to drop.
    doomed = left - _scope(db_session, technician_id, history_days) if left else set()
    for order_id in sorted(doomed):
        db_session.add(
            SyncScopeExit(
                tenant_id=device.tenant_id,
                technician_id=technician_id,
                work_order_id=order_id,
                entered=False,
                device_id=device.device_id,
            )
        )
    device.settled_through = through
    return len(doomed)


def _skill_codes(db_session: Session, technician_id: uuid.UUID) -> set[str]:
    stmt = (
        select(Skill.code)
        .join(TechnicianSkill, TechnicianSkill.skill_id == Skill.id)
        .where(TechnicianSkill.technician_id == technician_id)
    )
    return set(db_session.scalars(stmt))


def _for_skills(article: KbArticle, codes: set[str]) -> bool:
    """Published, and for everyone or for one of these skill codes."""
    return bool(article.published) and (
        not article.skill_codes or bool(codes & set(article.skill_codes))
    )


def _van_balances(technician_id: uuid.UUID, ids: set[uuid.UUID] | None = None) -> Any:
    """The technician's own van stock (balances of their van location)."""
    stmt = (
        select(StockBalance)
        .join(StockLocation, StockLocation.id == StockBalance.location_id)
        .where(StockLocation.technician_id == technician_id)
    )
    return stmt if ids is None else stmt.where(StockBalance.id.in_(ids))


def _catalogue(db_session: Session, changes: Changes, technician_id: uuid.UUID) -> None:
    """Every active catalogue row and the technician's KB articles, as created."""
    for table in CATALOGUE:
        if changes.wants(table):
            model = MODELS[table]
            for row in db_session.scalars(select(model).where(model.active.is_(True))):
                changes.put(table, "created", row)
    if changes.wants("van_stock"):
        for balance in db_session.scalars(_van_balances(technician_id)):
            changes.put("van_stock", "created", balance)
    if changes.wants("kb_articles"):
        codes = _skill_codes(db_session, technician_id)
        for article in db_session.scalars(select(KbArticle).where(KbArticle.published.is_(True))):
            if _for_skills(article, codes):
                changes.put("kb_articles", "created", article)


def full(
    db_session: Session,
    technician_id: uuid.UUID,
    history_days: int,
    *,
    settled_through: int | None = None,
    version: int = SCHEMA_VERSION,
) -> Changes:
    """Everything the technician's device should hold, all as created.

    With ``settled_through`` (a replacement sync of a known device), orders that left the
    technician but may still hold unpushed edits on that device are kept: a replacement
    destroys every local record it does not name.
    """
    changes = Changes(version)
    scope = _scope(db_session, technician_id, history_days)
    for order in _load(
        db_session, "work_orders", held_leaving(db_session, technician_id, settled_through, scope)
    ):
        changes.put("work_orders", "created", order)
    for order in _load(db_session, "work_orders", scope):
        changes.put("work_orders", "created", order)
    for table, rows in _children(db_session, scope).items():
        for row in rows:
            changes.put(table, "created", row)
    for table, ids in _refs(_ref_rows(db_session, scope), scope).items():
        for row in _load(db_session, table, ids):
            changes.put(table, "created", row)
    _catalogue(db_session, changes, technician_id)
    return changes


def incremental(
    db_session: Session,
    technician_id: uuid.UUID,
    device: SyncDevice,
    cursor: int,
    upto: int,
    history_days: int,
    *,
    version: int = SCHEMA_VERSION,
) -> Changes:
    """What changed for this technician in (cursor, upto]."""
    changes = Changes(version)
    device_id = device.device_id
    scope_now = _scope(db_session, technician_id, history_days)
    window = (SyncScopeExit.seq > cursor, SyncScopeExit.seq <= upto)
    moves = db_session.execute(
        select(SyncScopeExit.work_order_id, SyncScopeExit.entered)
        .where(
            SyncScopeExit.technician_id == technician_id,
            SyncScopeExit.device_id.is_(None),
            *window,
        )
        .order_by(SyncScopeExit.seq)
    ).all()
    drops = (
        set(
            db_session.scalars(
                select(SyncScopeExit.work_order_id).where(
                    SyncScopeExit.technician_id == technician_id,
                    SyncScopeExit.device_id == device_id,
                    *window,
                )
            )
        )
        - scope_now
    )
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
        if any(e.op == "restore" and e.origin_device == device_id for e in entries):
            return "created"  # this device deleted its copy; the server refused the delete
        inserted = any(e.op == "insert" for e in entries)
        mine = all(e.origin_device == device_id for e in entries)
        # Rows this device created come back as updates, never as creates (WatermelonDB #649).
        return "updated" if mine or not inserted else "created"

    for order in _load(db_session, "work_orders", arrived):
        changes.put("work_orders", "created", order)
    for table, rows in _children(db_session, arrived).items():
        for row in rows:
            changes.put(table, "created", row)
    # Reassigned away: first as updated (WatermelonDB would destroy unpushed edits along
    # with a deleted record); the delete follows once the device has settled (see settle).
    held = held_leaving(db_session, technician_id, device.settled_through, scope_now)
    holds = scope_now | held
    leaving = {order.id: order for order in _load(db_session, "work_orders", left)}
    for order in leaving.values():
        changes.put("work_orders", "updated", order)
    for order_id in (left - set(leaving)) | drops:
        changes.delete("work_orders", order_id)  # deleted by the office, or dropped now
    for table, rows in _children(db_session, drops).items():
        for row in rows:
            changes.delete(table, row.id)
    # Deleted rows of orders the device holds or held (the order itself may be gone).
    for (table, row_id), entries in log.items():
        deleted = [e for e in entries if e.op == "delete"]
        if not deleted or table == "work_orders":
            continue
        if table in REFERENCE or table in CATALOGUE:
            changes.delete(table, row_id)  # shared reference data; an unknown id is ignored
        elif deleted[-1].work_order_id in scope_then | scope_now:
            changes.delete(table, row_id)

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
            if order_id not in holds or order_id in drops:
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

    # References stay while the device still holds a reassigned order, and go with its drop.
    ref_rows = _ref_rows(db_session, holds | scope_then | drops)
    refs_now, refs_then = _refs(ref_rows, holds), _refs(ref_rows, scope_then | held | drops)
    for table in REFERENCE:
        now_ids, then_ids = refs_now[table], refs_then[table]
        for row in _load(db_session, table, now_ids - then_ids):
            changes.put(table, "created", row)
        for row_id in then_ids - now_ids:
            changes.delete(table, row_id)
        changed = {row_id for (t, row_id) in log if t == table} & now_ids & then_ids
        for row in _load(db_session, table, changed):
            changes.put(table, bucket(table, row.id) or "updated", row)

    def arrived_bucket(table: str, row_id: uuid.UUID, switch: str) -> str:
        # A row that just became visible (activated, published) is new to every device.
        entries = log[(table, row_id)]
        if any(switch in (e.columns or ()) for e in entries if e.op == "update"):
            return "created"
        return bucket(table, row_id) or "updated"

    for table in CATALOGUE:
        if not changes.wants(table):
            continue
        ids = {row_id for (t, row_id) in log if t == table}
        for row in _load(db_session, table, ids):
            if row.active:
                changes.put(table, arrived_bucket(table, row.id, "active"), row)
            else:
                changes.delete(table, row.id)
    if changes.wants("kb_articles"):
        _kb_changes(db_session, changes, technician_id, log, arrived_bucket)
    van_ids = {row_id for (t, row_id) in log if t == "van_stock"}
    if van_ids and changes.wants("van_stock"):
        for balance in db_session.scalars(_van_balances(technician_id, van_ids)):
            # The server makes these rows, never a device: a new one is new everywhere.
            new = any(e.op == "insert" for e in log[("van_stock", balance.id)])
            changes.put("van_stock", "created" if new else "updated", balance)
    return changes


def _kb_changes(
    db_session: Session,
    changes: Changes,
    technician_id: uuid.UUID,
    log: dict[tuple[str, uuid.UUID], list[SyncChange]],
    arrived_bucket: Any,
) -> None:
    """Edited articles, and whole sets gained or lost when the technician's skills changed."""
    skill_log = sorted(log.get((SKILLS_LOG, technician_id), []), key=lambda e: e.seq or 0)
    edited = {row_id for (t, row_id) in log if t == "kb_articles"}
    if not skill_log and not edited:
        return  # the common pull: no query at all
    codes_now = _skill_codes(db_session, technician_id)
    first: dict[str, str] = {}
    for entry in skill_log:
        first.setdefault(str((entry.columns or [""])[0]), entry.op)
    codes_then = {c for c in codes_now if first.get(c) != "insert"}
    codes_then |= {c for c, op in first.items() if op == "delete"}
    if codes_then != codes_now:
        stmt = select(KbArticle).where(or_(KbArticle.published.is_(True), KbArticle.id.in_(edited)))
    elif edited:
        stmt = select(KbArticle).where(KbArticle.id.in_(edited))
    else:
        return
    for article in db_session.scalars(stmt):
        now, then = _for_skills(article, codes_now), _for_skills(article, codes_then)
        if not now:
            if then or article.id in edited:
                changes.delete("kb_articles", article.id)
        elif article.id in edited:
            which = arrived_bucket("kb_articles", article.id, "published")
            changes.put("kb_articles", "created" if not then else which, article)
        elif not then:
            changes.put("kb_articles", "created", article)


def migrate(
    db_session: Session,
    changes: Changes,
    *,
    technician_id: uuid.UUID,
    device: SyncDevice,
    migration: Migration,
    history_days: int,
) -> None:
    """Add what an upgraded app's migration needs: every row of the tables it just created
    (as created) and every row of the tables that gained columns (as updated, in full)."""
    if not migration.tables and not migration.columns:
        return
    everything = full(
        db_session,
        technician_id,
        history_days,
        settled_through=device.settled_through,
        version=changes.version,
    )
    for table in migration.tables:
        for record in everything.tables[table]["created"].values():
            changes.put_record(table, "created", record)
    for table in migration.columns:
        for record in everything.tables[table]["created"].values():
            changes.put_record(table, "updated", record)


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
