"""Sync scope over HTTP: reassignment in two steps, settling, office deletes, conflict base."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from server.field.models import WorkOrderNote
from server.notifications.models import NotificationOutbox
from server.sync.models import SyncCounter
from server.work_orders.models import WorkOrder
from tests.api.test_sync import dev, ids, note, pull, push, row

URL = "/api/v1/sync"


def clean_pull(
    api: Any, cursor: int, clean: Any, device: str = "phone-1", pending: str = "0"
) -> Any:
    """A pull reporting the app's last clean sync, and whether anything is unpushed now."""
    headers = {**dev(device), "X-Sync-Clean-Through": str(clean), "X-Sync-Pending": pending}
    return api.get(URL, query_string={"last_pulled_at": cursor}, headers=headers)


def reassign(world: Any, order_id: Any, to: Any) -> None:
    """Dispatcher moves the order to another lead technician."""
    etag = world.dispatcher.get(f"/api/v1/work-orders/{order_id}").headers["ETag"]
    r = world.dispatcher.patch(
        f"/api/v1/work-orders/{order_id}",
        json={"lead_technician_id": str(to.id)},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200, r.json


def notes_edit(order_id: Any, text: str) -> dict[str, Any]:
    """A WatermelonDB update of the order's technician notes."""
    return {"id": str(order_id), "technician_notes": text, "_changed": "technician_notes"}


def test_a_clean_report_drops_a_reassigned_order_in_the_same_pull(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    reassign(world, field.mine.id, world.other_tech)
    leaving = pull(world.technician, t0).json
    assert str(field.mine.id) in ids(leaving, "work_orders", "updated")
    t1 = leaving["timestamp"]
    # The app's sync at t1 had nothing to push: it says so on its next pull.
    gone = clean_pull(world.technician, t1, t1).json
    assert str(field.mine.id) in ids(gone, "work_orders", "deleted")
    assert str(field.site.id) in ids(gone, "sites", "deleted")
    assert str(field.customer.id) in ids(gone, "customers", "deleted")
    # Said once, done once: later pulls do not repeat the delete.
    again = clean_pull(world.technician, gone["timestamp"], gone["timestamp"]).json
    assert not ids(again, "work_orders", "deleted")


def test_an_install_that_reports_clean_pulls_is_not_settled_by_a_push(
    world: Any, field: Any
) -> None:
    """The chaos case: push, edit again offline, pull: the drop would destroy that edit."""
    t0 = pull(world.technician).json["timestamp"]
    t0 = clean_pull(world.technician, t0, t0).json["timestamp"]  # the app reports clean pulls
    reassign(world, field.mine.id, world.other_tech)
    t1 = pull(world.technician, t0).json["timestamp"]  # leaving: sent as updated
    edit = {"work_orders": {"created": [], "updated": [notes_edit(field.mine.id, "a")]}}
    assert push(world.technician, edit, t1).status_code == 200
    # A second offline edit is pending at the next pull: the app says so.
    still = clean_pull(world.technician, t1, t1, pending="1").json
    assert str(field.mine.id) not in ids(still, "work_orders", "deleted")
    assert str(field.mine.id) not in ids(
        pull(world.technician, still["timestamp"]).json, "work_orders", "deleted"
    )
    edit = {"work_orders": {"created": [], "updated": [notes_edit(field.mine.id, "b")]}}
    assert push(world.technician, edit, still["timestamp"]).status_code == 200
    gone = clean_pull(world.technician, still["timestamp"], still["timestamp"]).json
    assert str(field.mine.id) in ids(gone, "work_orders", "deleted")


def test_an_install_without_clean_reports_settles_by_its_committed_push(
    world: Any, field: Any
) -> None:
    """A stock WatermelonDB app never sends the header: a committed push settles it."""
    t0 = pull(world.technician).json["timestamp"]
    reassign(world, field.mine.id, world.other_tech)
    t1 = pull(world.technician, t0).json["timestamp"]
    edit = {"work_orders": {"created": [], "updated": [notes_edit(field.mine.id, "a")]}}
    assert push(world.technician, edit, t1).status_code == 200
    gone = pull(world.technician, t1).json
    assert str(field.mine.id) in ids(gone, "work_orders", "deleted")


def test_a_device_that_never_settles_keeps_the_order(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    reassign(world, field.mine.id, world.other_tech)
    t1 = pull(world.technician, t0).json["timestamp"]
    # Pull-only syncs without a clean report: it may still hold unpushed edits.
    later = pull(world.technician, t1).json
    assert not ids(later, "work_orders", "deleted")
    assert not ids(later, "work_orders", "updated")
    # Another install of the same technician that settles drops it; this one still holds it.
    tab0 = pull(world.technician, device="tablet").json["timestamp"]
    assert str(field.mine.id) not in ids(
        pull(world.technician, tab0, device="tablet").json, "work_orders", "updated"
    )
    assert not ids(pull(world.technician, later["timestamp"]).json, "work_orders", "deleted")


def test_an_order_that_comes_back_before_settling_is_not_dropped(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    reassign(world, field.mine.id, world.other_tech)
    t1 = pull(world.technician, t0).json["timestamp"]
    reassign(world, field.mine.id, world.tech)
    back = clean_pull(world.technician, t1, t1).json
    assert str(field.mine.id) not in ids(back, "work_orders", "deleted")
    assert row(back, "work_orders", field.mine.id)["lead_technician_id"] == str(world.tech.id)


def test_bad_clean_reports_are_422(world: Any, field: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    for bad in ("abc", "-1", "1.5"):
        r = clean_pull(world.technician, t0, bad)
        assert r.status_code == 422 and r.json["code"] == "invalid_clean_cursor", bad
    r = clean_pull(world.technician, t0, t0, pending="maybe")
    assert r.status_code == 422 and r.json["code"] == "invalid_pending_header"
    r = clean_pull(world.technician, t0, t0 + 1)  # never handed to this install
    assert r.status_code == 422 and r.json["code"] == "invalid_clean_cursor"
    r = clean_pull(world.technician, t0, t0, device="new-phone")  # unknown install
    assert r.status_code == 422 and r.json["code"] == "invalid_clean_cursor"


def test_replacement_sync_keeps_an_order_the_device_still_holds(
    world: Any, field: Any, session: Any
) -> None:
    t0 = pull(world.technician).json["timestamp"]
    reassign(world, field.mine.id, world.other_tech)
    t1 = pull(world.technician, t0).json["timestamp"]
    session.get(SyncCounter, world.a.id).pruned_through = t1 + 1
    session.commit()
    r = pull(world.technician, t1).json
    assert r["experimentalStrategy"] == "replacement"
    # A replacement destroys every local record it does not name: name the held order.
    assert str(field.mine.id) in ids(r, "work_orders", "created")
    fresh = pull(world.technician, device="new-phone").json
    assert str(field.mine.id) not in ids(fresh, "work_orders", "created")


def test_clean_report_moves_the_conflict_base(world: Any, field: Any) -> None:
    """Receiving a value and then editing it is not a conflict once the app says so."""
    p0 = pull(world.technician, device="phone").json["timestamp"]
    t0 = pull(world.technician, device="tablet").json["timestamp"]
    r = push(
        world.technician,
        {"work_orders": {"updated": [notes_edit(field.mine.id, "phone: first")]}},
        p0,
        device="phone",
    )
    assert r.status_code == 200 and r.json["conflicts"] == []
    t1 = pull(world.technician, t0, device="tablet").json
    assert row(t1, "work_orders", field.mine.id)["technician_notes"] == "phone: first"
    # The tablet's sync at t1 pushed nothing; then the user appended to what it received.
    t2 = clean_pull(world.technician, t1["timestamp"], t1["timestamp"], device="tablet")
    assert t2.status_code == 200, t2.json
    r = push(
        world.technician,
        {"work_orders": {"updated": [notes_edit(field.mine.id, "phone: first\ntablet: more")]}},
        t2.json["timestamp"],
        device="tablet",
    )
    assert r.status_code == 200 and r.json["conflicts"] == []


def test_without_a_clean_report_the_same_edit_is_logged_not_lost(world: Any, field: Any) -> None:
    """The conservative default: a possible conflict is logged, the device value kept."""
    p0 = pull(world.technician, device="phone").json["timestamp"]
    t0 = pull(world.technician, device="tablet").json["timestamp"]
    push(
        world.technician,
        {"work_orders": {"updated": [notes_edit(field.mine.id, "phone: first")]}},
        p0,
        device="phone",
    )
    t1 = pull(world.technician, t0, device="tablet").json["timestamp"]
    t2 = pull(world.technician, t1, device="tablet").json["timestamp"]
    r = push(
        world.technician,
        {"work_orders": {"updated": [notes_edit(field.mine.id, "phone: first\ntablet: more")]}},
        t2,
        device="tablet",
    )
    assert [(c["column"], c["kind"], c["kept"]) for c in r.json["conflicts"]] == [
        ("technician_notes", "same_field", "device")
    ]


def test_office_deletes_reach_devices(world: Any, field: Any, session: Any) -> None:
    t0 = pull(world.technician).json["timestamp"]
    n1, n2 = note(field.mine.id, "first"), note(field.mine.id, "second")
    push(world.technician, {"work_order_notes": {"created": [n1, n2]}}, t0)
    t1 = pull(world.technician, t0).json["timestamp"]
    t_tab = pull(world.technician, device="tablet").json["timestamp"]
    other = pull(world.other_technician, device="their-phone").json["timestamp"]
    # An administrator removes one note (a GDPR request, say)...
    session.delete(session.get(WorkOrderNote, uuid.UUID(n1["id"])))
    session.commit()
    body = pull(world.technician, t1).json
    assert ids(body, "work_order_notes", "deleted") == {n1["id"]}
    t2 = body["timestamp"]
    # ...then the whole order; its records go with it, on every device that holds it.
    session.delete(session.get(WorkOrder, field.mine.id))
    session.commit()
    body = pull(world.technician, t2).json
    assert ids(body, "work_orders", "deleted") == {str(field.mine.id)}
    assert n2["id"] in ids(body, "work_order_notes", "deleted")
    tablet = pull(world.technician, t_tab, device="tablet").json
    assert str(field.mine.id) in ids(tablet, "work_orders", "deleted")
    assert {n1["id"], n2["id"]} <= ids(tablet, "work_order_notes", "deleted")
    # A technician who never held it hears nothing about it.
    theirs = pull(world.other_technician, other, device="their-phone").json
    assert not ids(theirs, "work_orders", "deleted")
    assert not ids(theirs, "work_order_notes", "deleted")


def test_a_correction_wakes_the_technician(world: Any, field: Any, session: Any) -> None:
    """A push the server partly refused: the device's copy is wrong until it syncs again."""
    t0 = pull(world.technician).json["timestamp"]
    mark = session.scalar(select(func.coalesce(func.max(NotificationOutbox.id), 0)))
    refused = {"id": str(field.mine.id), "priority": "urgent", "_changed": "priority"}
    r = push(world.technician, {"work_orders": {"updated": [refused]}}, t0)
    assert [c["kind"] for c in r.json["conflicts"]] == ["not_permitted"]
    tickles = list(
        session.scalars(
            select(NotificationOutbox).where(
                NotificationOutbox.id > mark, NotificationOutbox.kind == "sync_tickle"
            )
        )
    )
    assert [t.user_id for t in tickles] == [world.technician.user.id]
