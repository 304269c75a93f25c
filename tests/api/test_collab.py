"""Collaboration: comments and @mentions, subtasks the parent may require, L1 remote
resolution, L3 escalation into defect records, and the failure-pattern view."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.collab.models import Defect, DefectWorkOrder
from server.db import utcnow
from server.kb.models import KbArticle
from server.notifications.models import NotificationOutbox
from server.work_orders.models import WorkOrder, WorkOrderComment
from tests import factories as f
from tests.api.test_sync import DEVICE_NOW, pull, push, status

ORDERS = "/api/v1/work-orders"
DEFECTS = "/api/v1/defects"


# --- test data (this module's factories) ------------------------------------------------


def make_order(s: Session, tenant: Any, site: Any, **kw: Any) -> WorkOrder:
    """An order stamped with creation times (the factory leaves them to defaults)."""
    now = kw.pop("created_at", utcnow())
    return f.make_work_order(s, tenant, site, created_at=now, updated_at=now, **kw)


def assigned(s: Session, world: Any, site: Any, status: str = "dispatched", **kw: Any) -> WorkOrder:
    """An order led by world.tech, scheduled, in the given status."""
    return make_order(
        s,
        world.a,
        site,
        status=status,
        lead_technician_id=world.tech.id,
        scheduled_start=f.aware(2026, 11, 23, 1),
        scheduled_end=f.aware(2026, 11, 23, 3),
        **kw,
    )


@pytest.fixture()
def desk(world: Any, session: Session) -> SimpleNamespace:
    """Two sites with Gen2 units, a 3300 unit, an order per role's view, named colleagues."""
    customer = f.make_customer(session, world.a, name="Jinmao Tower")
    site = f.make_site(session, world.a, customer)
    other_site = f.make_site(session, world.a, f.make_customer(session, world.a))
    gen2 = f.make_equipment(session, world.a, site, model="Gen2")
    gen2_far = f.make_equipment(session, world.a, other_site, model="Gen2")
    other_model = f.make_equipment(session, world.a, site, model="3300")
    mine = assigned(session, world, site, equipment_id=gen2.id, category="door_fault")
    theirs = make_order(
        session, world.a, other_site, status="new", lead_technician_id=world.other_tech.id
    )
    unassigned = make_order(session, world.a, site, status="new", equipment_id=gen2.id)
    li = f.make_user(session, world.a, "dispatcher", email="li.wei@acme.test", name="Li Wei")
    wang = f.make_user(session, world.a, "agent", email="Wang.Fang@acme.test", name="Wang Fang")
    gone = f.make_user(session, world.a, "agent", email="gone@acme.test", is_active=False)
    b_user = f.make_user(session, world.b, "agent", email="b.agent@other.test")
    session.commit()
    return SimpleNamespace(
        customer=customer,
        site=site,
        other_site=other_site,
        gen2=gen2,
        gen2_far=gen2_far,
        other_model=other_model,
        mine=mine,
        theirs=theirs,
        unassigned=unassigned,
        li=li,
        wang=wang,
        gone=gone,
        b_user=b_user,
    )


def mentions_queued(s: Session) -> list[NotificationOutbox]:
    s.expire_all()
    stmt = select(NotificationOutbox).where(NotificationOutbox.kind == "mention")
    return list(s.scalars(stmt.order_by(NotificationOutbox.id)))


def events(api: Any, order_id: Any, kind: str | None = None) -> list[dict[str, Any]]:
    r = api.get(f"{ORDERS}/{order_id}/events")
    assert r.status_code == 200, r.json
    return [e for e in r.json if kind is None or e["event_type"] == kind]


def comment(api: Any, order_id: Any, **data: Any) -> Any:
    return api.post(f"{ORDERS}/{order_id}/comments", json=data)


# --- comments ---------------------------------------------------------------------------


def test_comments_by_role_and_visibility(world: Any, desk: Any) -> None:
    url = f"{ORDERS}/{desk.mine.id}/comments"
    r = comment(world.dispatcher, desk.mine.id, body="Check the door operator board.")
    assert r.status_code == 201, r.json
    internal = r.json
    assert internal["visibility"] == "internal" and internal["author_kind"] == "user"
    assert internal["author_user_id"] == str(world.users["dispatcher"].id)
    r = comment(
        world.agent, desk.mine.id, body="A technician is on the way.", visibility="customer"
    )
    assert r.status_code == 201 and r.json["visibility"] == "customer"
    # The assigned technician writes internal notes and reads everything on the order.
    r = comment(world.technician, desk.mine.id, body="Board replaced, testing.")
    assert r.status_code == 201 and r.json["visibility"] == "internal"
    r = comment(world.technician, desk.mine.id, body="Fixed!", visibility="customer")
    assert r.status_code == 403 and r.json["code"] == "customer_comment_forbidden"
    for api in (world.admin, world.agent, world.technician):
        r = api.get(url)
        assert r.status_code == 200
        assert [c["body"] for c in r.json] == [
            "Check the door operator board.",
            "A technician is on the way.",
            "Board replaced, testing.",
        ]
    r = world.technician.get(url, query_string={"visibility": "customer"})
    assert [c["body"] for c in r.json] == ["A technician is on the way."]
    # Someone else's order, another tenant: as if it did not exist.
    for api, order in ((world.other_technician, desk.mine), (world.technician, desk.theirs)):
        assert api.get(f"{ORDERS}/{order.id}/comments").status_code == 404
        r = comment(api, order.id, body="Hello")
        assert r.status_code == 404 and r.json["code"] == "not_found"
    assert world.b_api.get(url).status_code == 404
    # History: one 'commented' entry each, with ids and visibility but never the text.
    entries = events(world.technician, desk.mine.id, "commented")
    assert [e["payload"]["visibility"] for e in entries] == ["internal", "customer", "internal"]
    assert entries[0]["payload"]["comment_id"] == internal["id"]
    assert all("body" not in e["payload"] for e in entries)


def test_mentions_notify_each_colleague_once(world: Any, desk: Any, session: Session) -> None:
    text = (
        "@li.wei and @wang.fang@ACME.test: please look. Mail ops@acme.test, not a mention; "
        "@nobody is just text. Cc @li.wei."
    )
    r = comment(world.dispatcher, desk.mine.id, body=text, mentions=[str(world.users["agent"].id)])
    assert r.status_code == 201, r.json
    expected = {str(world.users["agent"].id), str(desk.li.id), str(desk.wang.id)}
    assert set(r.json["mentions"]) == expected and len(r.json["mentions"]) == 3
    rows = mentions_queued(session)
    assert {str(row.user_id) for row in rows} == expected
    for row in rows:
        assert row.tenant_id == world.a.id and row.sent_at is None
        assert row.payload == {
            "type": "mention",
            "work_order_id": str(desk.mine.id),
            "number": desk.mine.number,
            "comment_id": r.json["id"],
            "author": world.users["dispatcher"].name,
            "title": f"{world.users['dispatcher'].name} mentioned you on {desk.mine.number}",
            "body": desk.mine.title,
        }
    [event] = events(world.admin, desk.mine.id, "commented")
    assert set(event["payload"]["mentions"]) == expected


def test_mentioning_yourself_notifies_nobody(world: Any, desk: Any, session: Session) -> None:
    me = world.users["dispatcher"]
    r = comment(world.dispatcher, desk.mine.id, body="Reminder", mentions=[str(me.id)])
    assert r.status_code == 201 and r.json["mentions"] == [str(me.id)]
    assert mentions_queued(session) == []


def test_assigned_technician_may_be_mentioned(world: Any, desk: Any, session: Session) -> None:
    tech_user = world.users["technician"]
    r = comment(world.agent, desk.mine.id, body=f"@{tech_user.email} bring a spare board")
    assert r.status_code == 201, r.json
    assert r.json["mentions"] == [str(tech_user.id)]
    assert [row.user_id for row in mentions_queued(session)] == [tech_user.id]


@pytest.mark.parametrize(
    "who,code",
    [
        ("unknown", "unknown_mention"),
        ("inactive", "unknown_mention"),
        ("other_tenant", "unknown_mention"),
        ("unassigned_tech", "mention_not_allowed"),
    ],
)
def test_refused_mentions_store_nothing(
    world: Any, desk: Any, session: Session, who: str, code: str
) -> None:
    target = {
        "unknown": str(uuid.uuid4()),
        "inactive": str(desk.gone.id),
        "other_tenant": str(desk.b_user.id),
        # Internal notes must not reach a technician who cannot open the order.
        "unassigned_tech": str(world.other_tech_user.id),
    }[who]
    r = comment(world.dispatcher, desk.mine.id, body="See this", mentions=[target])
    assert r.status_code == 422 and r.json["code"] == code, r.json
    assert r.json["errors"]["mentions"] == [target]
    session.expire_all()
    assert session.scalars(select(WorkOrderComment)).all() == []
    assert mentions_queued(session) == []
    assert events(world.admin, desk.mine.id, "commented") == []


def test_free_text_mentions_of_unassigned_technicians_and_ambiguous_names(
    world: Any, desk: Any, session: Session
) -> None:
    r = comment(world.dispatcher, desk.mine.id, body=f"@{world.other_tech_user.email} help?")
    assert r.status_code == 422 and r.json["code"] == "mention_not_allowed"
    f.make_user(session, world.a, "agent", email="li.wei@branch.test")
    session.commit()
    r = comment(world.dispatcher, desk.mine.id, body="@li.wei can you call them?")
    assert r.status_code == 422 and r.json["code"] == "ambiguous_mention"
    r = comment(world.dispatcher, desk.mine.id, body="@li.wei@acme.test can you call them?")
    assert r.status_code == 201 and r.json["mentions"] == [str(desk.li.id)]


def test_staff_customer_comment_is_a_first_response(
    world: Any, desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[uuid.UUID, dt.datetime]] = []

    def record(*, db_session: Any, order: WorkOrder, at: dt.datetime) -> None:
        calls.append((order.id, at))

    monkeypatch.setattr("server.sla.hooks.on_first_response", record)
    assert comment(world.agent, desk.mine.id, body="Internal only").status_code == 201
    assert comment(world.technician, desk.mine.id, body="Note").status_code == 201
    assert calls == []
    r = comment(world.agent, desk.mine.id, body="We are on it.", visibility="customer")
    assert r.status_code == 201
    assert [order_id for order_id, _ in calls] == [desk.mine.id]
    assert calls[0][1] == dt.datetime.fromisoformat(r.json["created_at"])


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"body": ""},
        {"body": "   "},
        {"body": 5},
        {"body": "x" * 10_001},
        {"body": "ok", "visibility": "public"},
        {"body": "ok", "mentions": ["not-a-uuid"]},
        {"body": "ok", "mentions": "nope"},
        {"body": "ok", "attachments": ["abc"]},
        {"body": "ok", "attachments": ["a" * 64, "a" * 64]},
        {"body": "ok", "author_kind": "system"},
        {"body": "ok", "mentions": [str(uuid.uuid4()) for _ in range(21)]},
    ],
)
def test_bad_comment_bodies_are_422(world: Any, desk: Any, payload: dict[str, Any]) -> None:
    r = world.dispatcher.post(f"{ORDERS}/{desk.mine.id}/comments", json=payload)
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json


def test_attachments_must_be_uploaded_blobs(world: Any, desk: Any) -> None:
    r = comment(world.dispatcher, desk.mine.id, body="Photo", attachments=["b" * 64])
    assert r.status_code == 422 and r.json["code"] == "unknown_attachment"
    assert r.json["errors"]["attachments"] == ["b" * 64]


def test_bad_comment_queries(world: Any, desk: Any) -> None:
    url = f"{ORDERS}/{desk.mine.id}/comments"
    r = world.dispatcher.get(url, query_string={"visibility": "everyone"})
    assert r.status_code == 422
    r = world.dispatcher.get(url, query_string={"page": "0"})
    assert r.status_code == 422
    r = world.dispatcher.post(url, data="{", content_type="application/json")
    assert r.status_code == 400 and r.json["code"] == "malformed_json"
    assert world.dispatcher.get(f"{ORDERS}/{uuid.uuid4()}/comments").status_code == 404


# --- subtasks ---------------------------------------------------------------------------


@pytest.fixture()
def parent(world: Any, desk: Any, session: Session) -> WorkOrder:
    """An on-site parent that requires its subtasks, led by world.tech."""
    order = assigned(
        session,
        world,
        desk.site,
        status="on_site",
        equipment_id=desk.gen2.id,
        category="door_fault",
        priority="high",
        team_queue="lifts",
        requires_subtasks=True,
        actual_start=utcnow() - dt.timedelta(hours=1),
    )
    session.commit()
    return order


def test_subtask_inherits_from_parent_and_is_listed(
    world: Any, desk: Any, parent: WorkOrder
) -> None:
    r = world.agent.post(f"{ORDERS}/{parent.id}/subtasks", json={"title": "Order a door motor"})
    assert r.status_code == 201, r.json
    child = r.json
    assert child["parent_id"] == str(parent.id) and child["status"] == "new"
    assert child["site_id"] == str(desk.site.id) and child["equipment_id"] == str(desk.gen2.id)
    assert child["customer_id"] == str(desk.customer.id)
    assert (child["order_type"], child["priority"], child["category"]) == (
        "repair",
        "high",
        "door_fault",
    )
    assert child["team_queue"] == "lifts"
    assert r.headers["Location"].endswith(f"/work-orders/{child['id']}")
    # Another site: no equipment inherited (it is not there), own type and priority.
    r = world.agent.post(
        f"{ORDERS}/{parent.id}/subtasks",
        json={
            "title": "Survey the other shaft",
            "site_id": str(desk.other_site.id),
            "order_type": "inspection",
            "priority": "low",
        },
    )
    assert r.status_code == 201, r.json
    assert r.json["equipment_id"] is None and r.json["customer_id"] != str(desk.customer.id)
    r = world.dispatcher.get(f"{ORDERS}/{parent.id}/subtasks")
    assert r.status_code == 200
    assert [(s["title"], s["status"], s["open"]) for s in r.json] == [
        ("Order a door motor", "new", True),
        ("Survey the other shaft", "new", True),
    ]
    added = events(world.admin, parent.id, "subtask_added")
    assert [e["payload"]["subtask_id"] for e in added] == [child["id"], r.json[1]["id"]]
    # The technician of the parent sees only the subtasks they work on.
    assert world.technician.get(f"{ORDERS}/{parent.id}/subtasks").json == []
    assert world.other_technician.get(f"{ORDERS}/{parent.id}/subtasks").status_code == 404


def test_bad_subtasks_store_nothing(
    world: Any, desk: Any, parent: WorkOrder, session: Session
) -> None:
    url = f"{ORDERS}/{parent.id}/subtasks"
    r = world.agent.post(url, json={"title": "X", "equipment_id": str(desk.gen2_far.id)})
    assert r.status_code == 422 and r.json["code"] == "equipment_not_at_site"
    r = world.agent.post(url, json={"title": "X", "site_id": str(uuid.uuid4())})
    assert r.status_code == 422 and r.json["code"] == "unknown_site"
    for payload in ({}, {"title": ""}, {"title": "X", "parent_id": str(parent.id)}):
        r = world.agent.post(url, json=payload)
        assert r.status_code == 422 and r.json["code"] == "validation_error", payload
    assert (
        world.agent.post(f"{ORDERS}/{uuid.uuid4()}/subtasks", json={"title": "X"}).status_code
        == 404
    )
    assert events(world.admin, parent.id, "subtask_added") == []
    session.expire_all()
    assert session.scalars(select(WorkOrder).where(WorkOrder.parent_id == parent.id)).all() == []
    # A finished order takes no new subtasks.
    done = make_order(session, world.a, desk.site, status="completed")
    session.commit()
    r = world.agent.post(f"{ORDERS}/{done.id}/subtasks", json={"title": "Late"})
    assert r.status_code == 409 and r.json["code"] == "parent_not_open"


def test_parent_completes_only_after_its_subtasks(world: Any, desk: Any, parent: WorkOrder) -> None:
    children = [
        world.agent.post(f"{ORDERS}/{parent.id}/subtasks", json={"title": t}).json
        for t in ("Order part", "Paint")
    ]
    complete = {"to": "completed", "resolution_summary": "Door motor replaced"}
    r = world.technician.post(f"{ORDERS}/{parent.id}/transitions", json=complete)
    assert r.status_code == 409 and r.json["code"] == "subtasks_open", r.json
    assert [s["id"] for s in r.json["open_subtasks"]] == [c["id"] for c in children]
    assert world.admin.get(f"{ORDERS}/{parent.id}").json["status"] == "on_site"
    r = world.dispatcher.post(
        f"{ORDERS}/{children[0]['id']}/transitions", json={"to": "cancelled", "reason": "Dup"}
    )
    assert r.status_code == 200
    r = world.technician.post(f"{ORDERS}/{parent.id}/transitions", json=complete)
    assert r.status_code == 409 and [s["number"] for s in r.json["open_subtasks"]] == [
        children[1]["number"]
    ]
    world.dispatcher.post(
        f"{ORDERS}/{children[1]['id']}/transitions", json={"to": "cancelled", "reason": "Moot"}
    )
    listed = world.dispatcher.get(f"{ORDERS}/{parent.id}/subtasks").json
    assert [(s["status"], s["open"]) for s in listed] == [("cancelled", False)] * 2
    r = world.technician.post(f"{ORDERS}/{parent.id}/transitions", json=complete)
    assert r.status_code == 200 and r.json["status"] == "completed"


def test_parent_without_the_requirement_completes_with_open_subtasks(
    world: Any, desk: Any, parent: WorkOrder, session: Session
) -> None:
    world.agent.post(f"{ORDERS}/{parent.id}/subtasks", json={"title": "Follow-up"})
    parent.requires_subtasks = False
    session.commit()
    r = world.technician.post(
        f"{ORDERS}/{parent.id}/transitions",
        json={"to": "completed", "resolution_summary": "Done"},
    )
    assert r.status_code == 200 and r.json["status"] == "completed"


def test_phone_completion_with_open_subtasks_is_a_conflict_not_a_failed_push(
    world: Any, desk: Any, session: Session
) -> None:
    order = assigned(session, world, desk.site, requires_subtasks=True)
    session.commit()
    child = world.agent.post(f"{ORDERS}/{order.id}/subtasks", json={"title": "Part"}).json
    t0 = pull(world.technician).json["timestamp"]
    base = DEVICE_NOW
    pushed = [
        status(order.id, "accepted", base + 1000),
        status(order.id, "on_site", base + 2000),
        status(order.id, "completed", base + 3000, resolution_summary="Fixed"),
    ]
    r = push(world.technician, {"status_events": {"created": pushed}}, t0)
    assert r.status_code == 200, r.json
    assert [s["outcome"] for s in r.json["status_events"]] == ["applied", "applied", "rejected"]
    conflicts = world.dispatcher.get("/api/v1/sync/conflicts?kind=status_rejected").json
    assert [(c["row_id"], c["detail"]) for c in conflicts] == [(pushed[2]["id"], "subtasks_open")]
    assert world.dispatcher.get(f"{ORDERS}/{order.id}").json["status"] == "on_site"
    listed = world.dispatcher.get(f"{ORDERS}/{order.id}/subtasks").json
    assert [(s["id"], s["open"]) for s in listed] == [(child["id"], True)]


# --- L1: remote resolution --------------------------------------------------------------


@pytest.fixture()
def article(world: Any, session: Session) -> KbArticle:
    """A published article of tenant A."""
    row = KbArticle(tenant_id=world.a.id, title="Reset the door controller", published=True)
    session.add(row)
    session.commit()
    return row


def test_l1_resolution_of_a_new_order(world: Any, desk: Any, article: KbArticle) -> None:
    url = f"{ORDERS}/{desk.unassigned.id}/resolve-remotely"
    r = world.agent.post(
        url,
        json={"resolution": "Customer reset the controller.", "kb_article_ids": [str(article.id)]},
    )
    assert r.status_code == 200, r.json
    # L1 ends without a visit: the office completes the order itself.
    assert r.json == {
        "work_order_id": str(desk.unassigned.id),
        "status": "completed",
        "support_tier": "L1",
        "completed": True,
        "kb_article_ids": [str(article.id)],
    }
    order = world.agent.get(f"{ORDERS}/{desk.unassigned.id}").json
    assert order["support_tier"] == "L1" and order["status"] == "completed"
    assert order["actual_start"] is None and order["actual_end"] is None
    assert order["resolution_summary"] == "Customer reset the controller."
    [resolved] = events(world.agent, desk.unassigned.id, "resolved_remotely")
    assert resolved["payload"]["kb_article_ids"] == [str(article.id)]
    assert resolved["payload"]["kb_articles"][0]["title"] == "Reset the door controller"
    assert resolved["payload"]["resolution"] == "Customer reset the controller."
    [tier] = events(world.agent, desk.unassigned.id, "updated")
    assert tier["payload"]["changes"]["support_tier"] == {"from": "L2", "to": "L1"}
    r = world.agent.post(url, json={"resolution": "Again"})
    assert r.status_code == 409 and r.json["code"] == "order_not_open"


def test_l1_resolution_completes_an_order_on_site(world: Any, desk: Any, session: Session) -> None:
    order = assigned(session, world, desk.site, status="on_site", actual_start=utcnow())
    session.commit()
    url = f"{ORDERS}/{order.id}/resolve-remotely"
    # Agents may not complete (a field move); they get a clear refusal, nothing changes.
    r = world.agent.post(url, json={"resolution": "Talked them through it."})
    assert r.status_code == 409 and r.json["code"] == "remote_resolution_not_possible"
    assert world.agent.get(f"{ORDERS}/{order.id}").json["support_tier"] == "L2"
    r = world.dispatcher.post(url, json={"resolution": "Talked them through it."})
    assert r.status_code == 200 and r.json["completed"] is True
    body = world.agent.get(f"{ORDERS}/{order.id}").json
    assert body["status"] == "completed" and body["resolution_summary"] == "Talked them through it."
    moves = [e["to_status"] for e in events(world.agent, order.id, "status_changed")]
    assert moves == ["completed"]


def test_l1_resolution_respects_required_subtasks(world: Any, desk: Any, parent: WorkOrder) -> None:
    world.agent.post(f"{ORDERS}/{parent.id}/subtasks", json={"title": "Part"})
    r = world.dispatcher.post(f"{ORDERS}/{parent.id}/resolve-remotely", json={"resolution": "x"})
    assert r.status_code == 409 and r.json["code"] == "subtasks_open"


@pytest.mark.parametrize(
    "payload,status,code",
    [
        ({}, 422, "validation_error"),
        ({"resolution": " "}, 422, "validation_error"),
        ({"resolution": "ok", "kb_article_ids": ["x"]}, 422, "validation_error"),
        (
            {"resolution": "ok", "kb_article_ids": [str(uuid.UUID(int=1))] * 2},
            422,
            "validation_error",
        ),
        ({"resolution": "ok", "kb_article_ids": [str(uuid.uuid4())]}, 422, "unknown_kb_article"),
        ({"resolution": "ok", "note": "extra"}, 422, "validation_error"),
    ],
)
def test_bad_remote_resolutions_change_nothing(
    world: Any, desk: Any, payload: dict[str, Any], status: int, code: str
) -> None:
    r = world.agent.post(f"{ORDERS}/{desk.unassigned.id}/resolve-remotely", json=payload)
    assert r.status_code == status and r.json["code"] == code, r.json
    order = world.agent.get(f"{ORDERS}/{desk.unassigned.id}").json
    assert (order["status"], order["support_tier"]) == ("new", "L2")
    assert events(world.agent, desk.unassigned.id) == []


def test_another_tenants_kb_article_is_unknown(world: Any, desk: Any, session: Session) -> None:
    foreign = KbArticle(tenant_id=world.b.id, title="B only", published=True)
    session.add(foreign)
    session.commit()
    r = world.agent.post(
        f"{ORDERS}/{desk.unassigned.id}/resolve-remotely",
        json={"resolution": "ok", "kb_article_ids": [str(foreign.id)]},
    )
    assert r.status_code == 422 and r.json["code"] == "unknown_kb_article"


# --- L3: escalation and defects ---------------------------------------------------------


def escalate(api: Any, order: Any, **data: Any) -> Any:
    return api.post(f"{ORDERS}/{order.id}/escalate-l3", json=data)


def test_l3_groups_orders_of_one_model_and_symptom(world: Any, desk: Any, session: Session) -> None:
    near = make_order(session, world.a, desk.site, equipment_id=desk.gen2.id, category="door_fault")
    far = make_order(
        session, world.a, desk.other_site, equipment_id=desk.gen2_far.id, category="door_fault"
    )
    noisy = make_order(
        session, world.a, desk.site, equipment_id=desk.gen2.id, category="brake_noise"
    )
    other = make_order(
        session, world.a, desk.site, equipment_id=desk.other_model.id, category="door_fault"
    )
    session.commit()
    r = escalate(world.agent, near, note="Third door fault this month")
    assert r.status_code == 201, r.json
    defect = r.json
    assert defect["created"] is True and defect["status"] == "open"
    assert (defect["equipment_model"], defect["symptom"]) == ("Gen2", "door_fault")
    assert defect["title"] == "Gen2: door_fault" and defect["linked_orders_count"] == 1
    for order in (far, desk.mine):
        r = escalate(world.dispatcher, order)
        assert r.status_code == 200 and r.json["id"] == defect["id"] and not r.json["created"]
    r = escalate(world.agent, near)  # again: idempotent
    assert r.status_code == 200 and r.json["linked_orders_count"] == 3
    assert [o["number"] for o in r.json["orders"]] == [near.number, far.number, desk.mine.number]
    r = escalate(world.agent, noisy, title="Brake squeal on Gen2")
    assert r.status_code == 201 and r.json["id"] != defect["id"]
    assert r.json["title"] == "Brake squeal on Gen2" and r.json["symptom"] == "brake_noise"
    r = escalate(world.agent, other)
    assert r.status_code == 201 and r.json["equipment_model"] == "3300"
    assert world.agent.get(f"{ORDERS}/{near.id}").json["support_tier"] == "L3"
    [event] = events(world.agent, near.id, "escalated_l3")
    assert event["payload"] == {
        "defect_id": defect["id"],
        "defect_created": True,
        "equipment_model": "Gen2",
        "symptom": "door_fault",
        "note": "Third door fault this month",
    }
    session.expire_all()
    assert len(session.scalars(select(DefectWorkOrder)).all()) == 5
    detail = world.agent.get(f"{DEFECTS}/{defect['id']}").json
    assert detail["linked_orders_count"] == 3 and len(detail["orders"]) == 3
    listed = world.agent.get(DEFECTS, query_string={"equipment_model": "Gen2"}).json
    assert sorted((d["symptom"], d["linked_orders_count"]) for d in listed) == [
        ("brake_noise", 1),
        ("door_fault", 3),
    ]
    r = world.agent.get(DEFECTS, query_string={"sort": "-linked_orders_count,equipment_model"})
    assert [(d["equipment_model"], d["linked_orders_count"]) for d in r.json] == [
        ("Gen2", 3),
        ("3300", 1),
        ("Gen2", 1),
    ]
    assert world.b_api.get(f"{DEFECTS}/{defect['id']}").status_code == 404
    assert world.b_api.get(DEFECTS).json == []


def test_symptom_and_model_can_be_named(world: Any, desk: Any, session: Session) -> None:
    bare = make_order(session, world.a, desk.site)
    session.commit()
    r = escalate(world.agent, bare)
    assert r.status_code == 422 and r.json["code"] == "equipment_model_required"
    r = escalate(world.agent, bare, equipment_model="Gen2")
    assert r.status_code == 422 and r.json["code"] == "symptom_required"
    r = escalate(world.agent, bare, equipment_model="Gen2", symptom="door_fault")
    assert r.status_code == 201 and r.json["equipment_model"] == "Gen2"
    r = escalate(world.agent, desk.unassigned, equipment_model="3300", symptom="door_fault")
    assert r.status_code == 422 and r.json["code"] == "equipment_model_mismatch"
    r = escalate(world.agent, desk.unassigned, symptom="door_fault")
    assert r.status_code == 200 and r.json["linked_orders_count"] == 2
    assert world.agent.get(f"{ORDERS}/{bare.id}").json["support_tier"] == "L3"
    assert world.agent.get(f"{ORDERS}/{desk.unassigned.id}").json["support_tier"] == "L3"


@pytest.mark.parametrize(
    "payload",
    [
        {"symptom": ""},
        {"symptom": "door fault!"},
        {"symptom": 3},
        {"equipment_model": " "},
        {"title": "x" * 201},
        {"defect_id": str(uuid.UUID(int=1))},
    ],
)
def test_bad_escalations_change_nothing(
    world: Any, desk: Any, session: Session, payload: dict[str, Any]
) -> None:
    r = escalate(world.agent, desk.mine, **payload)
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
    assert world.agent.get(f"{ORDERS}/{desk.mine.id}").json["support_tier"] == "L2"
    session.expire_all()
    assert session.scalars(select(Defect)).all() == []


def test_finished_orders_are_not_escalated(world: Any, desk: Any, session: Session) -> None:
    closed = make_order(
        session, world.a, desk.site, status="closed", equipment_id=desk.gen2.id, category="x"
    )
    session.commit()
    r = escalate(world.agent, closed)
    assert r.status_code == 409 and r.json["code"] == "order_closed"


def test_defect_lifecycle_and_a_new_record_after_a_fix(world: Any, desk: Any) -> None:
    first = escalate(world.agent, desk.mine).json
    url = f"{DEFECTS}/{first['id']}"
    r = world.dispatcher.patch(url, json={"status": "investigating", "description": "Board rev C"})
    assert r.status_code == 200 and r.json["status"] == "investigating"
    assert r.json["linked_orders_count"] == 1
    # Still active while investigated: new orders keep joining it.
    r = escalate(world.agent, desk.unassigned, symptom="door_fault")
    assert r.status_code == 200 and r.json["id"] == first["id"]
    assert world.admin.patch(url, json={"status": "fixed"}).json["status"] == "fixed"
    assert world.agent.get(DEFECTS, query_string={"status": "fixed"}).json[0]["id"] == first["id"]
    # After the fix a recurrence is a new pattern record.
    second = escalate(world.agent, desk.mine)
    assert second.status_code == 201 and second.json["id"] != first["id"]
    r = world.dispatcher.patch(url, json={"status": "open"})
    assert r.status_code == 409 and r.json["code"] == "defect_pattern_active"
    assert r.json["defect_id"] == second.json["id"]
    assert world.agent.get(url).json["status"] == "fixed"
    assert world.admin.patch(url, json={"status": "closed"}).json["status"] == "closed"


def test_a_concurrent_escalation_joins_the_defect_opened_first(
    world: Any, desk: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.collab import service

    winner = Defect(
        tenant_id=world.a.id, title="Opened elsewhere", equipment_model="Gen2", symptom="door_fault"
    )
    session.add(winner)
    session.commit()
    real = service._active_defect
    looks: list[int] = []

    def stale_first_look(db_session: Any, model: str, symptom: str) -> Defect | None:
        # The first lookup ran before the other transaction committed its defect.
        looks.append(1)
        return None if len(looks) == 1 else real(db_session, model, symptom)

    monkeypatch.setattr(service, "_active_defect", stale_first_look)
    r = escalate(world.agent, desk.mine)
    assert r.status_code == 200, r.json
    assert r.json["id"] == str(winner.id) and r.json["created"] is False
    assert r.json["linked_orders_count"] == 1 and len(looks) == 2
    session.expire_all()
    assert len(session.scalars(select(Defect)).all()) == 1


@pytest.mark.parametrize(
    "payload", [{"status": "resolved"}, {"status": None}, {"title": ""}, {"symptom": "y"}]
)
def test_bad_defect_patches(world: Any, desk: Any, payload: dict[str, Any]) -> None:
    defect = escalate(world.agent, desk.mine).json
    r = world.dispatcher.patch(f"{DEFECTS}/{defect['id']}", json=payload)
    assert r.status_code == 422, r.json
    assert world.dispatcher.patch(f"{DEFECTS}/{uuid.uuid4()}", json={}).status_code == 404


@pytest.mark.parametrize(
    "query",
    [{"status": "new"}, {"sort": "colour"}, {"page_size": "1000"}, {"equipment_model": ""}],
)
def test_bad_defect_queries(world: Any, query: dict[str, str]) -> None:
    assert world.agent.get(DEFECTS, query_string=query).status_code == 422


# --- failure patterns -------------------------------------------------------------------


def test_patterns_count_orders_per_model_and_category(
    world: Any, desk: Any, session: Session
) -> None:
    now = utcnow()
    for _ in range(3):
        make_order(
            session, world.a, desk.other_site, equipment_id=desk.gen2_far.id, category="door_fault"
        )
    make_order(
        session,
        world.a,
        desk.site,
        equipment_id=desk.gen2.id,
        category="door_fault",
        status="closed",
    )
    make_order(session, world.a, desk.site, equipment_id=desk.other_model.id, category="leak")
    # Outside the default 90 days, without equipment, another tenant: not counted.
    make_order(
        session,
        world.a,
        desk.site,
        equipment_id=desk.gen2.id,
        category="door_fault",
        created_at=now - dt.timedelta(days=200),
    )
    make_order(session, world.a, desk.site, category="door_fault")
    b_site = f.make_site(session, world.b, f.make_customer(session, world.b))
    b_unit = f.make_equipment(session, world.b, b_site, model="Gen2")
    make_order(session, world.b, b_site, equipment_id=b_unit.id, category="door_fault")
    session.commit()
    defect = escalate(world.agent, desk.mine).json
    r = world.agent.get(f"{DEFECTS}/patterns")
    assert r.status_code == 200, r.json
    rows = [
        (p["equipment_model"], p["category"], p["order_count"], p["open_count"], p["defect_id"])
        for p in r.json
    ]
    # desk.mine and the unassigned Gen2 order (no category) count too.
    assert rows == [
        ("Gen2", "door_fault", 5, 4, defect["id"]),
        ("3300", "leak", 1, 1, None),
        ("Gen2", None, 1, 1, None),
    ]
    r = world.agent.get(f"{DEFECTS}/patterns", query_string={"min_orders": "2"})
    assert [p["order_count"] for p in r.json] == [5]
    since = (now - dt.timedelta(days=365)).isoformat()
    r = world.agent.get(
        f"{DEFECTS}/patterns", query_string={"created_from": since, "equipment_model": "Gen2"}
    )
    assert [(p["category"], p["order_count"]) for p in r.json] == [("door_fault", 6), (None, 1)]
    r = world.agent.get(f"{DEFECTS}/patterns", query_string={"category": "leak"})
    assert [(p["equipment_model"], p["order_count"]) for p in r.json] == [("3300", 1)]
    assert world.b_api.get(f"{DEFECTS}/patterns").json[0]["order_count"] == 1


@pytest.mark.parametrize(
    "query",
    [
        {"created_from": "yesterday"},
        {"created_from": "2026-01-01T00:00:00"},
        {"created_from": "2026-02-01T00:00:00Z", "created_to": "2026-01-01T00:00:00Z"},
        {"min_orders": "0"},
        {"min_orders": "x"},
        {"category": ""},
    ],
)
def test_bad_pattern_queries(world: Any, query: dict[str, str]) -> None:
    r = world.agent.get(f"{DEFECTS}/patterns", query_string=query)
    assert r.status_code == 422 and r.json["code"] == "validation_error", r.json
