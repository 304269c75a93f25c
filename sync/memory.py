"""An in-memory ``Store``: the executable specification of the storage semantics.

Tests use it directly; the SQL store in ``server/`` must behave the same way:

- Rows hold device-visible wire values (timestamps as epoch milliseconds, JSON as strings).
- Every write appends a change-log entry ``(seq, table, row_id, columns, origin_device)``
  with a strictly increasing ``seq``: office writes and touches have ``origin_device``
  None, writes made on behalf of a pushing device carry its id. ``changed_since`` unions
  the columns of entries after a cursor that came from anyone except the asking device.
- A touch changes no column: it only makes the row show up in the next pull. A restore is
  a touch for a device whose delete was refused: that device gets the row as created.
- A delete removes the row and leaves a tombstone (``was_deleted``); it is never revived
  by a push.
- Devices may write rows of work orders they are, or were, assigned to (lead or helper);
  a former assignee keeps the right to record the work done offline before a
  reassignment reached the phone, and the lifecycle then decides its status events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sync.engine import ConflictEntry, PushContext
from sync.policy import CHILDREN_OF_ORDERS, POLICIES
from workflow.lifecycle import Effect, Role, Status, TransitionContext, decide

if TYPE_CHECKING:
    from sync.engine import Store

ORDERS = "work_orders"
# Columns the server stamps on an append-only row; a device never supplies them.
STAMPED = ("created_by_id", "device_id", "recorded_at", "technician_id")

Changes = dict[str, dict[str, list[Any]]]


@dataclass(frozen=True)
class Change:
    """One change-log entry: which columns of a row changed, and on whose behalf."""

    seq: int
    table: str
    row_id: str
    columns: frozenset[str]
    origin_device: str | None
    op: str  # "insert" | "update" | "touch" | "restore" | "delete"


@dataclass(frozen=True)
class LoggedConflict:
    """A conflict-log entry together with the pushing user and device."""

    entry: ConflictEntry
    user_id: str
    device_id: str


def assignees(order: Mapping[str, Any]) -> set[str]:
    """The lead technician and helpers of a work-order row (helper_ids is a JSON list)."""
    people: set[str] = set()
    lead = order.get("lead_technician_id")
    if isinstance(lead, str):
        people.add(lead)
    raw = order.get("helper_ids")
    if isinstance(raw, str):
        try:
            helpers = json.loads(raw)
        except ValueError:
            helpers = []
        if isinstance(helpers, list):
            people.update(h for h in helpers if isinstance(h, str))
    return people


class MemoryStore:
    """Rows, tombstones, change log, conflict log and status outcomes, all in memory."""

    def __init__(self, *, now_ms: int = 1_700_000_000_000) -> None:
        self.rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in POLICIES}
        self.tombstones: dict[str, dict[str, int]] = {name: {} for name in POLICIES}
        self.log: list[Change] = []
        self.conflicts: list[LoggedConflict] = []
        self.outcomes: dict[str, tuple[str, str | None]] = {}
        self.now_ms = now_ms  # the server clock used for recorded_at stamps
        self._seq = 0
        self._by_row: dict[tuple[str, str], list[Change]] = {}
        self._assigned_ever: dict[str, set[str]] = {}

    # -- office side and bookkeeping -------------------------------------------------

    def _record(
        self,
        table: str,
        row_id: str,
        columns: Iterable[str],
        origin: str | None,
        op: str,
    ) -> int:
        self._seq += 1
        change = Change(self._seq, table, row_id, frozenset(columns), origin, op)
        self.log.append(change)
        self._by_row.setdefault((table, row_id), []).append(change)
        if table == ORDERS and op != "delete":
            self._assigned_ever.setdefault(row_id, set()).update(
                assignees(self.rows[table][row_id])
            )
        return self._seq

    def server_write(self, table: str, row_id: str, values: Mapping[str, Any]) -> int:
        """Simulate an office write (insert when absent); returns its change-log seq."""
        policy = POLICIES[table]
        unknown = set(values) - set(policy.columns)
        if unknown:
            raise KeyError(f"unknown columns for {table}: {sorted(unknown)}")
        rows = self.rows[table]
        if row_id in rows:
            rows[row_id].update(values)
            return self._record(table, row_id, values, None, "update")
        rows[row_id] = {"id": row_id, **{c: None for c in policy.columns}, **values}
        self.tombstones[table].pop(row_id, None)
        return self._record(table, row_id, policy.columns, None, "insert")

    def server_delete(self, table: str, row_id: str) -> int:
        """Simulate an office delete: the row goes, a tombstone stays; returns its seq."""
        del self.rows[table][row_id]
        seq = self._record(table, row_id, (), None, "delete")
        self.tombstones[table][row_id] = seq
        return seq

    def current_seq(self) -> int:
        """The newest change-log seq: the timestamp a pull taken now would return."""
        return self._seq

    def pull(self, last_pulled_at: int | None, device_id: str | None = None) -> Changes:
        """Every row changed after the cursor (unscoped), WatermelonDB-shaped.

        Rows another origin inserted after the cursor come as ``created``; the device's
        own inserts come as ``updated`` (WatermelonDB #649); deletions after the cursor
        come as ``deleted``. Pair it with ``current_seq()`` taken at the same moment.
        """
        changes: Changes = {
            name: {"created": [], "updated": [], "deleted": []} for name in POLICIES
        }
        for (table, row_id), entries in self._by_row.items():
            row = self.rows[table].get(row_id)
            if row is None:
                if last_pulled_at is not None and entries[-1].seq > last_pulled_at:
                    changes[table]["deleted"].append(row_id)
                continue
            if last_pulled_at is not None and entries[-1].seq <= last_pulled_at:
                continue
            inserts = [e for e in entries if e.op == "insert"]
            fresh = bool(inserts) and (last_pulled_at is None or inserts[-1].seq > last_pulled_at)
            foreign = not inserts or inserts[-1].origin_device != device_id
            # The device deleted its copy (refused delete): it must be created again there.
            restored = any(
                e.op == "restore"
                and e.origin_device == device_id
                and (last_pulled_at is None or e.seq > last_pulled_at)
                for e in entries
            )
            bucket = "created" if (fresh and foreign) or restored else "updated"
            changes[table][bucket].append(dict(row))
        return changes

    # -- the Store protocol ----------------------------------------------------------

    def prefetch(self, table: str, row_ids: list[str]) -> None:
        """Nothing to do: everything is already in memory."""

    def load(self, table: str, row_id: str) -> dict[str, Any] | None:
        """A copy of the row's device-visible values, or None when absent."""
        row = self.rows[table].get(row_id)
        return None if row is None else dict(row)

    def was_deleted(self, table: str, row_id: str) -> bool:
        """True when the row is gone and a tombstone records its deletion."""
        return row_id in self.tombstones[table] and row_id not in self.rows[table]

    def _may_write(self, order_id: Any, ctx: PushContext) -> str | None:
        if ctx.technician_id is None:
            return "only technicians push field records"
        order = self.rows[ORDERS].get(order_id) if isinstance(order_id, str) else None
        if order is None:
            return "unknown work order"
        if ctx.technician_id in assignees(order):
            return None
        if ctx.technician_id in self._assigned_ever.get(order_id, set()):
            return None  # reassigned away after the device's work: still recorded
        return "work order not assigned to you"

    def check_insert(self, table: str, row: dict[str, Any], ctx: PushContext) -> str | None:
        """Why the device may not insert this child row, or None."""
        if table not in CHILDREN_OF_ORDERS:
            return "devices cannot create rows in this table"
        reason = self._may_write(row.get("work_order_id"), ctx)
        if reason is not None:
            return reason
        if table == "part_usages":
            if row.get("part_id") not in self.rows["parts"]:
                return "unknown part"
            equipment = row.get("equipment_id")
            if equipment is not None and equipment not in self.rows["equipment"]:
                return "unknown equipment"
        return None

    def check_update(self, table: str, row_id: str, ctx: PushContext) -> str | None:
        """Why the device may not change this existing row, or None."""
        row = self.rows[table].get(row_id)
        if row is None:
            return "unknown row"
        if table == ORDERS:
            return self._may_write(row_id, ctx)
        if table in CHILDREN_OF_ORDERS:
            return self._may_write(row.get("work_order_id"), ctx)
        return "table is read-only for devices"

    def changed_since(
        self, table: str, row_id: str, cursor: int | None, device_id: str
    ) -> set[str]:
        """Columns changed after ``cursor`` by anyone but ``device_id``."""
        columns: set[str] = set()
        for change in self._by_row.get((table, row_id), []):
            if cursor is not None and change.seq <= cursor:
                continue
            if change.origin_device == device_id:
                continue
            columns |= change.columns
        return columns

    def insert(self, table: str, row: dict[str, Any], ctx: PushContext) -> None:
        """Insert a device row; the server stamps who, which device and when."""
        policy = POLICIES[table]
        stored: dict[str, Any] = {c: None for c in policy.columns}
        stored.update(row)
        stamps = {
            "created_by_id": ctx.user_id,
            "device_id": ctx.device_id,
            "recorded_at": self.now_ms,
            "technician_id": ctx.technician_id,
        }
        stored.update({c: v for c, v in stamps.items() if c in policy.columns})
        self.rows[table][row["id"]] = stored
        self.tombstones[table].pop(row["id"], None)
        self._record(table, row["id"], policy.columns, ctx.device_id, "insert")

    def update(self, table: str, row_id: str, values: dict[str, Any], ctx: PushContext) -> None:
        """Write the given columns on the device's behalf."""
        self.rows[table][row_id].update(values)
        self._record(table, row_id, values, ctx.device_id, "update")

    def touch(self, table: str, row_id: str, ctx: PushContext) -> None:
        """Make the row reappear in pulls (no column changes, origin None)."""
        self._record(table, row_id, (), None, "touch")

    def restore(self, table: str, row_id: str, ctx: PushContext) -> None:
        """A touch on behalf of a device that deleted its copy: it gets the row as created."""
        self._record(table, row_id, (), ctx.device_id, "restore")

    def log_conflict(self, entry: ConflictEntry, ctx: PushContext) -> None:
        """Keep one conflict-log entry with the pushing user and device."""
        self.conflicts.append(LoggedConflict(entry, ctx.user_id, ctx.device_id))

    def apply_status_event(self, row: dict[str, Any], ctx: PushContext) -> tuple[str, str | None]:
        """Move the order through the lifecycle as the event says, or say why not."""
        outcome, code = self._transition(row, ctx)
        self.outcomes[row["id"]] = (outcome, code)
        event = self.rows["status_events"].get(row["id"])
        if event is not None:
            event.update(outcome=outcome, outcome_code=code)
            self._record("status_events", row["id"], ("outcome", "outcome_code"), None, "update")
        return outcome, code

    def _transition(self, event: dict[str, Any], ctx: PushContext) -> tuple[str, str | None]:
        order_id = event["work_order_id"]
        order = self.rows[ORDERS].get(order_id)
        if order is None:
            return "rejected", "unknown_work_order"
        try:
            source, target = Status(order["status"]), Status(event["to_status"])
        except ValueError:
            return "rejected", "invalid_transition"
        if source is target:
            return "rejected", "superseded"
        summary = event.get("resolution_summary") or order.get("resolution_summary")
        decision = decide(
            source,
            target,
            TransitionContext(
                role=Role.TECHNICIAN,
                has_lead_technician=order.get("lead_technician_id") is not None,
                has_schedule=order.get("scheduled_start") is not None
                and order.get("scheduled_end") is not None,
                actor_is_assignee=ctx.technician_id in assignees(order),
                resolution_summary=summary,
                hold_reason=event.get("hold_reason"),
                reason=event.get("reason"),
            ),
        )
        if not decision.allowed:
            return "rejected", decision.code
        at = event["occurred_at"]
        values: dict[str, Any] = {"status": target.value}
        start = order.get("actual_start")
        if Effect.SET_ACTUAL_START in decision.effects and start is None:
            values["actual_start"] = start = at
        if Effect.SET_ACTUAL_END in decision.effects:
            if start is not None and at <= start:
                return "rejected", "occurred_at_before_start"
            values["actual_end"] = at
        if Effect.CLEAR_HOLD in decision.effects:
            values["hold_reason"] = None
        if target is Status.COMPLETED:
            values["resolution_summary"] = summary
        if target is Status.ON_HOLD:
            values["hold_reason"] = event.get("hold_reason")
        order.update(values)
        self._record(ORDERS, order_id, values, ctx.device_id, "update")
        return "applied", None


if TYPE_CHECKING:
    _conforms: Store = MemoryStore()
