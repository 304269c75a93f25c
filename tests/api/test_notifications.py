"""Push notifications: token registry, outbox rows written with the change, FCM delivery."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from firebase_admin import exceptions as fb_exceptions
from firebase_admin import messaging
from sqlalchemy import delete, event, func, select, text
from sqlalchemy.orm import Session

from server.db import db, set_tenant, utcnow
from server.field.models import WorkOrderNote
from server.notifications.models import DeviceToken, NotificationOutbox
from server.notifications.sender import FakeSender, FcmSender, Outcome, Push, make_sender
from server.notifications.worker import backoff, deliver_pending
from server.work_orders.models import WorkOrder
from tests import factories as f
from tests.conftest import IS_POSTGRES

URL = "/api/v1/devices/tokens"
ORDERS = "/api/v1/work-orders"


def fcm_token() -> str:
    """Something shaped like an FCM registration token."""
    return f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(105)}"


def register(api: Any, token: str, platform: str = "android", **extra: Any) -> Any:
    return api.put(URL, json={"token": token, "platform": platform, **extra})


def outbox(session: Session, after: int = 0) -> list[NotificationOutbox]:
    session.expire_all()
    stmt = select(NotificationOutbox).where(NotificationOutbox.id > after)
    return list(session.scalars(stmt.order_by(NotificationOutbox.id)))


def high_water(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(NotificationOutbox.id), 0))) or 0)


def tokens_in_db(session: Session) -> list[DeviceToken]:
    session.expire_all()
    return list(session.scalars(select(DeviceToken).order_by(DeviceToken.created_at)))


def deliver(sender: Any, now: dt.datetime | None = None, **kw: Any) -> Any:
    return deliver_pending(
        db.session(), sender, now=now or utcnow(), limit=kw.pop("limit", 100), **kw
    )


def drain(session: Session) -> None:
    """Mark what the fixtures queued as sent, so a test sees only its own pushes."""
    for row in outbox(session):
        row.sent_at = row.sent_at or utcnow()
    session.commit()


@pytest.fixture()
def order(world: Any, session: Any) -> WorkOrder:
    """An unassigned new order in tenant A."""
    site = f.make_site(session, world.a, f.make_customer(session, world.a))
    wo = f.make_work_order(session, world.a, site, title="Elevator stuck on floor 3")
    session.commit()
    return wo


def assign(world: Any, order: WorkOrder, tech_id: Any, api: Any = None) -> Any:
    api = api or world.dispatcher
    url = f"{ORDERS}/{order.id}"
    etag = api.get(url).headers["ETag"]
    r = api.patch(url, json={"lead_technician_id": str(tech_id)}, headers={"If-Match": etag})
    assert r.status_code == 200, r.json
    return r


# --- token registry ------------------------------------------------------------------


def test_register_refresh_list_and_forget(world: Any, session: Any) -> None:
    token = fcm_token()
    r = register(world.technician, token, "ios", app_version="2.3.0", device_id="phone-1")
    assert r.status_code == 200, r.json
    first = r.json
    assert first["token"] == token and first["platform"] == "ios"
    assert first["app_version"] == "2.3.0" and first["device_id"] == "phone-1"
    again = register(world.technician, token, "ios", app_version="2.4.0", device_id="phone-1")
    assert again.status_code == 200
    assert again.json["id"] == first["id"] and again.json["app_version"] == "2.4.0"
    assert again.json["last_seen_at"] >= first["last_seen_at"]
    assert again.json["created_at"] == first["created_at"]
    assert [t["token"] for t in world.technician.get(URL).json] == [token]
    assert len(tokens_in_db(session)) == 1
    assert world.technician.delete(f"{URL}/{token}").status_code == 204
    assert world.technician.get(URL).json == []
    assert world.technician.delete(f"{URL}/{token}").status_code == 204  # idempotent
    assert tokens_in_db(session) == []


@pytest.mark.parametrize("role", ["admin", "dispatcher", "agent", "technician"])
def test_every_role_registers_its_own_tokens(world: Any, role: str) -> None:
    api = getattr(world, role)
    token = fcm_token()
    assert register(api, token, "web").status_code == 200
    assert [t["token"] for t in api.get(URL).json] == [token]
    other = world.admin if role != "admin" else world.dispatcher
    assert other.get(URL).json == []


def test_anonymous_callers_get_401(world: Any) -> None:
    assert world.api.get(URL).status_code == 401
    assert register(world.api, fcm_token()).status_code == 401
    assert world.api.delete(f"{URL}/{fcm_token()}").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"platform": "android"},
        {"token": fcm_token()},
        {"token": fcm_token(), "platform": "symbian"},
        {"token": "", "platform": "android"},
        {"token": "has spaces in it", "platform": "android"},
        {"token": "x" * 513, "platform": "android"},
        {"token": 12345, "platform": "android"},
        {"token": ["a"], "platform": "android"},
        {"token": fcm_token(), "platform": "android", "app_version": "v" * 65},
        {"token": fcm_token(), "platform": "android", "device_id": ""},
        {"token": fcm_token(), "platform": "android", "device_id": 7},
        {"token": fcm_token(), "platform": "android", "surprise": True},
        {"token": "tok\u0000en", "platform": "android"},
    ],
)
def test_bad_registrations_get_422(world: Any, body: dict[str, Any]) -> None:
    r = world.technician.put(URL, json=body)
    assert r.status_code == 422, r.json
    assert r.json["code"] in {"validation_error", "invalid_text"}
    assert r.json["errors"]


def test_bad_bodies_never_500(world: Any) -> None:
    r = world.technician.put(URL, data=b"not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["code"] == "malformed_json"
    r = world.technician.put(URL, json=[1, 2])
    assert r.status_code == 422


@pytest.mark.parametrize("bad", ["has%20space", "x" * 513, "semi;colon", "%F0%9F%98%80"])
def test_forgetting_a_malformed_token_is_422(world: Any, bad: str) -> None:
    r = world.technician.delete(f"{URL}/{bad}")
    assert r.status_code == 422 and r.json["code"] == "invalid_device_token"


def test_a_token_moves_to_whoever_registers_it_last(world: Any, session: Any) -> None:
    token = fcm_token()
    assert register(world.technician, token, device_id="shared-tablet").status_code == 200
    # Another technician signs in on the same tablet.
    r = register(world.other_technician, token, device_id="shared-tablet")
    assert r.status_code == 200
    assert world.technician.get(URL).json == []
    assert [t["token"] for t in world.other_technician.get(URL).json] == [token]
    rows = tokens_in_db(session)
    assert len(rows) == 1 and rows[0].user_id == world.other_tech_user.id
    # The previous owner can no longer remove it.
    assert world.technician.delete(f"{URL}/{token}").status_code == 204
    assert len(tokens_in_db(session)) == 1


def test_tenants_are_isolated_but_a_device_can_change_tenant(world: Any, session: Any) -> None:
    token = fcm_token()
    assert register(world.technician, token).status_code == 200
    assert world.b_api.get(URL).json == []
    assert world.b_api.delete(f"{URL}/{token}").status_code == 204
    assert len(tokens_in_db(session)) == 1
    # The phone is handed to someone at tenant B: the token follows the signed-in user.
    assert register(world.b_api, token).status_code == 200
    rows = tokens_in_db(session)
    assert [(r.tenant_id, r.user_id) for r in rows] == [(world.b.id, world.b_admin.id)]
    assert world.technician.get(URL).json == []
    assert [t["token"] for t in world.b_api.get(URL).json] == [token]


def test_a_rotated_token_retires_the_old_one_of_the_same_install(world: Any, session: Any) -> None:
    old, new, other = fcm_token(), fcm_token(), fcm_token()
    register(world.technician, old, device_id="phone-1")
    register(world.technician, other, device_id="tablet-1")
    register(world.technician, new, device_id="phone-1")
    assert {t["token"] for t in world.technician.get(URL).json} == {new, other}
    revoked = [t for t in tokens_in_db(session) if t.revoked_at is not None]
    assert [t.token for t in revoked] == [old]
    # Registering a revoked token again brings it back.
    register(world.technician, old, device_id="phone-1")
    assert {t["token"] for t in world.technician.get(URL).json} == {old, other}


# --- outbox: written with the change -----------------------------------------------------


def test_assignment_queues_one_tickle_and_one_notice_in_the_same_transaction(
    world: Any, session: Any, connection: Any, order: WorkOrder
) -> None:
    mark = high_water(session)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lstrip().split("\n", 1)[0].upper())

    event.listen(connection, "before_cursor_execute", record)
    try:
        assign(world, order, world.tech.id)
    finally:
        event.remove(connection, "before_cursor_execute", record)
    rows = outbox(session, mark)
    user_id = world.users["technician"].id
    assert [(r.kind, r.user_id) for r in rows] == [
        ("sync_tickle", user_id),
        ("assignment", user_id),
    ]
    tickle, notice = rows
    assert tickle.payload == {"type": "sync"} and tickle.collapse_key == f"sync-{user_id}"
    assert notice.payload == {
        "title": f"New work order {order.number}",
        "body": "Elevator stuck on floor 3",
        "data": {"type": "assignment", "work_order_id": str(order.id), "number": order.number},
    }
    assert notice.collapse_key == f"assignment-{order.id}"
    assert all(r.tenant_id == world.a.id and r.sent_at is None and r.attempts == 0 for r in rows)
    # Same transaction: no commit between the order's UPDATE and the outbox INSERT.
    update = next(i for i, s in enumerate(statements) if s.startswith("UPDATE WORK_ORDERS"))
    insert = next(
        i for i, s in enumerate(statements) if s.startswith("INSERT INTO NOTIFICATION_OUTBOX")
    )
    between = statements[min(update, insert) : max(update, insert)]
    assert not [s for s in between if s.startswith(("RELEASE", "COMMIT"))]


def test_edits_of_an_assigned_order_tickle_once_per_transaction(
    world: Any, session: Any, order: WorkOrder
) -> None:
    assign(world, order, world.tech.id)
    mark = high_water(session)
    url = f"{ORDERS}/{order.id}"
    etag = world.dispatcher.get(url).headers["ETag"]
    r = world.dispatcher.patch(
        url,
        json={"priority": "urgent", "description": "Now two floors"},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200
    rows = outbox(session, mark)
    assert [(r.kind, r.user_id, r.payload) for r in rows] == [
        ("sync_tickle", world.users["technician"].id, {"type": "sync"})
    ]


def test_edits_of_an_unassigned_order_tickle_nobody(
    world: Any, session: Any, order: WorkOrder
) -> None:
    mark = high_water(session)
    url = f"{ORDERS}/{order.id}"
    etag = world.dispatcher.get(url).headers["ETag"]
    world.dispatcher.patch(url, json={"priority": "urgent"}, headers={"If-Match": etag})
    assert outbox(session, mark) == []


def test_reassignment_tickles_old_and_new_technician(
    world: Any, session: Any, order: WorkOrder
) -> None:
    assign(world, order, world.tech.id)
    mark = high_water(session)
    assign(world, order, world.other_tech.id)
    rows = outbox(session, mark)
    old_user, new_user = world.users["technician"].id, world.other_tech_user.id
    tickled = {r.user_id for r in rows if r.kind == "sync_tickle"}
    assert tickled == {old_user, new_user}
    assert len([r for r in rows if r.kind == "sync_tickle"]) == 2
    assert [(r.kind, r.user_id) for r in rows if r.kind == "assignment"] == [
        ("assignment", new_user)
    ]


def test_helpers_are_tickled_and_notified_too(world: Any, session: Any, order: WorkOrder) -> None:
    mark = high_water(session)
    url = f"{ORDERS}/{order.id}"
    etag = world.dispatcher.get(url).headers["ETag"]
    r = world.dispatcher.patch(
        url,
        json={"lead_technician_id": str(world.tech.id), "helper_ids": [str(world.other_tech.id)]},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200, r.json
    rows = outbox(session, mark)
    users = {world.users["technician"].id, world.other_tech_user.id}
    assert {r.user_id for r in rows if r.kind == "sync_tickle"} == users
    assert {r.user_id for r in rows if r.kind == "assignment"} == users
    assert len(rows) == 4


def test_technicians_without_an_account_get_nothing(
    world: Any, session: Any, order: WorkOrder
) -> None:
    loner = f.make_technician(session, world.a, None, name="No Phone")
    session.commit()
    mark = high_water(session)
    assign(world, order, loner.id)
    assert outbox(session, mark) == []


def test_finished_orders_tickle_but_announce_nothing(world: Any, session: Any) -> None:
    site = f.make_site(session, world.a, f.make_customer(session, world.a))
    mark = high_water(session)
    f.make_work_order(session, world.a, site, status="completed", lead_technician_id=world.tech.id)
    session.commit()
    assert [r.kind for r in outbox(session, mark)] == ["sync_tickle"]


def test_a_rolled_back_change_leaves_no_outbox_row(
    world: Any, session: Any, order: WorkOrder
) -> None:
    mark = high_water(session)
    s = db.session()
    set_tenant(s, world.a.id)
    wo = s.get(WorkOrder, order.id)
    assert wo is not None
    wo.lead_technician_id = world.tech.id
    s.flush()
    pending = list(s.scalars(select(NotificationOutbox).where(NotificationOutbox.id > mark)))
    assert {r.kind for r in pending} == {"sync_tickle", "assignment"}
    s.rollback()
    assert outbox(session, mark) == []
    db.session.remove()


def test_many_flushes_in_one_transaction_queue_one_tickle(
    world: Any, session: Any, order: WorkOrder
) -> None:
    assign(world, order, world.tech.id)
    mark = high_water(session)
    s = db.session()
    set_tenant(s, world.a.id)
    wo = s.get(WorkOrder, order.id)
    assert wo is not None
    for priority in ("high", "urgent", "low"):
        wo.priority = priority
        s.flush()
    s.commit()
    assert [r.kind for r in outbox(session, mark)] == ["sync_tickle"]
    # The next transaction wakes the device again.
    wo.priority = "normal"
    s.commit()
    assert [r.kind for r in outbox(session, mark)] == ["sync_tickle", "sync_tickle"]
    db.session.remove()


def test_a_note_on_an_order_tickles_its_lead_and_helpers(
    world: Any, session: Any, order: WorkOrder
) -> None:
    url = f"{ORDERS}/{order.id}"
    etag = world.dispatcher.get(url).headers["ETag"]
    r = world.dispatcher.patch(
        url,
        json={"lead_technician_id": str(world.tech.id), "helper_ids": [str(world.other_tech.id)]},
        headers={"If-Match": etag},
    )
    assert r.status_code == 200
    mark = high_water(session)
    s = db.session()
    set_tenant(s, world.a.id)
    s.add(
        WorkOrderNote(
            id=uuid.uuid4(), work_order_id=order.id, body="Gate code 4711", occurred_at=utcnow()
        )
    )
    s.commit()
    db.session.remove()
    rows = outbox(session, mark)
    assert {(r.kind, r.user_id) for r in rows} == {
        ("sync_tickle", world.users["technician"].id),
        ("sync_tickle", world.other_tech_user.id),
    }


def test_a_device_push_does_not_wake_the_pushing_device(world: Any, session: Any) -> None:
    site = f.make_site(session, world.a, f.make_customer(session, world.a))
    mine = f.make_work_order(
        session,
        world.a,
        site,
        status="dispatched",
        lead_technician_id=world.tech.id,
        scheduled_start=f.aware(2026, 11, 23, 1),
        scheduled_end=f.aware(2026, 11, 23, 3),
    )
    session.commit()
    phone, tablet = fcm_token(), fcm_token()
    register(world.technician, phone, device_id="phone-1")
    register(world.technician, tablet, device_id="tablet-1")
    drain(session)
    headers = {"X-Device-Id": "phone-1"}
    cursor = world.technician.get(
        "/api/v1/sync", query_string={"last_pulled_at": "null"}, headers=headers
    ).json["timestamp"]
    changes = {
        "work_orders": {
            "created": [],
            "deleted": [],
            "updated": [
                {
                    "id": str(mine.id),
                    "technician_notes": "Sensor cleaned",
                    "_changed": "technician_notes",
                }
            ],
        }
    }
    r = world.technician.post(
        f"/api/v1/sync?last_pulled_at={cursor}", json=changes, headers=headers
    )
    assert r.status_code == 200, r.json
    rows = [r for r in outbox(session) if r.sent_at is None]
    assert [(r.kind, r.payload) for r in rows] == [
        ("sync_tickle", {"type": "sync", "origin_device": "phone-1"})
    ]
    fake = FakeSender()
    deliver(fake)
    assert [m.token for m in fake.messages] == [tablet]
    assert fake.messages[0].data == {"type": "sync", "origin_device": "phone-1"}


# --- delivery ------------------------------------------------------------------------


@pytest.fixture()
def devices(world: Any, session: Any) -> Any:
    """world.tech's phone (android) and tablet (ios); fixture pushes already drained."""
    android, ios = fcm_token(), fcm_token()
    assert register(world.technician, android, "android", device_id="phone-1").status_code == 200
    assert register(world.technician, ios, "ios", device_id="tablet-1").status_code == 200
    drain(session)
    return SimpleNamespace(android=android, ios=ios, user_id=world.users["technician"].id)


def queue_tickle(session: Session, world: Any, user_id: Any, when: dt.datetime) -> int:
    row = NotificationOutbox(
        tenant_id=world.a.id,
        user_id=user_id,
        kind="sync_tickle",
        payload={"type": "sync"},
        collapse_key=f"sync-{user_id}",
        next_attempt_at=when,
    )
    session.add(row)
    session.commit()
    return row.id


def test_titled_kinds_show_a_notice_and_tickles_stay_silent(
    world: Any, session: Any, devices: Any
) -> None:
    """Mentions and SLA warnings name a title and body; a sync tickle is data only."""
    now = utcnow()
    queue_tickle(session, world, devices.user_id, now)
    session.add(
        NotificationOutbox(
            tenant_id=world.a.id,
            user_id=devices.user_id,
            kind="sla_warning",
            payload={"type": "sla_warning", "number": "WO-1", "title": "At risk", "body": "2h"},
            collapse_key="sla-x",
            next_attempt_at=now,
        )
    )
    session.commit()
    fake = FakeSender()
    deliver(fake)
    by_type = {m.data["type"]: m for m in fake.messages}
    assert by_type["sync"].notification is None
    warning = by_type["sla_warning"]
    assert (warning.notification.title, warning.notification.body) == ("At risk", "2h")
    assert warning.data["number"] == "WO-1"


def test_worker_builds_fcm_messages_for_every_device(
    world: Any, session: Any, devices: Any, order: WorkOrder
) -> None:
    assign(world, order, world.tech.id)
    fake = FakeSender()
    report = deliver(fake)
    assert (report.picked, report.sent, report.pushes) == (2, 2, 4)
    by_kind: dict[str, list[messaging.Message]] = {"sync": [], "assignment": []}
    for m in fake.messages:
        by_kind[m.data["type"]].append(m)
        # firebase-admin's own encoder accepts it (strings only, valid APNs/Android parts).
        messaging._MessagingService.encode_message(m)
    tickles, notices = by_kind["sync"], by_kind["assignment"]
    assert sorted(m.token for m in tickles) == sorted([devices.android, devices.ios])
    assert sorted(m.token for m in notices) == sorted([devices.android, devices.ios])
    collapse = f"sync-{devices.user_id}"
    for m in tickles:
        assert m.data == {"type": "sync"}
        assert m.notification is None
        assert m.android.collapse_key == collapse and m.android.priority == "high"
        assert m.android.notification is None
        assert m.apns.headers == {
            "apns-collapse-id": collapse,
            "apns-push-type": "background",
            "apns-priority": "5",
        }
        assert m.apns.payload.aps.content_available is True
    for m in notices:
        assert m.data == {
            "type": "assignment",
            "work_order_id": str(order.id),
            "number": order.number,
        }
        assert m.notification.title == f"New work order {order.number}"
        assert m.notification.body == "Elevator stuck on floor 3"
        assert m.android.collapse_key == f"assignment-{order.id}"
        assert m.android.priority == "high"
        assert m.android.notification.tag == f"assignment-{order.id}"
        assert m.apns.headers["apns-push-type"] == "alert"
        assert m.apns.headers["apns-collapse-id"] == f"assignment-{order.id}"
        assert not m.apns.payload.aps.content_available
    rows = outbox(session)
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    assert all(r.last_error is None and r.next_attempt_at is None for r in rows)
    # Nothing left to do.
    again = FakeSender()
    assert deliver(again).picked == 0 and again.messages == []


def test_nothing_is_sent_inside_the_request(
    world: Any, devices: Any, order: WorkOrder, monkeypatch: Any
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("sent during the request")

    from server.notifications import sender

    monkeypatch.setattr(sender, "build_message", refuse)
    monkeypatch.setattr(messaging, "send_each", refuse)
    monkeypatch.setattr(messaging, "send", refuse)
    assign(world, order, world.tech.id)  # succeeds: delivery is the worker's job


def test_rows_of_every_tenant_are_delivered(world: Any, session: Any) -> None:
    b_token = fcm_token()
    assert register(world.b_api, b_token).status_code == 200
    drain(session)
    now = utcnow()
    queue_tickle(session, world, world.users["technician"].id, now)
    row = NotificationOutbox(
        tenant_id=world.b.id,
        user_id=world.b_admin.id,
        kind="sync_tickle",
        payload={"type": "sync"},
        collapse_key=f"sync-{world.b_admin.id}",
        next_attempt_at=now,
    )
    session.add(row)
    session.commit()
    fake = FakeSender()
    report = deliver(fake, now)
    assert report.picked == 2 and report.sent == 2  # A's technician has no device: done
    assert [m.token for m in fake.messages] == [b_token]


def test_transient_errors_back_off_exponentially_then_succeed(
    world: Any, session: Any, devices: Any
) -> None:
    t0 = utcnow()
    row_id = queue_tickle(session, world, devices.user_id, t0)
    fake = FakeSender()
    fake.fail(devices.ios, messaging.QuotaExceededError("Quota exceeded."), times=2)
    report = deliver(fake, t0)
    assert (report.picked, report.retrying, report.sent) == (1, 1, 0)
    row = session.get(NotificationOutbox, row_id)
    session.refresh(row)
    assert row.attempts == 1 and row.sent_at is None
    assert row.next_attempt_at == t0 + dt.timedelta(seconds=30)
    assert "QuotaExceededError" in (row.last_error or "")
    # Not due yet.
    assert deliver(fake, t0 + dt.timedelta(seconds=29)).picked == 0
    t1 = t0 + dt.timedelta(seconds=30)
    assert deliver(fake, t1).retrying == 1
    session.refresh(row)
    assert row.attempts == 2 and row.next_attempt_at == t1 + dt.timedelta(seconds=60)
    t2 = t1 + dt.timedelta(seconds=60)
    assert deliver(fake, t2).sent == 1
    session.refresh(row)
    assert row.sent_at == t2 and row.attempts == 3 and row.last_error is None
    assert [m.token for m in fake.delivered].count(devices.ios) == 1


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]


def test_worker_gives_up_after_max_attempts_and_keeps_the_error(
    world: Any, session: Any, devices: Any
) -> None:
    t = utcnow()
    row_id = queue_tickle(session, world, devices.user_id, t)
    fake = FakeSender()
    fake.fail(devices.android, fb_exceptions.UnavailableError("FCM is down"), times=10)
    for _ in range(3):
        deliver(fake, t, max_attempts=3)
        t += dt.timedelta(hours=2)
    row = session.get(NotificationOutbox, row_id)
    session.refresh(row)
    assert row.attempts == 3 and row.sent_at is None and row.next_attempt_at is None
    assert "FCM is down" in (row.last_error or "")
    assert deliver(fake, t + dt.timedelta(days=1)).picked == 0


@pytest.mark.parametrize(
    "error",
    [
        messaging.UnregisteredError("Requested entity was not found."),
        messaging.SenderIdMismatchError("SenderId mismatch"),
        fb_exceptions.InvalidArgumentError(
            "The registration token is not a valid FCM registration token"
        ),
    ],
)
def test_dead_tokens_are_revoked(world: Any, session: Any, devices: Any, error: Exception) -> None:
    row_id = queue_tickle(session, world, devices.user_id, utcnow())
    fake = FakeSender()
    fake.fail(devices.ios, error)
    report = deliver(fake)
    assert report.revoked_tokens == 1 and report.sent == 1  # the other device got it
    row = session.get(NotificationOutbox, row_id)
    session.refresh(row)
    assert row.sent_at is not None
    assert [t["token"] for t in world.technician.get(URL).json] == [devices.android]
    # The dead token is not used again.
    queue_tickle(session, world, devices.user_id, utcnow())
    later = FakeSender()
    deliver(later)
    assert [m.token for m in later.messages] == [devices.android]


def test_a_bad_payload_does_not_revoke_tokens(world: Any, session: Any, devices: Any) -> None:
    queue_tickle(session, world, devices.user_id, utcnow())
    fake = FakeSender()
    fake.fail(devices.ios, fb_exceptions.InvalidArgumentError("Invalid value at 'message.data'"))
    report = deliver(fake)
    assert report.revoked_tokens == 0 and report.retrying == 1
    assert len(world.technician.get(URL).json) == 2


def test_a_crashing_sender_loses_nothing(world: Any, session: Any, devices: Any) -> None:
    class Broken:
        def send(self, pushes: Any) -> Any:
            raise RuntimeError("boom")

    t = utcnow()
    row_id = queue_tickle(session, world, devices.user_id, t)
    assert deliver(Broken(), t).retrying == 1
    row = session.get(NotificationOutbox, row_id)
    session.refresh(row)
    assert row.sent_at is None and "boom" in (row.last_error or "")
    fake = FakeSender()
    assert deliver(fake, t + dt.timedelta(minutes=1)).sent == 1


def test_inactive_users_get_nothing(world: Any, session: Any, devices: Any) -> None:
    world.users["technician"].is_active = False
    session.commit()
    queue_tickle(session, world, devices.user_id, utcnow())
    fake = FakeSender()
    assert deliver(fake).sent == 1
    assert fake.messages == []


def test_fake_sender_without_credentials(app: Any) -> None:
    assert isinstance(make_sender({"ENV_NAME": "testing"}), FakeSender)
    assert isinstance(
        make_sender({"FIREBASE_CREDENTIALS_FILE": None, "GOOGLE_APPLICATION_CREDENTIALS": None}),
        FakeSender,
    )


def test_fcm_sender_maps_each_response(monkeypatch: Any) -> None:
    calls: list[dict[str, Any]] = []
    errors = [
        None,
        messaging.UnregisteredError("Requested entity was not found."),
        fb_exceptions.UnavailableError("Try later"),
    ]

    def send_each(messages: list[Any], dry_run: bool = False, app: Any = None) -> Any:
        calls.append({"messages": messages, "app": app})
        return messaging.BatchResponse(
            [
                messaging.SendResponse(None if err else {"name": "projects/p/messages/1"}, err)
                for err, _ in zip(errors * 200, messages, strict=False)
            ]
        )

    monkeypatch.setattr(messaging, "send_each", send_each)
    sender = FcmSender(app="the-app")
    pushes = [Push(f"tok{i}", {"type": "sync"}, "sync-x") for i in range(3)]
    results = sender.send(pushes)
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.TOKEN_INVALID, Outcome.FAILED]
    assert calls[0]["app"] == "the-app"
    assert [m.token for m in calls[0]["messages"]] == ["tok0", "tok1", "tok2"]
    # More than FCM's 500 per call: split.
    calls.clear()
    many = [Push(f"tok{i}", {"type": "sync"}) for i in range(501)]
    assert len(sender.send(many)) == 501
    assert [len(c["messages"]) for c in calls] == [500, 1]

    def down(*args: Any, **kwargs: Any) -> Any:
        raise fb_exceptions.UnknownError("connection reset")

    monkeypatch.setattr(messaging, "send_each", down)
    assert {r.outcome for r in sender.send(pushes)} == {Outcome.FAILED}


def test_credentials_select_the_fcm_sender(tmp_path: Any) -> None:
    import json

    import firebase_admin
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "fsm-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "push@fsm-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    sender = make_sender({"FIREBASE_CREDENTIALS_FILE": str(path)})
    try:
        assert isinstance(sender, FcmSender)
        assert sender.app.project_id == "fsm-test"
        # A second call reuses the named app instead of failing to re-initialise it.
        assert make_sender({"FIREBASE_CREDENTIALS_FILE": str(path)}).app is sender.app
    finally:
        firebase_admin.delete_app(sender.app)


def test_cli_delivers_once(app: Any, world: Any, session: Any, devices: Any) -> None:
    queue_tickle(session, world, devices.user_id, utcnow())
    result = app.test_cli_runner().invoke(args=["notifications-deliver"])
    assert result.exit_code == 0, result.output
    assert "FakeSender" in result.output and "sent 1" in result.output


@pytest.mark.postgis
@pytest.mark.skipif(not IS_POSTGRES, reason="SKIP LOCKED is PostgreSQL's")
def test_workers_skip_rows_another_worker_has_locked(app: Any) -> None:
    engine = db.engine
    assert engine is not None
    with app.app_context(), Session(engine) as s:
        s.info["system"] = True
        tenant = f.make_tenant(s)
        user = f.make_user(s, tenant, "technician")
        s.add(DeviceToken(tenant_id=tenant.id, user_id=user.id, token=fcm_token(), platform="web"))
        for _ in range(6):
            s.add(NotificationOutbox(tenant_id=tenant.id, user_id=user.id, kind="sync_tickle"))
        s.commit()
        tenant_id = tenant.id
    try:
        with engine.connect() as holder:
            # Another worker is mid-claim on the two oldest rows.
            locked = holder.execute(
                text(
                    "SELECT id FROM notification_outbox WHERE tenant_id = :t "
                    "ORDER BY id LIMIT 2 FOR UPDATE"
                ),
                {"t": tenant_id},
            ).scalars()
            locked_ids = set(locked)
            result: dict[str, Any] = {}

            def worker() -> None:
                with Session(engine) as s:
                    s.execute(text("SET LOCAL lock_timeout = '3s'"))
                    fake = FakeSender()
                    try:
                        result["report"] = deliver_pending(s, fake, now=utcnow(), limit=100)
                    except BaseException as exc:
                        result["error"] = exc

            thread = threading.Thread(target=worker)
            thread.start()
            thread.join(30)
            holder.rollback()
        assert "error" not in result, result.get("error")
        assert result["report"].picked == 4
        with Session(engine) as s:
            s.info["system"] = True
            rows = s.scalars(
                select(NotificationOutbox).where(NotificationOutbox.tenant_id == tenant_id)
            ).all()
            assert {r.id for r in rows if r.sent_at is None} == locked_ids
    finally:
        with Session(engine) as s:
            s.info["system"] = True
            from server.auth.models import User
            from server.tenants.models import Tenant

            for model in (NotificationOutbox, DeviceToken, User):
                s.execute(delete(model).where(model.tenant_id == tenant_id))
            s.execute(delete(Tenant).where(Tenant.id == tenant_id))
            s.commit()


# --- pruning ---------------------------------------------------------------------------


def outbox_row(session: Session, tenant: Any, user_id: Any, **state: Any) -> int:
    """An outbox row in a given state (times relative to now, in days)."""
    now = utcnow()
    created = now - dt.timedelta(days=state.pop("created_days_ago"))
    fields: dict[str, Any] = {"created_at": created}
    for name in ("sent_at", "next_attempt_at"):
        if name in state:
            fields[name] = now - dt.timedelta(days=state.pop(name))
    row = NotificationOutbox(
        tenant_id=tenant.id, user_id=user_id, kind="sync_tickle", payload={}, **fields, **state
    )
    session.add(row)
    session.flush()
    if "next_attempt_at" not in fields:
        row.next_attempt_at = None  # as the worker leaves it (None on insert means "default")
    session.commit()
    return row.id


@pytest.fixture()
def aged_outbox(world: Any, session: Session) -> SimpleNamespace:
    """Finished and unfinished rows of both tenants, young and old."""
    drain(session)
    tech, b_admin = world.users["technician"].id, world.b_admin.id
    a = world.a
    return SimpleNamespace(
        sent_old=outbox_row(session, a, tech, created_days_ago=20, sent_at=19),
        # Created long ago but delivered recently (after a long retry): still young.
        sent_young=outbox_row(session, a, tech, created_days_ago=20, sent_at=2),
        dead_old=outbox_row(session, a, tech, created_days_ago=30, attempts=8, last_error="x"),
        dead_young=outbox_row(session, a, tech, created_days_ago=1, attempts=8, last_error="x"),
        # Due for ages (the worker was down) and retrying with a backoff: never pruned.
        pending_old=outbox_row(session, a, tech, created_days_ago=60, next_attempt_at=59),
        retrying_old=outbox_row(
            session, a, tech, created_days_ago=30, next_attempt_at=-1, attempts=3, last_error="x"
        ),
        other_tenant_old=outbox_row(session, world.b, b_admin, created_days_ago=40, sent_at=40),
    )


def test_prune_deletes_only_old_finished_rows_of_every_tenant(
    session: Session, aged_outbox: SimpleNamespace
) -> None:
    from server.notifications.worker import prune_outbox

    before = {row.id for row in outbox(session)}
    pruned = prune_outbox(
        db_session=db.session(), older_than=utcnow() - dt.timedelta(days=14), batch_size=2
    )
    assert pruned == 3
    gone = {aged_outbox.sent_old, aged_outbox.dead_old, aged_outbox.other_tenant_old}
    assert {row.id for row in outbox(session)} == before - gone
    # Nothing left to do: a second pass deletes nothing.
    assert prune_outbox(db_session=db.session(), older_than=utcnow() - dt.timedelta(days=14)) == 0


def test_pending_rows_survive_any_retention(session: Session, aged_outbox: SimpleNamespace) -> None:
    from server.notifications.worker import prune_outbox

    prune_outbox(db_session=db.session(), older_than=utcnow() + dt.timedelta(days=1))
    left = {row.id for row in outbox(session)}
    assert left == {aged_outbox.pending_old, aged_outbox.retrying_old}


def test_cli_prunes_after_the_configured_retention(
    app: Any, session: Session, aged_outbox: SimpleNamespace
) -> None:
    runner = app.test_cli_runner()
    assert app.config["OUTBOX_RETENTION_DAYS"] == 14
    result = runner.invoke(args=["outbox-prune", "--days", "35"])
    assert result.exit_code == 0, result.output
    assert "pruned 1 finished outbox rows older than 35 days" in result.output
    assert aged_outbox.other_tenant_old not in {row.id for row in outbox(session)}

    result = runner.invoke(args=["outbox-prune"])
    assert result.exit_code == 0, result.output
    assert "pruned 2 finished outbox rows older than 14 days" in result.output
    left = {row.id for row in outbox(session)}
    assert {aged_outbox.sent_young, aged_outbox.dead_young, aged_outbox.pending_old} <= left
    assert not {aged_outbox.sent_old, aged_outbox.dead_old} & left

    bad = runner.invoke(args=["outbox-prune", "--days", "-1"])
    assert bad.exit_code == 2
