"""apply_push against the in-memory store: validation, ownership, per-column merge, events."""

from __future__ import annotations

import copy
import json
import random
import uuid
from typing import Any

import pytest

from sync.engine import PushContext, PushRejected, apply_push
from sync.memory import MemoryStore

T0 = 1_700_000_000_000
MINUTE = 60_000


def uid(name: str) -> str:
    """A stable canonical UUID per readable name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fsm-test:{name}"))


TECH, HELPER, OTHER = uid("tech"), uid("helper"), uid("other-tech")
ORDER, FOREIGN = uid("order"), uid("foreign-order")
PART = uid("part")


def order_row(lead: str, *, status: str = "dispatched", helpers: list[str] | None = None) -> dict:
    return {
        "number": "WO-1",
        "title": "Lift stuck between floors",
        "status": status,
        "priority": "normal",
        "lead_technician_id": lead,
        "helper_ids": json.dumps(helpers or []),
        "scheduled_start": T0,
        "scheduled_end": T0 + 120 * MINUTE,
        "technician_notes": "initial",
        "checklist_answers": json.dumps({"door": "ok"}),
    }


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    s.server_write("work_orders", ORDER, order_row(TECH, helpers=[HELPER]))
    s.server_write("work_orders", FOREIGN, order_row(OTHER))
    s.server_write("parts", PART, {"sku": "BELT-1", "name": "Drive belt"})
    return s


def ctx(
    store: MemoryStore, *, device: str = "phone-1", tech: str = TECH, base: int | None = -1
) -> PushContext:
    """A push context; base=-1 means 'pulled just now'."""
    last = store.current_seq() if base == -1 else base
    return PushContext(
        user_id=f"user-{tech}", technician_id=tech, device_id=device, last_pulled_at=last
    )


def updated(row_id: str, **values: Any) -> dict[str, Any]:
    """A WatermelonDB 'updated' raw: every given column counts as locally changed."""
    return {"id": row_id, **values, "_status": "updated", "_changed": ",".join(values)}


def changes(table: str, *, created=(), updated=(), deleted=()) -> dict[str, Any]:
    return {table: {"created": list(created), "updated": list(updated), "deleted": list(deleted)}}


def note(row_id: str, body: str = "replaced the belt", **extra: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "work_order_id": ORDER,
        "occurred_at": T0 + MINUTE,
        "body": body,
        "_status": "created",
        "_changed": "",
        **extra,
    }


def event(to: str, minutes: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": uid(f"event-{to}-{minutes}"),
        "work_order_id": ORDER,
        "occurred_at": T0 + minutes * MINUTE,
        "to_status": to,
        **extra,
    }


def check_in(row_id: str, **extra: Any) -> dict[str, Any]:
    row = {"id": row_id, "work_order_id": ORDER, "occurred_at": T0, "kind": "in"}
    return {**row, "lat": 31.23, "lon": 121.47, **extra}


def usage(row_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "work_order_id": ORDER,
        "part_id": PART,
        "quantity": 1,
        "used_at": T0,
        **extra,
    }


def with_valid_rider(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload plus a perfectly valid row in another table, which must not land either."""
    assert "part_usages" not in payload
    return {**changes("part_usages", created=[usage(uid("rider"))]), **payload}


def snapshot(store: MemoryStore) -> tuple[Any, ...]:
    return copy.deepcopy(store.rows), len(store.log), len(store.conflicts), dict(store.outcomes)


def kinds(store: MemoryStore) -> list[tuple[str, str | None, str]]:
    return [(c.entry.kind, c.entry.column, c.entry.kept) for c in store.conflicts]


def order(store: MemoryStore) -> dict[str, Any]:
    return store.rows["work_orders"][ORDER]


# -- validation: everything is checked before anything is written ----------------------

INVALID = {
    "unknown table": ({"invoices": {"created": [], "updated": [], "deleted": []}}, "invoices"),
    "unknown column": (
        changes("work_orders", updated=[updated(ORDER, mood="grumpy")]),
        "work_orders.updated[0]",
    ),
    "string for a number": (
        changes("check_ins", created=[check_in(uid("c"), lat="31.2")]),
        "check_ins.created[0]",
    ),
    "boolean for a number": (
        changes("work_orders", updated=[updated(ORDER, actual_start=True)]),
        "work_orders.updated[0]",
    ),
    "number for a string": (
        changes("work_orders", updated=[updated(ORDER, technician_notes=42)]),
        "work_orders.updated[0]",
    ),
    "read-only table": (
        changes("customers", updated=[updated(uid("cust"), name="ACME")]),
        "customers.updated[0]",
    ),
    "bad JSON string": (
        changes("work_orders", updated=[updated(ORDER, checklist_answers="{door: ok")]),
        "work_orders.updated[0]",
    ),
    "timestamp before 1970": (
        changes("work_orders", updated=[updated(ORDER, actual_start=-1)]),
        "work_orders.updated[0]",
    ),
    "timestamp after 9999": (
        changes("work_orders", updated=[updated(ORDER, actual_end=10**15)]),
        "work_orders.updated[0]",
    ),
    "null in a non-null column": (
        changes("work_order_notes", created=[note(uid("n"), body=None)]),
        "work_order_notes.created[0]",
    ),
    "id that is not a UUID": (
        changes("work_order_notes", created=[note("abc123")]),
        "work_order_notes.created[0]",
    ),
    "_changed that is not a string": (
        changes(
            "work_orders",
            updated=[{"id": ORDER, "technician_notes": "x", "_changed": ["technician_notes"]}],
        ),
        "work_orders.updated[0]",
    ),
    "deleted ids that are not UUIDs": (
        changes("work_order_notes", deleted=[7]),
        "work_order_notes.deleted",
    ),
    "buckets that are not lists": (
        {"work_order_notes": {"created": {}, "updated": [], "deleted": []}},
        "work_order_notes.created",
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_push_is_rejected_whole_before_any_write(store: MemoryStore, name: str) -> None:
    payload, where = INVALID[name]
    payload = with_valid_rider(payload)
    before = snapshot(store)
    with pytest.raises(PushRejected) as raised:
        apply_push(store, payload, ctx(store))
    assert raised.value.code == "invalid_push"
    assert where in raised.value.errors
    assert snapshot(store) == before


def test_every_error_is_reported_at_once(store: MemoryStore) -> None:
    payload = {
        "invoices": {"created": [], "updated": [], "deleted": []},
        **changes(
            "work_orders",
            updated=[updated(ORDER, technician_notes=1, actual_start="soon", mood="x")],
        ),
    }
    with pytest.raises(PushRejected) as raised:
        apply_push(store, payload, ctx(store))
    errors = raised.value.errors
    assert errors["invoices"] == "unknown table"
    assert set(errors["work_orders.updated[0]"]) == {"technician_notes", "actual_start", "mood"}


def test_body_that_is_not_an_object_is_rejected(store: MemoryStore) -> None:
    with pytest.raises(PushRejected) as raised:
        apply_push(store, [], ctx(store))
    assert raised.value.code == "invalid_push"


# -- ownership: foreign or incomplete rows reject the whole push -----------------------

FOREIGN_OR_INCOMPLETE = {
    "edit of another technician's order": (
        changes("work_orders", updated=[updated(FOREIGN, technician_notes="mine now")]),
        "work order not assigned to you",
    ),
    "note on another technician's order": (
        changes("work_order_notes", created=[{**note(uid("n1")), "work_order_id": FOREIGN}]),
        "work order not assigned to you",
    ),
    "note on an unknown order": (
        changes("work_order_notes", created=[{**note(uid("n2")), "work_order_id": uid("x")}]),
        "unknown work order",
    ),
    "a new work order": (
        changes("work_orders", created=[{"id": uid("new-order"), "title": "mine"}]),
        "devices cannot create rows in this table",
    ),
    "a note without its body": (
        changes(
            "work_order_notes",
            created=[{k: v for k, v in note(uid("n3")).items() if k != "body"}],
        ),
        "missing required: body",
    ),
    "a check-in without longitude": (
        changes(
            "check_ins",
            created=[{k: v for k, v in check_in(uid("c1")).items() if k != "lon"}],
        ),
        "missing required: lon",
    ),
}


@pytest.mark.parametrize("name", sorted(FOREIGN_OR_INCOMPLETE))
def test_foreign_or_incomplete_rows_reject_the_whole_push(store: MemoryStore, name: str) -> None:
    payload, reason = FOREIGN_OR_INCOMPLETE[name]
    before = snapshot(store)
    with pytest.raises(PushRejected) as raised:
        apply_push(store, with_valid_rider(payload), ctx(store))
    assert raised.value.code == "foreign_or_invalid_rows"
    assert list(raised.value.errors.values()) == [reason]
    assert snapshot(store) == before


def test_part_usage_of_an_unknown_part_is_refused(store: MemoryStore) -> None:
    payload = changes("part_usages", created=[usage(uid("pu"), part_id=uid("no-such-part"))])
    with pytest.raises(PushRejected) as raised:
        apply_push(store, payload, ctx(store))
    assert raised.value.errors == {f"part_usages/{uid('pu')}": "unknown part"}


def test_a_push_without_a_technician_is_refused(store: MemoryStore) -> None:
    dispatcher = PushContext("user-d", None, "browser", store.current_seq())
    with pytest.raises(PushRejected):
        apply_push(store, changes("work_order_notes", created=[note(uid("n"))]), dispatcher)


# -- per-column merge -------------------------------------------------------------------


def test_concurrent_edits_of_different_fields_both_survive(store: MemoryStore) -> None:
    device = ctx(store)
    store.server_write("work_orders", ORDER, {"priority": "urgent"})
    report = apply_push(
        store, changes("work_orders", updated=[updated(ORDER, technician_notes="belt")]), device
    )
    assert order(store)["priority"] == "urgent"
    assert order(store)["technician_notes"] == "belt"
    assert report.conflicts == [] and store.conflicts == []
    assert report.updated == {"work_orders": 1}


def test_same_field_on_device_owned_column_keeps_device_and_logs_server(
    store: MemoryStore,
) -> None:
    device = ctx(store)
    store.server_write("work_orders", ORDER, {"technician_notes": "office wrote this"})
    apply_push(
        store, changes("work_orders", updated=[updated(ORDER, technician_notes="tech")]), device
    )
    assert order(store)["technician_notes"] == "tech"
    [logged] = store.conflicts
    assert (logged.entry.kind, logged.entry.kept) == ("same_field", "device")
    assert logged.entry.server_value == "office wrote this"
    assert logged.entry.device_value == "tech"
    assert (logged.device_id, logged.user_id) == ("phone-1", f"user-{TECH}")


def test_same_field_on_server_owned_column_keeps_server_and_logs_device(
    store: MemoryStore,
) -> None:
    device = ctx(store)
    store.server_write("work_orders", ORDER, {"priority": "urgent"})
    apply_push(store, changes("work_orders", updated=[updated(ORDER, priority="low")]), device)
    assert order(store)["priority"] == "urgent"
    assert kinds(store) == [("same_field", "priority", "server")]
    assert store.conflicts[0].entry.device_value == "low"
    assert store.log[-1].op == "touch"


def test_device_edit_of_server_owned_column_without_race_is_refused(store: MemoryStore) -> None:
    apply_push(
        store,
        changes("work_orders", updated=[updated(ORDER, scheduled_start=T0 + 5 * MINUTE)]),
        ctx(store),
    )
    assert order(store)["scheduled_start"] == T0
    assert kinds(store) == [("not_permitted", "scheduled_start", "server")]
    assert store.log[-1].op == "touch"


def test_device_edit_of_read_only_column_is_not_writable(store: MemoryStore) -> None:
    apply_push(
        store, changes("work_orders", updated=[updated(ORDER, title="Easy job")]), ctx(store)
    )
    assert order(store)["title"] == "Lift stuck between floors"
    assert kinds(store) == [("not_writable", "title", "server")]
    assert store.log[-1].op == "touch"


def test_refused_column_next_to_a_written_one_still_touches_the_row(store: MemoryStore) -> None:
    apply_push(
        store,
        changes("work_orders", updated=[updated(ORDER, priority="low", technician_notes="x")]),
        ctx(store),
    )
    assert order(store)["technician_notes"] == "x"
    assert order(store)["priority"] == "normal"
    assert [c.op for c in store.log[-2:]] == ["update", "touch"]


def test_columns_outside_changed_are_ignored_even_when_stale(store: MemoryStore) -> None:
    device = ctx(store)
    store.server_write("work_orders", ORDER, {"technician_notes": "office", "priority": "high"})
    raw = {
        "id": ORDER,
        **order_row(TECH, helpers=[HELPER]),  # the device's stale full copy
        "checklist_answers": json.dumps({"door": "jammed"}),
        "_status": "updated",
        "_changed": "checklist_answers",
    }
    report = apply_push(store, changes("work_orders", updated=[raw]), device)
    assert order(store)["technician_notes"] == "office"
    assert order(store)["priority"] == "high"
    assert json.loads(order(store)["checklist_answers"]) == {"door": "jammed"}
    assert report.conflicts == []


def test_json_columns_compare_as_documents_not_strings(store: MemoryStore) -> None:
    device = ctx(store)
    store.server_write("work_orders", ORDER, {"checklist_answers": '{"a": 1, "b": [1, 2]}'})
    seq = store.current_seq()
    apply_push(
        store,
        changes("work_orders", updated=[updated(ORDER, checklist_answers='{"b":[1,2],"a":1}')]),
        device,
    )
    assert store.conflicts == []
    assert store.current_seq() == seq  # nothing to write


def test_created_of_an_existing_row_is_an_update(store: MemoryStore) -> None:
    raw = {"id": ORDER, "technician_notes": "from created", "_status": "created"}
    report = apply_push(store, changes("work_orders", created=[raw]), ctx(store))
    assert order(store)["technician_notes"] == "from created"
    assert report.updated == {"work_orders": 1}


def test_update_of_a_deleted_row_is_logged_and_not_written(store: MemoryStore) -> None:
    device = ctx(store)
    store.server_delete("work_orders", ORDER)
    before = copy.deepcopy(store.rows)
    report = apply_push(
        store, changes("work_orders", updated=[updated(ORDER, technician_notes="x")]), device
    )
    assert store.rows == before
    assert kinds(store) == [("update_of_deleted", None, "server")]
    assert report.conflicts[0].device_value == {"technician_notes": "x"}


def test_delete_of_an_existing_row_is_refused_and_the_row_restored(store: MemoryStore) -> None:
    device = ctx(store)
    cursor = store.current_seq()
    apply_push(store, changes("work_orders", deleted=[ORDER]), device)
    assert ORDER in store.rows["work_orders"]
    assert kinds(store) == [("delete_refused", None, "server")]
    assert store.log[-1].op == "restore" and store.log[-1].row_id == ORDER
    # The device destroyed its copy after the push: it gets the row back as created,
    # while another device that still holds it sees an update.
    pulled = store.pull(cursor, device.device_id)["work_orders"]
    assert [r["id"] for r in pulled["created"]] == [ORDER] and pulled["updated"] == []
    other = store.pull(cursor, "another-device")["work_orders"]
    assert other["created"] == [] and [r["id"] for r in other["updated"]] == [ORDER]


def test_delete_of_a_missing_row_is_ignored(store: MemoryStore) -> None:
    before = snapshot(store)
    report = apply_push(store, changes("work_order_notes", deleted=[uid("never")]), ctx(store))
    assert snapshot(store) == before
    assert report.conflicts == []


def test_own_earlier_push_is_not_a_conflict(store: MemoryStore) -> None:
    device = ctx(store)
    edit = changes("work_orders", updated=[updated(ORDER, technician_notes="first")])
    apply_push(store, edit, device)
    edit = changes("work_orders", updated=[updated(ORDER, technician_notes="second")])
    apply_push(store, edit, device)  # same stale base: only its own write came since
    assert order(store)["technician_notes"] == "second"
    assert store.conflicts == []


def test_another_devices_concurrent_edit_is_a_logged_conflict(store: MemoryStore) -> None:
    lead, helper = ctx(store), ctx(store, device="phone-2", tech=HELPER)
    apply_push(store, changes("work_orders", updated=[updated(ORDER, actual_start=T0)]), lead)
    apply_push(store, changes("work_orders", updated=[updated(ORDER, actual_start=T0 + 1)]), helper)
    assert order(store)["actual_start"] == T0 + 1
    [logged] = store.conflicts
    assert (logged.entry.kind, logged.entry.kept, logged.entry.server_value) == (
        "same_field",
        "device",
        T0,
    )


def test_conflict_base_is_the_cursor_before_watermelondbs_pull(store: MemoryStore) -> None:
    """WatermelonDB pulls before pushing and keeps locally changed columns during that pull.

    The push then carries the new timestamp; with it as the base, the office edit the pull
    discarded is invisible and gets overwritten silently. The base must be the cursor the
    device had before that pull (see PushContext).
    """
    before_pull = store.current_seq()  # device synced, then edits notes offline
    store.server_write("work_orders", ORDER, {"technician_notes": "office"})
    after_pull = store.current_seq()  # the pull sends "office"; the device keeps its own
    edit = changes("work_orders", updated=[updated(ORDER, technician_notes="tech")])

    naive = copy.deepcopy(store)
    apply_push(naive, edit, ctx(naive, base=after_pull))
    assert naive.conflicts == []  # "office" lost without a trace

    apply_push(store, edit, ctx(store, base=before_pull))
    assert store.conflicts[0].entry.server_value == "office"


# -- append-only records ------------------------------------------------------------------


def test_append_only_replay_is_a_no_op(store: MemoryStore) -> None:
    push = changes("work_order_notes", created=[note(uid("n"))])
    first = apply_push(store, push, ctx(store))
    before = snapshot(store)
    again = apply_push(store, copy.deepcopy(push), ctx(store))
    assert first.inserted == {"work_order_notes": 1}
    assert again.inserted == {} and again.unchanged == {"work_order_notes": 1}
    assert snapshot(store) == before
    assert list(store.rows["work_order_notes"]) == [uid("n")]


def test_modified_append_only_replay_is_logged_not_applied(store: MemoryStore) -> None:
    apply_push(store, changes("work_order_notes", created=[note(uid("n"))]), ctx(store))
    stored = dict(store.rows["work_order_notes"][uid("n")])
    apply_push(
        store,
        changes("work_order_notes", updated=[note(uid("n"), body="edited later")]),
        ctx(store),
    )
    assert store.rows["work_order_notes"][uid("n")] == stored
    [logged] = store.conflicts
    assert (logged.entry.kind, logged.entry.column, logged.entry.kept) == (
        "append_only_modified",
        "body",
        "server",
    )
    assert logged.entry.server_value == {"body": "replaced the belt"}
    assert logged.entry.device_value == {"body": "edited later"}


def test_replay_of_an_append_only_row_deleted_by_the_office_does_not_revive_it(
    store: MemoryStore,
) -> None:
    push = changes("work_order_notes", created=[note(uid("n"))])
    apply_push(store, push, ctx(store))
    store.server_delete("work_order_notes", uid("n"))
    apply_push(store, copy.deepcopy(push), ctx(store))
    assert uid("n") not in store.rows["work_order_notes"]
    assert kinds(store) == [("update_of_deleted", None, "server")]


def test_server_stamped_columns_are_never_taken_from_the_device(store: MemoryStore) -> None:
    forged = note(uid("n"), device_id="someone-else", created_by_id=OTHER, recorded_at=0)
    apply_push(store, changes("work_order_notes", created=[forged]), ctx(store))
    stored = store.rows["work_order_notes"][uid("n")]
    assert (stored["device_id"], stored["created_by_id"]) == ("phone-1", f"user-{TECH}")
    assert stored["recorded_at"] == store.now_ms
    # A later replay carrying the forged stamps is a plain replay (stamps are not compared).
    apply_push(store, changes("work_order_notes", created=[forged]), ctx(store))
    assert store.conflicts == []
    # The geofence verdict is the server's to compute, never the phone's to claim.
    claimed = check_in(uid("c"), within_geofence=True, distance_m=0)
    apply_push(store, changes("check_ins", created=[claimed]), ctx(store))
    stored = store.rows["check_ins"][uid("c")]
    assert (stored["within_geofence"], stored["distance_m"]) == (None, None)


def test_part_usage_records_the_technician(store: MemoryStore) -> None:
    used = usage(uid("pu"), quantity=2, serial_numbers=json.dumps(["A1", "A2"]))
    apply_push(store, changes("part_usages", created=[used]), ctx(store))
    assert store.rows["part_usages"][uid("pu")]["technician_id"] == TECH
    respaced = {**used, "serial_numbers": '[ "A1",  "A2" ]'}
    apply_push(store, changes("part_usages", created=[respaced]), ctx(store))
    assert store.conflicts == []


# -- status events through the lifecycle --------------------------------------------------


def test_status_events_apply_in_device_order_even_when_shuffled(store: MemoryStore) -> None:
    events = [
        event("accepted", 1),
        event("en_route", 2),
        event("on_site", 30),
        event("completed", 90, resolution_summary="Replaced drive belt"),
    ]
    shuffled = events[:]
    random.Random(4).shuffle(shuffled)
    assert shuffled != events
    report = apply_push(store, changes("status_events", created=shuffled), ctx(store))
    assert [s["id"] for s in report.status] == [e["id"] for e in events]
    assert {s["outcome"] for s in report.status} == {"applied"}
    wo = order(store)
    assert wo["status"] == "completed"
    assert (wo["actual_start"], wo["actual_end"]) == (T0 + 30 * MINUTE, T0 + 90 * MINUTE)
    assert wo["resolution_summary"] == "Replaced drive belt"
    assert store.outcomes == {e["id"]: ("applied", None) for e in events}
    assert store.conflicts == []


def test_completion_of_an_order_cancelled_in_the_office_is_rejected_not_failed(
    store: MemoryStore,
) -> None:
    store.server_write("work_orders", ORDER, {"status": "on_site"})
    device = ctx(store)
    store.server_write("work_orders", ORDER, {"status": "cancelled", "cancel_reason": "dup"})
    done = event("completed", 90, resolution_summary="Fixed")
    report = apply_push(store, changes("status_events", created=[done]), device)
    assert report.status == [
        {"id": done["id"], "outcome": "rejected", "code": "invalid_transition"}
    ]
    assert order(store)["status"] == "cancelled"
    assert kinds(store) == [("status_rejected", "to_status", "server")]
    assert store.conflicts[0].entry.device_value == "completed"
    stored = store.rows["status_events"][done["id"]]  # kept as evidence, with its outcome
    assert (stored["outcome"], stored["outcome_code"]) == ("rejected", "invalid_transition")


def test_event_for_a_status_the_order_already_has_is_superseded(store: MemoryStore) -> None:
    store.server_write("work_orders", ORDER, {"status": "accepted"})
    report = apply_push(store, changes("status_events", created=[event("accepted", 1)]), ctx(store))
    assert report.status[0]["code"] == "superseded"


def test_completion_without_a_summary_is_rejected_with_the_lifecycle_code(
    store: MemoryStore,
) -> None:
    store.server_write("work_orders", ORDER, {"status": "on_site"})
    report = apply_push(
        store, changes("status_events", created=[event("completed", 5)]), ctx(store)
    )
    assert report.status[0]["code"] == "transition_requirements_missing"
    assert order(store)["status"] == "on_site"


def test_unknown_target_status_is_rejected_not_raised(store: MemoryStore) -> None:
    report = apply_push(
        store, changes("status_events", created=[event("teleported", 1)]), ctx(store)
    )
    assert report.status[0]["outcome"] == "rejected"


def test_replayed_status_event_is_not_applied_twice(store: MemoryStore) -> None:
    push = changes("status_events", created=[event("accepted", 1)])
    apply_push(store, push, ctx(store))
    again = apply_push(store, copy.deepcopy(push), ctx(store))
    assert again.status == [] and store.conflicts == []


def test_explicit_row_edits_win_over_event_effects_in_the_same_push(store: MemoryStore) -> None:
    store.server_write("work_orders", ORDER, {"status": "on_site", "actual_start": T0})
    corrected_end = T0 + 95 * MINUTE
    payload = {
        **changes(
            "status_events", created=[event("completed", 90, resolution_summary="Belt replaced")]
        ),
        # The app moved its local copy too, and then fixed the end time by hand.
        **changes(
            "work_orders",
            updated=[updated(ORDER, status="completed", actual_end=corrected_end)],
        ),
    }
    report = apply_push(store, payload, ctx(store))
    assert order(store)["status"] == "completed"
    assert order(store)["actual_end"] == corrected_end
    assert report.conflicts == []  # the optimistic local status is no conflict


def test_former_assignee_offline_work_is_recorded_and_its_completion_surfaces(
    store: MemoryStore,
) -> None:
    store.server_write("work_orders", ORDER, {"status": "on_site"})
    device = ctx(store)
    store.server_write("work_orders", ORDER, {"lead_technician_id": OTHER, "helper_ids": "[]"})
    payload = {
        **changes("work_order_notes", created=[note(uid("n"))]),
        **changes("status_events", created=[event("completed", 9, resolution_summary="Done")]),
    }
    report = apply_push(store, payload, device)
    assert uid("n") in store.rows["work_order_notes"]
    assert report.status[0]["code"] == "not_assigned_to_order"
    assert order(store)["status"] == "on_site"
    assert kinds(store) == [("status_rejected", "to_status", "server")]


# -- the store's own bookkeeping ----------------------------------------------------------


def test_changed_since_unions_columns_of_others_after_the_cursor(store: MemoryStore) -> None:
    cursor = store.current_seq()
    store.server_write("work_orders", ORDER, {"priority": "high"})
    apply_push(store, changes("work_orders", updated=[updated(ORDER, actual_end=T0)]), ctx(store))
    store.touch("work_orders", ORDER, ctx(store))
    assert store.changed_since("work_orders", ORDER, cursor, "phone-1") == {"priority"}
    assert store.changed_since("work_orders", ORDER, cursor, "phone-2") == {
        "priority",
        "actual_end",
    }
    assert "title" in store.changed_since("work_orders", ORDER, None, "phone-1")


def test_pull_sends_own_inserts_as_updated_and_deletions_as_ids(store: MemoryStore) -> None:
    cursor = store.current_seq()
    apply_push(store, changes("work_order_notes", created=[note(uid("mine"))]), ctx(store))
    store.server_write("work_order_notes", uid("office"), {"work_order_id": ORDER, "body": "hi"})
    store.server_delete("parts", PART)
    mine = store.pull(cursor, "phone-1")
    theirs = store.pull(cursor, "phone-2")
    assert [r["id"] for r in mine["work_order_notes"]["updated"]] == [uid("mine")]
    assert [r["id"] for r in mine["work_order_notes"]["created"]] == [uid("office")]
    assert len(theirs["work_order_notes"]["created"]) == 2
    assert mine["parts"]["deleted"] == [PART]
    assert mine["work_orders"] == {"created": [], "updated": [], "deleted": []}
    first = store.pull(None, "phone-3")
    assert {r["id"] for r in first["work_orders"]["created"]} == {ORDER, FOREIGN}
    assert first["parts"]["deleted"] == []


def test_client_bookkeeping_timestamps_are_ignored_silently(store: MemoryStore) -> None:
    """WatermelonDB lists updated_at in _changed on every edit; that is not a conflict."""
    push = changes("work_orders", updated=[updated(ORDER, technician_notes="n", updated_at=123)])
    report = apply_push(store, push, ctx(store))
    assert report.conflicts == []
    loaded = store.load("work_orders", ORDER)
    assert loaded is not None and loaded["technician_notes"] == "n"
