"""Merge rules under random interleavings: office edits, offline devices, pushes, pulls, replays.

Devices behave like WatermelonDB: a pull keeps the local value of every locally changed
column, a push sends full rows with ``_changed`` and then marks them synced. The conflict
base handed to the engine follows the rule documented on ``PushContext``: the input
cursor of the device's first pull since its last applied push.

The oracle tracks, per device and column, which server write the device has seen. A push
that overwrites a value the device never saw must leave a conflict-log entry with it.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sync.engine import PushContext, PushReport, apply_push
from sync.memory import Change, MemoryStore
from sync.policy import WORK_ORDERS, Owner

T0 = 1_700_000_000_000
NS = uuid.UUID("5b3f5c4e-8a52-4d0e-9a34-3f0f2f3b6c11")


def uid(name: str) -> str:
    return str(uuid.uuid5(NS, name))


LEAD, HELPER = uid("lead"), uid("helper")
ORDERS = (uid("order-1"), uid("order-2"))
DEVICES = {"lead-phone": LEAD, "lead-tablet": LEAD, "helper-phone": HELPER}

VALUES: dict[str, tuple[Any, ...]] = {
    "technician_notes": ("", "belt worn", "replaced belt"),
    "checklist_answers": ('{"door": "ok"}', '{"door": "jammed"}', '{"door": "ok", "oil": 2}'),
    "actual_start": (T0, T0 + 60_000, T0 + 120_000),
    "actual_end": (T0 + 3_600_000, T0 + 7_200_000, None),
    "priority": ("low", "normal", "urgent"),
    "scheduled_start": (T0, T0 + 86_400_000, T0 - 86_400_000),
    "description": ("Lift stuck", "Lift stuck on 3rd floor", "Noisy lift"),
}
DEVICE_OWNED = tuple(c for c, s in WORK_ORDERS.columns.items() if s.owner is Owner.DEVICE)
SERVER_OWNED = tuple(c for c, s in WORK_ORDERS.columns.items() if s.owner is Owner.SERVER)
DEVICE_EDITABLE = (*DEVICE_OWNED, "priority", "scheduled_start")
OFFICE_EDITABLE = tuple(VALUES)
KINDS = {
    "same_field",
    "not_permitted",
    "not_writable",
    "append_only_modified",
    "update_of_deleted",
    "delete_refused",
    "status_rejected",
}
SYNCED = ("work_orders", "work_order_notes")


@dataclass
class Device:
    """A WatermelonDB database on a phone, plus what the server remembers about it."""

    name: str
    technician: str
    rows: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {t: {} for t in SYNCED}
    )
    changed: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # _changed
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # local new notes
    cursor: int | None = None  # last_pulled_at
    base: int | None = None  # conflict base (server side bookkeeping)
    base_open: bool = True  # the next pull sets the base
    seen: dict[tuple[str, str], int] = field(default_factory=dict)  # (order, col) -> seq
    last_push: tuple[dict[str, Any], PushContext, dict[tuple[str, str], int]] | None = None

    def has_changes(self) -> bool:
        return bool(self.created) or any(self.changed.values())


def last_write(store: MemoryStore, table: str, row_id: str, column: str) -> Change | None:
    """The change-log entry that wrote the column's current value."""
    for change in reversed(store.log):
        if change.table == table and change.row_id == row_id and column in change.columns:
            return change
    return None


class SyncMachine(RuleBasedStateMachine):
    """An office, three devices of two technicians, two shared work orders."""

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        for n, order_id in enumerate(ORDERS):
            self.store.server_write(
                "work_orders",
                order_id,
                {
                    "number": f"WO-{n}",
                    "status": "on_site",
                    "priority": "normal",
                    "lead_technician_id": LEAD,
                    "helper_ids": json.dumps([HELPER]),
                    "scheduled_start": T0,
                    "scheduled_end": T0 + 7_200_000,
                    "technician_notes": "",
                },
            )
        self.office = {  # what the office last wrote into each server-owned column
            (order_id, column): self.store.rows["work_orders"][order_id][column]
            for order_id in ORDERS
            for column in SERVER_OWNED
        }
        self.devices = {name: Device(name, tech) for name, tech in DEVICES.items()}
        for device in self.devices.values():
            self._pull(device)
        self.notes_made = 0
        self.first_version: dict[str, dict[str, Any]] = {}  # append-only rows as inserted
        self.deleted_notes: set[str] = set()
        self.device_writes: list[tuple[str, str, Any, int]] = []  # order, col, value, seq

    # -- the office ---------------------------------------------------------------------

    @rule(
        order=st.sampled_from(ORDERS),
        column=st.sampled_from(OFFICE_EDITABLE),
        pick=st.integers(0, 2),
    )
    def office_edits(self, order: str, column: str, pick: int) -> None:
        self.store.server_write("work_orders", order, {column: VALUES[column][pick]})
        if column in SERVER_OWNED:
            self.office[(order, column)] = VALUES[column][pick]

    @precondition(lambda self: bool(self.store.rows["work_order_notes"]))
    @rule(pick=st.integers(0, 50))
    def office_deletes_a_note(self, pick: int) -> None:
        notes = sorted(self.store.rows["work_order_notes"])
        note_id = notes[pick % len(notes)]
        self.store.server_delete("work_order_notes", note_id)
        self.deleted_notes.add(note_id)

    # -- devices, offline ---------------------------------------------------------------

    @rule(
        device=st.sampled_from(sorted(DEVICES)),
        order=st.sampled_from(ORDERS),
        column=st.sampled_from(DEVICE_EDITABLE),
        pick=st.integers(0, 2),
    )
    def device_edits(self, device: str, order: str, column: str, pick: int) -> None:
        phone = self.devices[device]
        phone.rows["work_orders"][order][column] = VALUES[column][pick]
        phone.changed.setdefault(("work_orders", order), set()).add(column)

    @rule(
        device=st.sampled_from(sorted(DEVICES)),
        order=st.sampled_from(ORDERS),
        column=st.sampled_from(DEVICE_EDITABLE),
        mine=st.integers(0, 2),
        office=st.integers(0, 2),
    )
    def device_and_office_edit_the_same_field(
        self, device: str, order: str, column: str, mine: int, office: int
    ) -> None:
        """The interesting race, made likely: an offline edit and an office edit of one field."""
        self.device_edits(device, order, column, mine)
        self.office_edits(order, column, office)

    @rule(device=st.sampled_from(sorted(DEVICES)), order=st.sampled_from(ORDERS))
    def device_writes_a_note(self, device: str, order: str) -> None:
        self.notes_made += 1
        note_id = uid(f"note-{self.notes_made}")
        self.devices[device].created[note_id] = {
            "id": note_id,
            "work_order_id": order,
            "occurred_at": T0 + self.notes_made,
            "body": f"note {self.notes_made} from {device}",
            "corrects_id": None,
        }

    @rule(device=st.sampled_from(sorted(DEVICES)), pick=st.integers(0, 50))
    def device_tampers_with_a_synced_note(self, device: str, pick: int) -> None:
        phone = self.devices[device]
        notes = sorted(phone.rows["work_order_notes"])
        if not notes:
            return
        note_id = notes[pick % len(notes)]
        phone.rows["work_order_notes"][note_id]["body"] += " (edited)"
        phone.changed.setdefault(("work_order_notes", note_id), set()).add("body")

    # -- sync -----------------------------------------------------------------------------

    def _pull(self, phone: Device) -> None:
        changes = self.store.pull(phone.cursor, phone.name)
        timestamp = self.store.current_seq()
        if phone.base_open:
            phone.base, phone.base_open = phone.cursor, False
        for table in SYNCED:
            for row in changes[table]["created"] + changes[table]["updated"]:
                local = phone.rows[table].get(row["id"])
                mine = phone.changed.get((table, row["id"]), set())
                merged = dict(row)
                for column in mine:  # WatermelonDB keeps locally changed columns
                    assert local is not None
                    merged[column] = local[column]
                phone.rows[table][row["id"]] = merged
                if table == "work_orders":
                    for column in set(row) - mine:
                        write = last_write(self.store, table, row["id"], column)
                        phone.seen[(row["id"], column)] = write.seq if write else 0
            for row_id in changes[table]["deleted"]:
                phone.rows[table].pop(row_id, None)
                phone.changed.pop((table, row_id), None)
        phone.cursor = timestamp

    def _payload(self, phone: Device) -> dict[str, Any]:
        payload: dict[str, Any] = {t: {"created": [], "updated": [], "deleted": []} for t in SYNCED}
        for (table, row_id), columns in sorted(phone.changed.items()):
            if columns and row_id in phone.rows[table]:
                raw = {**phone.rows[table][row_id], "_status": "updated"}
                payload[table]["updated"].append({**raw, "_changed": ",".join(sorted(columns))})
        for row in phone.created.values():
            payload["work_order_notes"]["created"].append(
                {**row, "_status": "created", "_changed": ""}
            )
        return payload

    def _check_push(
        self,
        phone: Device,
        payload: dict[str, Any],
        seen: dict[tuple[str, str], int],
        report: PushReport,
        before: dict[str, dict[str, Any]],
        writers: dict[tuple[str, str], Change | None],
    ) -> None:
        conflicts = {(c.row_id, c.column): c for c in report.conflicts}
        for raw in payload["work_orders"]["updated"]:
            order = raw["id"]
            now = self.store.rows["work_orders"][order]
            for column in raw["_changed"].split(","):
                mine, prior = raw[column], before[order][column]
                if column in SERVER_OWNED:
                    assert now[column] == prior, f"device value took {column}"
                    continue
                assert now[column] == mine, f"device-owned {column} not taken"
                writer = writers[(order, column)]
                unseen = (
                    writer is not None
                    and writer.origin_device != phone.name
                    and writer.seq > seen.get((order, column), 0)
                )
                if mine != prior and unseen:
                    entry = conflicts.get((order, column))
                    assert entry is not None, f"{column}={prior!r} overwritten silently"
                    assert (entry.kind, entry.kept) == ("same_field", "device")
                    assert entry.server_value == prior and entry.device_value == mine
                if mine != prior:
                    write = last_write(self.store, "work_orders", order, column)
                    assert write is not None
                    self.device_writes.append((order, column, mine, write.seq))
        for raw in payload["work_order_notes"]["updated"]:
            entry = conflicts.get((raw["id"], "body"))
            if raw["id"] in self.store.rows["work_order_notes"]:
                assert entry is not None and entry.kind == "append_only_modified"

    def _push(self, phone: Device, payload: dict[str, Any], ctx: PushContext) -> PushReport:
        before = copy.deepcopy(self.store.rows["work_orders"])
        writers = {
            (order, column): last_write(self.store, "work_orders", order, column)
            for order in ORDERS
            for column in WORK_ORDERS.columns
        }
        seen = dict(phone.seen)
        report = apply_push(self.store, copy.deepcopy(payload), ctx)
        self._check_push(phone, payload, seen, report, before, writers)
        for raw in payload["work_order_notes"]["created"]:
            stored = self.store.rows["work_order_notes"].get(raw["id"])
            if stored is not None:
                self.first_version.setdefault(raw["id"], dict(stored))
        return report

    @precondition(lambda self: any(d.has_changes() for d in self.devices.values()))
    @rule(device=st.sampled_from(sorted(DEVICES)))
    def device_pushes(self, device: str) -> None:
        phone = self.devices[device]
        if not phone.has_changes():
            return
        payload = self._payload(phone)
        ctx = PushContext(f"user-{phone.technician}", phone.technician, phone.name, phone.base)
        self._push(phone, payload, ctx)
        # markLocalChangesAsSynced: local values stay, the device trusts them as synced
        for row in phone.created.values():
            phone.rows["work_order_notes"][row["id"]] = dict(row)
        for (table, order), columns in phone.changed.items():
            if table == "work_orders":
                for column in columns & set(DEVICE_OWNED):
                    write = last_write(self.store, table, order, column)
                    phone.seen[(order, column)] = write.seq if write else 0
        phone.last_push = (payload, ctx, dict(phone.seen))
        phone.created.clear()
        phone.changed.clear()
        phone.base_open = True

    @rule(device=st.sampled_from(sorted(DEVICES)))
    def device_pulls(self, device: str) -> None:
        self._pull(self.devices[device])

    @rule(device=st.sampled_from(sorted(DEVICES)))
    def device_syncs(self, device: str) -> None:
        """WatermelonDB's synchronize(): pull, then push local changes if any."""
        self._pull(self.devices[device])
        self.device_pushes(device)

    @precondition(lambda self: any(d.last_push for d in self.devices.values()))
    @rule(device=st.sampled_from(sorted(DEVICES)))
    def network_replays_the_last_push(self, device: str) -> None:
        phone = self.devices[device]
        if phone.last_push is None:
            return
        payload, ctx, seen = phone.last_push
        count = len(self.store.rows["work_order_notes"])
        saved, phone.seen = phone.seen, seen
        report = self._push(phone, payload, ctx)
        phone.seen = saved
        assert report.inserted == {}
        assert len(self.store.rows["work_order_notes"]) == count

    @rule()
    def everyone_syncs_then_pulls(self) -> None:
        for name in sorted(self.devices):
            self.device_syncs(name)
        for name in sorted(self.devices):
            self._pull(self.devices[name])
        for phone in self.devices.values():
            assert not phone.has_changes()
            for table in SYNCED:
                assert phone.rows[table] == self.store.rows[table], (phone.name, table)

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def device_edits_are_current_or_superseded(self) -> None:
        for order, column, value, seq in self.device_writes:
            current = self.store.rows["work_orders"][order][column]
            write = last_write(self.store, "work_orders", order, column)
            assert current == value or (write is not None and write.seq > seq)

    @invariant()
    def server_owned_columns_hold_office_values(self) -> None:
        for (order, column), value in self.office.items():
            assert self.store.rows["work_orders"][order][column] == value, column

    @invariant()
    def devices_write_only_device_owned_columns(self) -> None:
        for change in self.store.log:
            if change.table == "work_orders" and change.origin_device is not None:
                assert change.columns <= set(DEVICE_OWNED), change

    @invariant()
    def append_only_rows_are_inserted_once_and_never_change(self) -> None:
        inserts: dict[str, int] = {}
        for change in self.store.log:
            if change.table == "work_order_notes":
                assert change.op in {"insert", "touch", "restore", "delete"}, change
                if change.op == "insert":
                    inserts[change.row_id] = inserts.get(change.row_id, 0) + 1
        assert all(n == 1 for n in inserts.values()), inserts
        for note_id, row in self.store.rows["work_order_notes"].items():
            assert row == self.first_version[note_id]
        assert not self.deleted_notes & set(self.store.rows["work_order_notes"])

    @invariant()
    def conflict_entries_are_well_formed(self) -> None:
        for logged in self.store.conflicts:
            assert logged.entry.kept in {"server", "device"}
            assert logged.entry.kind in KINDS


SyncMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
TestSyncMachine = SyncMachine.TestCase
