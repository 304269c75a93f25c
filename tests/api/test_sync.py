"""Sync over HTTP: WatermelonDB pull/push, field merge, status events, scope, idempotency."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import pytest

from server.sync.models import SyncCounter

URL = "/api/v1/sync"
# Device clock: half an hour ago, i.e. after the orders were created and before the sync.
DEVICE_NOW = int(time.time() * 1000) - 30 * 60 * 1000


def dev(name: str) -> dict[str, str]:
    return {"X-Device-Id": name}


def pull(api: Any, cursor: Any = None, device: str = "phone-1", **params: Any) -> Any:
    query = {"last_pulled_at": "null" if cursor is None else cursor, **params}
    return api.get(URL, query_string=query, headers=dev(device))


def push(
    api: Any, changes: dict[str, Any], cursor: int, device: str = "phone-1", key: str | None = None
) -> Any:
    headers = dev(device)
    if key:
        headers["Idempotency-Key"] = key
    return api.post(f"{URL}?last_pulled_at={cursor}", json=changes, headers=headers)


def ids(body: dict[str, Any], table: str, bucket: str) -> set[str]:
    rows = body["changes"][table][bucket]
    return set(rows) if bucket == "deleted" else {r["id"] for r in rows}


def row(body: dict[str, Any], table: str, row_id: Any) -> dict[str, Any]:
    for bucket in ("created", "updated"):
        for record in body["changes"][table][bucket]:
            if record["id"] == str(row_id):
                return record
    raise AssertionError(f"{table}/{row_id} not in pull")


def test_first_pull_is_the_technicians_world_only(world: Any, field: Any) -> None:
    r = pull(world.technician)
    assert r.status_code == 200, r.json
    body = r.json
    assert isinstance(body["timestamp"], int)
    assert ids(body, "work_orders", "created") == {str(field.mine.id)}
    assert ids(body, "sites", "created") == {str(field.site.id)}
    assert ids(body, "customers", "created") == {str(field.customer.id)}
    assert ids(body, "equipment", "created") == {str(field.unit.id)}
    assert str(field.part.id) in ids(body, "parts", "created")
    order = row(body, "work_orders", field.mine.id)
    assert order["lat"] == pytest.approx(31.2350) and order["status"] == "dispatched"
    assert isinstance(order["scheduled_start"], int)  # epoch milliseconds
    assert json.loads(order["helper_ids"]) == []


def test_only_technicians_sync_and_device_id_is_required(world: Any, field: Any) -> None:
    r = pull(world.dispatcher)
    assert r.status_code == 403 and r.json["code"] == "not_a_technician"
    r = world.technician.get(URL, query_string={"last_pulled_at": "null"})
    assert r.status_code == 400 and r.json["code"] == "device_id_required"
    assert world.api.get(URL, headers=dev("x")).status_code == 401


@pytest.mark.parametrize("cursor", ["-1", "abc", "1.5", "9" * 30])
def test_malformed_cursor(world: Any, field: Any, cursor: str) -> None:
    r = pull(world.technician, cursor)
    assert r.status_code == 422 and r.json["code"] == "invalid_cursor"


def test_cursor_from_the_future_is_refused(world: Any, field: Any) -> None:
    now = pull(world.technician).json["timestamp"]
    r = pull(world.technician, now + 1000)
    assert r.status_code == 422 and r.json["code"] == "invalid_cursor"


def test_old_schema_gets_426_with_minimum(world: Any, field: Any) -> None:
    r = pull(world.technician, schema_version=0)
    assert r.status_code == 426 and r.json["min_schema_version"] == 1
    # An app migrating from a version the server no longer serves must reinstall.
    r = pull(world.technician, 1, schema_version=2, migration='{"from":0,"tables":[]}')
    assert r.status_code == 426 and r.json["min_schema_version"] == 1


def test_incremental_pull_sees_office_edits_of_own_orders_only(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    assert pull(world.technician, t0).json["changes"]["work_orders"]["updated"] == []
    for order in (field.mine, field.theirs):
        etag = world.dispatcher.get(f"/api/v1/work-orders/{order.id}").headers["ETag"]
        r = world.dispatcher.patch(
            f"/api/v1/work-orders/{order.id}",
            json={"priority": "urgent"},
            headers={"If-Match": etag},
        )
        assert r.status_code == 200
    body = pull(world.technician, t0).json
    assert ids(body, "work_orders", "updated") == {str(field.mine.id)}
    assert row(body, "work_orders", field.mine.id)["priority"] == "urgent"
    assert body["timestamp"] > t0


def test_different_fields_both_survive_without_conflict(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    etag = world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}").headers["ETag"]
    world.dispatcher.patch(
        f"/api/v1/work-orders/{field.mine.id}",
        json={"priority": "high"},
        headers={"If-Match": etag},
    )
    r = push(
        world.technician,
        {
            "work_orders": {
                "created": [],
                "deleted": [],
                "updated": [
                    {
                        "id": str(field.mine.id),
                        "technician_notes": "Door sensor dirty",
                        "priority": "normal",
                        "_status": "updated",
                        "_changed": "technician_notes",
                    }
                ],
            }
        },
        t0,
    )
    assert r.status_code == 200, r.json
    assert r.json["conflicts"] == []
    order = world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}").json
    assert order["priority"] == "high"  # the stale 'normal' was not in _changed
    body = pull(world.technician, t0).json
    record = row(body, "work_orders", field.mine.id)
    assert record["technician_notes"] == "Door sensor dirty" and record["priority"] == "high"


def test_device_cannot_change_office_fields_and_is_corrected(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    r = push(
        world.technician,
        {
            "work_orders": {
                "updated": [{"id": str(field.mine.id), "priority": "low", "_changed": "priority"}]
            }
        },
        t0,
    )
    assert r.status_code == 200
    assert [(c["column"], c["kind"], c["kept"]) for c in r.json["conflicts"]] == [
        ("priority", "not_permitted", "server")
    ]
    body = pull(world.technician, t0).json
    assert row(body, "work_orders", field.mine.id)["priority"] == "normal"
    log = world.dispatcher.get("/api/v1/sync/conflicts").json
    assert log[0]["device_value"] == "low" and log[0]["server_value"] == "normal"


def test_same_device_owned_field_from_two_devices_keeps_latest_push_and_logs(
    world: Any, field: Any, session: Any
) -> None:
    # The helper shares the order; both edit the technician notes offline.
    from server.work_orders.models import WorkOrderHelper

    session.add(
        WorkOrderHelper(
            tenant_id=world.a.id, work_order_id=field.mine.id, technician_id=world.other_tech.id
        )
    )
    session.commit()
    t_lead = pull(world.technician).json["timestamp"]
    t_help = pull(world.other_technician, device="phone-2").json["timestamp"]
    edit = {"id": str(field.mine.id), "_changed": "technician_notes"}
    assert (
        push(
            world.technician,
            {"work_orders": {"updated": [{**edit, "technician_notes": "lead: replaced sensor"}]}},
            t_lead,
        ).status_code
        == 200
    )
    r = push(
        world.other_technician,
        {"work_orders": {"updated": [{**edit, "technician_notes": "helper: cleaned rail"}]}},
        t_help,
        device="phone-2",
    )
    assert r.status_code == 200
    assert [(c["kind"], c["kept"]) for c in r.json["conflicts"]] == [("same_field", "device")]
    order_notes = row(pull(world.technician, t_lead).json, "work_orders", field.mine.id)
    assert order_notes["technician_notes"] == "helper: cleaned rail"
    logged = world.dispatcher.get("/api/v1/sync/conflicts?kind=same_field").json
    assert logged[0]["server_value"] == "lead: replaced sensor"  # the overwritten value, kept


def note(order_id: Any, text: str = "Checked brakes", note_id: str | None = None) -> dict[str, Any]:
    return {
        "id": note_id or str(uuid.uuid4()),
        "work_order_id": str(order_id),
        "body": text,
        "occurred_at": DEVICE_NOW,
        "_status": "created",
        "_changed": "",
    }


def test_append_only_rows_are_idempotent_and_not_echoed_as_created(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    n = note(field.mine.id)
    changes = {"work_order_notes": {"created": [n], "updated": [], "deleted": []}}
    first = push(world.technician, changes, t0)
    assert first.status_code == 200 and first.json["inserted"] == {"work_order_notes": 1}
    again = push(world.technician, changes, t0)
    assert again.json["inserted"] == {} and again.json["unchanged"] == {"work_order_notes": 1}
    body = pull(world.technician, t0).json
    assert n["id"] not in ids(body, "work_order_notes", "created")  # WatermelonDB #649
    other_device = pull(world.technician, t0, device="tablet").json
    assert n["id"] in ids(other_device, "work_order_notes", "created")


def test_modified_replay_of_append_only_row_is_logged_not_applied(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    n = note(field.mine.id)
    push(world.technician, {"work_order_notes": {"created": [n]}}, t0)
    r = push(world.technician, {"work_order_notes": {"created": [{**n, "body": "edited"}]}}, t0)
    assert r.json["conflicts"][0]["kind"] == "append_only_modified"
    stored = row(pull(world.technician, t0, device="tablet").json, "work_order_notes", n["id"])
    assert stored["body"] == "Checked brakes"


def status(order_id: Any, to: str, at: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "work_order_id": str(order_id),
        "to_status": to,
        "occurred_at": at,
        **extra,
    }


def test_offline_status_events_replay_in_device_order(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    base = DEVICE_NOW
    events = [
        status(field.mine.id, "completed", base + 4000, resolution_summary="Replaced sensor"),
        status(field.mine.id, "accepted", base + 1000),
        status(field.mine.id, "on_site", base + 3000, lat=31.2351, lon=121.5011, accuracy_m=5),
        status(field.mine.id, "en_route", base + 2000),
    ]
    r = push(world.technician, {"status_events": {"created": events}}, t0)
    assert r.status_code == 200, r.json
    assert [s["outcome"] for s in r.json["status_events"]] == ["applied"] * 4
    order = world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}").json
    assert order["status"] == "completed" and order["resolution_summary"] == "Replaced sensor"
    history = world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}/events").json
    moves = [e["to_status"] for e in history if e["event_type"] == "status_changed"]
    assert moves == ["accepted", "en_route", "on_site", "completed"]
    on_site = next(e for e in history if e["to_status"] == "on_site")
    device_time = dt.datetime.fromtimestamp((base + 3000) / 1000, dt.UTC)
    assert dt.datetime.fromisoformat(on_site["occurred_at"]) == device_time  # not sync time
    assert on_site["location"] == {"lat": 31.2351, "lon": 121.5011}


def test_completed_offline_while_cancelled_surfaces_in_conflict_log(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    r = world.dispatcher.post(
        f"/api/v1/work-orders/{field.mine.id}/transitions",
        json={"to": "cancelled", "reason": "Customer fixed it"},
    )
    assert r.status_code == 200
    event = status(field.mine.id, "accepted", DEVICE_NOW)
    r = push(world.technician, {"status_events": {"created": [event]}}, t0)
    assert r.status_code == 200  # never a failed push
    assert r.json["status_events"][0]["outcome"] == "rejected"
    assert (
        world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}").json["status"] == "cancelled"
    )
    conflicts = world.dispatcher.get("/api/v1/sync/conflicts?kind=status_rejected").json
    assert conflicts[0]["row_id"] == event["id"] and conflicts[0]["detail"] == "invalid_transition"
    body = pull(world.technician, t0).json
    assert row(body, "status_events", event["id"])["outcome"] == "rejected"
    assert row(body, "work_orders", field.mine.id)["status"] == "cancelled"


def test_reassignment_moves_order_between_devices(world: Any, field: Any) -> None:
    t_old = pull(world.technician).json["timestamp"]
    n = note(field.mine.id)
    push(world.technician, {"work_order_notes": {"created": [n]}}, t_old)
    t_old = pull(world.technician, t_old).json["timestamp"]
    t_new = pull(world.other_technician, device="phone-2").json["timestamp"]
    etag = world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}").headers["ETag"]
    r = world.dispatcher.patch(
        f"/api/v1/work-orders/{field.mine.id}",
        json={"lead_technician_id": str(world.other_tech.id)},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200
    # Step one: the old device learns of the reassignment but keeps the order, so its
    # unpushed edits (WatermelonDB would destroy them with a deleted record) survive.
    leaving = pull(world.technician, t_old).json
    assert row(leaving, "work_orders", field.mine.id)["lead_technician_id"] == str(
        world.other_tech.id
    )
    assert not ids(leaving, "work_orders", "deleted")
    assert not ids(leaving, "work_order_notes", "deleted")
    assert not ids(leaving, "sites", "deleted")
    came = pull(world.other_technician, t_new, device="phone-2").json
    assert str(field.mine.id) in ids(came, "work_orders", "created")
    assert n["id"] in ids(came, "work_order_notes", "created")
    assert str(field.site.id) in ids(came, "sites", "created")
    # Offline work done before the reassignment still lands (and is not a foreign row),
    # the order row's technician-owned columns included.
    late = note(field.mine.id, "done before I knew")
    edit = {
        "id": str(field.mine.id),
        "technician_notes": "replaced the door sensor",
        "_changed": "technician_notes",
    }
    r = push(
        world.technician,
        {"work_order_notes": {"created": [late]}, "work_orders": {"updated": [edit]}},
        leaving["timestamp"],
    )
    assert r.status_code == 200 and r.json["inserted"] == {"work_order_notes": 1}
    assert r.json["updated"] == {"work_orders": 1}
    # Step two: after that push the device holds nothing unsaved: now it drops the order.
    gone = pull(world.technician, leaving["timestamp"]).json
    assert str(field.mine.id) in ids(gone, "work_orders", "deleted")
    assert {n["id"], late["id"]} <= ids(gone, "work_order_notes", "deleted")
    assert str(field.site.id) in ids(gone, "sites", "deleted")
    theirs = pull(world.other_technician, came["timestamp"], device="phone-2").json
    assert row(theirs, "work_orders", field.mine.id)["technician_notes"] == (
        "replaced the door sensor"
    )
    assert late["id"] in ids(theirs, "work_order_notes", "created")


def test_idempotency_key_replays_same_answer_once(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    changes = {"work_order_notes": {"created": [note(field.mine.id)]}}
    first = push(world.technician, changes, t0, key="push-1")
    second = push(world.technician, changes, t0, key="push-1")
    assert first.json == second.json and first.json["inserted"] == {"work_order_notes": 1}
    other = push(
        world.technician, {"work_order_notes": {"created": [note(field.mine.id)]}}, t0, key="push-1"
    )
    assert other.status_code == 422 and other.json["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    "changes,where",
    [
        ({"invoices": {"created": []}}, "invoices"),
        (
            {"work_order_notes": {"created": [{"id": "x", "colour": 1}]}},
            "work_order_notes.created[0]",
        ),
        (
            {"work_order_notes": {"created": [{"id": "x", "body": 5}]}},
            "work_order_notes.created[0]",
        ),
        ({"customers": {"updated": [{"id": "x", "name": "y"}]}}, "customers.updated[0]"),
        (
            {"work_orders": {"updated": [{"id": "x", "checklist_answers": "{not json"}]}},
            "work_orders.updated[0]",
        ),
        (
            {"status_events": {"created": [{"id": "x", "occurred_at": -5}]}},
            "status_events.created[0]",
        ),
        ({"work_order_notes": "nope"}, "work_order_notes"),
    ],
)
def test_bad_pushes_are_422_and_write_nothing(
    world: Any, field: Any, changes: Any, where: str
) -> None:
    t0 = pull(world.technician).json["timestamp"]
    good = note(field.mine.id)
    payload = {**changes}
    payload.setdefault(
        "work_order_notes", {"created": [good]}
    ) if "work_order_notes" not in changes else None
    r = push(world.technician, payload, t0)
    assert r.status_code == 422 and r.json["code"] == "invalid_push"
    assert where in r.json["errors"]
    assert good["id"] not in ids(
        pull(world.technician, t0, device="tablet").json, "work_order_notes", "created"
    )


def test_rows_of_another_technicians_order_are_refused(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    mine, theirs = note(field.mine.id), note(field.theirs.id)
    r = push(world.technician, {"work_order_notes": {"created": [mine, theirs]}}, t0)
    assert r.status_code == 422 and r.json["code"] == "foreign_or_invalid_rows"
    assert list(r.json["errors"]) == [f"work_order_notes/{theirs['id']}"]
    assert mine["id"] not in ids(
        pull(world.technician, t0, device="tablet").json, "work_order_notes", "created"
    )


def test_check_in_geofence(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    base = {"work_order_id": str(field.mine.id), "occurred_at": DEVICE_NOW, "kind": "in"}
    near = {**base, "id": str(uuid.uuid4()), "lat": 31.2352, "lon": 121.5012, "accuracy_m": 8}
    far = {**base, "id": str(uuid.uuid4()), "lat": 31.2500, "lon": 121.5300, "accuracy_m": 8}
    r = push(world.technician, {"check_ins": {"created": [near, far]}}, t0)
    assert r.status_code == 200, r.json
    body = pull(world.technician, t0).json
    inside, outside = row(body, "check_ins", near["id"]), row(body, "check_ins", far["id"])
    assert inside["within_geofence"] is True and inside["distance_m"] < 50
    assert outside["within_geofence"] is False and outside["distance_m"] > 2000


def test_stale_cursor_gets_replacement_sync(world: Any, field: Any, session: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    counter = session.get(SyncCounter, world.a.id)
    counter.pruned_through = t0 + 1
    session.commit()
    r = pull(world.technician, t0)
    assert r.json["experimentalStrategy"] == "replacement"
    assert ids(r.json, "work_orders", "created") == {str(field.mine.id)}


def test_device_delete_is_refused_and_restored(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    r = push(world.technician, {"work_orders": {"deleted": [str(field.mine.id)]}}, t0)
    assert r.status_code == 200 and r.json["conflicts"][0]["kind"] == "delete_refused"
    # WatermelonDB destroyed its copy after the push: it comes back as created there...
    assert str(field.mine.id) in ids(pull(world.technician, t0).json, "work_orders", "created")
    # ...and as a plain update on the technician's other device, which still has it.
    other = pull(world.technician, t0, device="tablet").json
    assert str(field.mine.id) in ids(other, "work_orders", "updated")
    assert str(field.mine.id) not in ids(other, "work_orders", "created")
    r = push(world.technician, {"work_orders": {"deleted": [str(uuid.uuid4())]}}, t0)
    assert r.status_code == 200 and r.json["conflicts"] == []


def test_conflict_log_is_for_the_office_and_resolvable(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    push(
        world.technician,
        {
            "work_orders": {
                "updated": [{"id": str(field.mine.id), "priority": "low", "_changed": "priority"}]
            }
        },
        t0,
    )
    assert world.technician.get("/api/v1/sync/conflicts").status_code == 403
    entry = world.dispatcher.get("/api/v1/sync/conflicts?resolved=false").json[0]
    r = world.dispatcher.post(f"/api/v1/sync/conflicts/{entry['id']}/resolve")
    assert r.status_code == 200 and r.json["resolved_at"]
    assert world.dispatcher.get("/api/v1/sync/conflicts?resolved=false").json == []
    assert world.b_api.post(f"/api/v1/sync/conflicts/{entry['id']}/resolve").status_code == 404


def test_same_field_conflict_is_caught_when_devices_pull_before_pushing(
    world: Any, field: Any, session: Any
) -> None:
    """WatermelonDB pulls first (keeping local edits), then pushes with the new cursor."""
    from server.work_orders.models import WorkOrderHelper

    session.add(
        WorkOrderHelper(
            tenant_id=world.a.id, work_order_id=field.mine.id, technician_id=world.other_tech.id
        )
    )
    session.commit()
    t_lead = pull(world.technician).json["timestamp"]
    t_help = pull(world.other_technician, device="phone-2").json["timestamp"]
    edit = {"id": str(field.mine.id), "_changed": "technician_notes"}
    # Lead syncs: pull, then push.
    t = pull(world.technician, t_lead).json["timestamp"]
    push(
        world.technician,
        {"work_orders": {"updated": [{**edit, "technician_notes": "lead: replaced sensor"}]}},
        t,
    )
    # Helper edited offline against t_help; its pull now sees the lead's notes but keeps
    # its own, then pushes with the fresh cursor.
    t2 = pull(world.other_technician, t_help, device="phone-2").json["timestamp"]
    r = push(
        world.other_technician,
        {"work_orders": {"updated": [{**edit, "technician_notes": "helper: cleaned rail"}]}},
        t2,
        device="phone-2",
    )
    assert [(c["kind"], c["kept"]) for c in r.json["conflicts"]] == [("same_field", "device")]
    logged = world.dispatcher.get("/api/v1/sync/conflicts?kind=same_field").json
    assert logged[0]["server_value"] == "lead: replaced sensor"
    # After a committed push the base resets: the next edit cycle starts clean.
    t3 = pull(world.other_technician, t2, device="phone-2").json["timestamp"]
    r = push(
        world.other_technician,
        {"work_orders": {"updated": [{**edit, "technician_notes": "helper: second visit"}]}},
        t3,
        device="phone-2",
    )
    assert r.json["conflicts"] == []


def test_pruning_forces_replacement_and_conservative_merge(
    world: Any, field: Any, session: Any, app: Any
) -> None:
    """After the tombstone window is pruned, stale cursors resync and merges log, not guess."""
    from server.sync.feed import prune

    t0 = pull(world.technician).json["timestamp"]
    etag = world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}").headers["ETag"]
    world.dispatcher.patch(
        f"/api/v1/work-orders/{field.mine.id}",
        json={"priority": "high"},
        headers={"If-Match": etag},
    )
    t1 = pull(world.technician, t0, device="tablet").json["timestamp"]
    with app.app_context():
        from server.db import db

        s = db.session()
        s.info["system"] = True
        removed = prune(s, world.a.id, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
        db.session.remove()
    assert removed > 0
    assert session.get(SyncCounter, world.a.id).pruned_through >= t1 - 1
    r = pull(world.technician, t0)
    assert r.json["experimentalStrategy"] == "replacement"
    # A push whose base predates the pruned history: same-field is logged, never silent.
    r = push(
        world.technician,
        {
            "work_orders": {
                "updated": [
                    {
                        "id": str(field.mine.id),
                        "technician_notes": "x",
                        "_changed": "technician_notes",
                    }
                ]
            }
        },
        t0,
        device="old-phone",
    )
    assert [(c["kind"], c["kept"]) for c in r.json["conflicts"]] == [("same_field", "device")]


def test_offline_note_on_an_order_reassigned_meanwhile_leaves_the_old_device(
    world: Any, field: Any
) -> None:
    """Found by the chaos test: the note is kept on the server, and the device drops it."""
    t0 = pull(world.technician).json["timestamp"]
    etag = world.dispatcher.get(f"/api/v1/work-orders/{field.mine.id}").headers["ETag"]
    world.dispatcher.patch(
        f"/api/v1/work-orders/{field.mine.id}",
        json={"lead_technician_id": str(world.other_tech.id)},
        headers={"If-Match": etag},
    )
    t1 = pull(world.technician, t0).json["timestamp"]  # the order leaves this device
    late = note(field.mine.id, "written before I knew")
    assert push(world.technician, {"work_order_notes": {"created": [late]}}, t1).status_code == 200
    body = pull(world.technician, t1).json
    assert late["id"] in ids(body, "work_order_notes", "deleted")
    fresh = pull(world.technician, device="fresh-install").json
    assert late["id"] not in ids(fresh, "work_order_notes", "created")
    came = pull(world.other_technician, device="phone-2").json
    assert late["id"] in ids(came, "work_order_notes", "created")
