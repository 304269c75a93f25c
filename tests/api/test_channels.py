"""Inbound channels: the e-mail webhook (secret, new order, threading, idempotency, inbox
for unknown senders, convert/dismiss) and the public web form (matching, honeypot)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from server.auth.models import User
from server.channels.models import InboundMessage
from server.organization.models import CustomFieldDefinition
from server.work_orders.models import WorkOrder, WorkOrderComment
from tests import factories as f

SECRET = "s3cret-webhook-value"
INBOX = "/api/v1/channels/inbox"
ORDERS = "/api/v1/work-orders"


def make_contacted_customer(
    session: Any, tenant: Any, email: str, phone: str = "+86 138 0000 1111", **kw: Any
) -> Any:
    """A customer whose contact list holds this e-mail/phone (local test factory)."""
    return f.make_customer(
        session,
        tenant,
        contacts=[
            {"name": "Front desk", "phone": "021-5555-0000", "email": "desk@example.cn"},
            {"name": "王芳", "phone": phone, "email": email, "primary": True},
        ],
        **kw,
    )


@pytest.fixture()
def desk(app: Any, world: Any, session: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Inbound e-mail switched on; a known customer with two sites; a finance rule."""
    monkeypatch.setitem(app.config, "INBOUND_EMAIL_SECRET", SECRET)
    customer = make_contacted_customer(session, world.a, "Wang.Fang@Jinmao.example")
    first = f.make_site(session, world.a, customer, name="Zz first created")
    f.make_site(session, world.a, customer, name="Aa second created")
    session.commit()
    r = world.admin.post(
        "/api/v1/routing/rules",
        json={
            "name": "Refunds to finance",
            "conditions": [{"field": "text", "op": "contains_any", "value": ["退款", "refund"]}],
            "actions": [
                {"action": "route_to_queue", "value": "finance"},
                {"action": "no_dispatch"},
            ],
        },
    )
    assert r.status_code == 201
    return SimpleNamespace(
        customer=customer, site=first, url=f"/api/v1/channels/email/{world.a.slug}"
    )


def email(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "from": {"address": "wang.fang@jinmao.example", "name": "王芳"},
        "subject": "电梯异响 Lift noise",
        "body": "3号梯运行时有异响，请派人检查。",
        "message_id": "<m1@mail.jinmao.example>",
    }
    body.update(overrides)
    return body


def post_email(world: Any, desk: Any, body: dict[str, Any], secret: str | None = SECRET) -> Any:
    headers = {"X-Webhook-Secret": secret} if secret is not None else {}
    return world.api.post(desk.url, json=body, headers=headers)


def count(session: Any, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)))


# --- the shared secret --------------------------------------------------------------------


def test_secret_is_checked_before_anything_else(world: Any, desk: Any) -> None:
    bad_body = {"nonsense": True}
    r = post_email(world, desk, bad_body, secret=None)
    assert r.status_code == 401 and r.json["code"] == "secret_missing"
    r = post_email(world, desk, bad_body, secret="guess")
    assert r.status_code == 403 and r.json["code"] == "secret_invalid"
    r = post_email(world, desk, bad_body)
    assert r.status_code == 422


def test_disabled_without_a_configured_secret(
    app: Any, world: Any, desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "INBOUND_EMAIL_SECRET", None)
    r = post_email(world, desk, email())
    assert r.status_code == 404 and r.json["code"] == "channel_disabled"


def test_unknown_tenant(world: Any, desk: Any) -> None:
    r = world.api.post(
        "/api/v1/channels/email/no-such-tenant", json=email(), headers={"X-Webhook-Secret": SECRET}
    )
    assert r.status_code == 404 and r.json["code"] == "not_found"


@pytest.mark.parametrize(
    "change",
    [
        {"from": {"address": "not-an-address"}},
        {"from": "wang.fang@jinmao.example"},
        {"from": None},
        {"message_id": "   "},
        {"message_id": "x" * 256},
        {"body": 12},
        {"references": ["<a@b>"] * 101},
        {"cc": ["x@y.z"]},
        {"subject": "x" * 301},
    ],
)
def test_bad_email_bodies(world: Any, session: Any, desk: Any, change: dict[str, Any]) -> None:
    r = post_email(world, desk, email(**change))
    assert r.status_code == 422, r.json
    assert count(session, InboundMessage) == 0


# --- new e-mail -> order; redelivery; threading -----------------------------------------------


def test_known_sender_gets_an_order_on_the_first_site(world: Any, session: Any, desk: Any) -> None:
    r = post_email(world, desk, email())
    assert r.status_code == 200, r.json
    assert r.json["status"] == "created"
    order = world.agent.get(f"{ORDERS}/{r.json['work_order_id']}").json
    assert order["number"] == r.json["work_order_number"]
    assert order["channel"] == "email"
    assert order["site_id"] == str(desk.site.id)
    assert order["title"] == "电梯异响 Lift noise"
    assert order["description"] == "3号梯运行时有异响，请派人检查。"
    assert order["contact"] == {"name": "王芳", "email": "wang.fang@jinmao.example"}
    author = session.get(User, uuid_of(order["created_by_id"]))
    assert author.email.startswith("email@") and author.is_active is False


def uuid_of(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


def test_redelivery_is_idempotent(world: Any, session: Any, desk: Any) -> None:
    first = post_email(world, desk, email())
    again = post_email(world, desk, email(subject="changed in transit"))
    assert again.status_code == 200 and again.json == first.json
    assert count(session, WorkOrder) == 1
    assert count(session, InboundMessage) == 1


def test_refund_mail_is_routed_to_finance(world: Any, desk: Any) -> None:
    r = post_email(world, desk, email(subject="申请退款", message_id="<refund@x>"))
    order = world.agent.get(f"{ORDERS}/{r.json['work_order_id']}").json
    assert order["team_queue"] == "finance" and order["lead_technician_id"] is None


def comments(session: Any, order_id: str) -> list[WorkOrderComment]:
    return list(
        session.scalars(
            select(WorkOrderComment)
            .where(WorkOrderComment.work_order_id == uuid_of(order_id))
            .order_by(WorkOrderComment.created_at)
        )
    )


def test_reply_threads_by_in_reply_to_and_references(world: Any, session: Any, desk: Any) -> None:
    created = post_email(world, desk, email()).json
    reply = post_email(
        world,
        desk,
        email(
            subject="Re: 电梯异响",
            body="补充：早上8点最明显。",
            message_id="<m2@mail>",
            in_reply_to="<m1@mail.jinmao.example>",
        ),
    )
    assert reply.status_code == 200
    assert reply.json["status"] == "threaded"
    assert reply.json["work_order_id"] == created["work_order_id"]
    # A reply to the reply (known only through References) lands on the same order.
    third = post_email(
        world,
        desk,
        email(
            subject="Re: Re:",
            body="Still noisy",
            message_id="<m3@mail>",
            in_reply_to="<unknown@elsewhere>",
            references=["<m1@mail.jinmao.example>", "<m2@mail>"],
        ),
    )
    assert third.json["status"] == "threaded"
    assert third.json["work_order_id"] == created["work_order_id"]
    notes = comments(session, created["work_order_id"])
    assert [c.body for c in notes] == ["补充：早上8点最明显。", "Still noisy"]
    assert all(c.visibility == "customer" and c.author_kind == "customer" for c in notes)
    assert notes[0].author_name == "王芳"
    assert count(session, WorkOrder) == 1


def test_reply_threads_by_order_number_in_subject(world: Any, session: Any, desk: Any) -> None:
    created = post_email(world, desk, email()).json
    r = post_email(
        world,
        desk,
        email(
            **{"from": {"address": "someone.else@example.org"}},
            subject=f"Re: [{created['work_order_number']}] 电梯异响",
            body="I am the building manager, same issue.",
            message_id="<other@x>",
        ),
    )
    assert r.json["status"] == "threaded"
    assert r.json["work_order_id"] == created["work_order_id"]
    assert comments(session, created["work_order_id"])[0].author_name == "someone.else@example.org"


def test_another_tenants_order_number_does_not_thread(world: Any, session: Any, desk: Any) -> None:
    site_b = f.make_site(session, world.b, f.make_customer(session, world.b))
    theirs = f.make_work_order(session, world.b, site_b, number="WO-2026-000777")
    session.commit()
    r = post_email(world, desk, email(subject=f"Re: [{theirs.number}]", message_id="<cross@x>"))
    assert r.json["status"] == "created"
    assert r.json["work_order_id"] != str(theirs.id)
    assert comments(session, str(theirs.id)) == []


# --- unknown senders: the inbox -------------------------------------------------------------


def test_unknown_sender_waits_in_the_inbox_and_is_converted(
    world: Any, session: Any, desk: Any
) -> None:
    stranger = email(**{"from": {"address": "li@unknown.example"}}, message_id="<s1@x>")
    r = post_email(world, desk, stranger)
    assert r.json["status"] == "unmatched" and r.json["reason"] == "unknown_sender"
    assert r.json["work_order_id"] is None
    assert count(session, WorkOrder) == 0
    listed = world.agent.get(INBOX).json
    assert [i["id"] for i in listed] == [r.json["id"]]
    assert listed[0]["from_address"] == "li@unknown.example"
    item_url = f"{INBOX}/{r.json['id']}"
    # A refused conversion changes nothing.
    bad = world.agent.post(f"{item_url}/convert", json={"site_id": str(uuid_of(f.new_id()))})
    assert bad.status_code == 422 and bad.json["code"] == "unknown_site"
    assert world.agent.get(item_url).json["status"] == "unmatched"
    converted = world.agent.post(
        f"{item_url}/convert", json={"site_id": str(desk.site.id), "priority": "high"}
    )
    assert converted.status_code == 201, converted.json
    order = converted.json
    assert order["channel"] == "email" and order["priority"] == "high"
    assert order["created_by_id"] == str(world.users["agent"].id)
    assert order["contact"]["email"] == "li@unknown.example"
    item = world.agent.get(item_url).json
    assert item["status"] == "converted" and item["work_order_id"] == order["id"]
    assert item["resolved_by_id"] == str(world.users["agent"].id)
    assert world.agent.get(INBOX).json == []
    again = world.agent.post(f"{item_url}/convert", json={"site_id": str(desk.site.id)})
    assert again.status_code == 409 and again.json["code"] == "inbox_item_closed"
    # A reply to the converted message now threads onto the new order.
    reply = post_email(
        world,
        desk,
        email(
            **{"from": {"address": "li@unknown.example"}}, message_id="<s2@x>", in_reply_to="<s1@x>"
        ),
    )
    assert reply.json["status"] == "threaded" and reply.json["work_order_id"] == order["id"]


def test_dismiss_and_filters(world: Any, desk: Any) -> None:
    r = post_email(
        world, desk, email(**{"from": {"address": "spam@spam.example"}}, message_id="<spam@x>")
    )
    url = f"{INBOX}/{r.json['id']}/dismiss"
    assert world.agent.post(url).json["status"] == "dismissed"
    assert world.agent.post(url).json["code"] == "inbox_item_closed"
    assert world.agent.get(INBOX).json == []
    assert len(world.agent.get(f"{INBOX}?status=dismissed").json) == 1
    assert world.agent.get(f"{INBOX}?status=bogus").status_code == 422
    assert world.b_api.get(f"{INBOX}/{r.json['id']}").status_code == 404


def test_ambiguous_and_siteless_senders_wait_in_the_inbox(
    world: Any, session: Any, desk: Any
) -> None:
    make_contacted_customer(session, world.a, "shared@example.com")
    make_contacted_customer(session, world.a, "SHARED@example.com")
    make_contacted_customer(session, world.a, "nosite@example.com")
    session.commit()
    r = post_email(
        world, desk, email(**{"from": {"address": "shared@example.com"}}, message_id="<a@x>")
    )
    assert r.json["reason"] == "ambiguous_sender"
    r = post_email(
        world, desk, email(**{"from": {"address": "nosite@example.com"}}, message_id="<b@x>")
    )
    assert r.json["reason"] == "customer_without_site"
    assert count(session, WorkOrder) == 0


def test_an_order_the_service_refuses_falls_back_to_the_inbox(
    world: Any, session: Any, desk: Any
) -> None:
    session.add(
        CustomFieldDefinition(
            tenant_id=world.a.id, key="po", label="PO", field_type="text", required=True
        )
    )
    session.commit()
    r = post_email(world, desk, email())
    assert r.status_code == 200
    assert r.json["status"] == "unmatched"
    assert r.json["reason"].startswith("order_refused:")
    assert count(session, WorkOrder) == 0
    assert count(session, InboundMessage) == 1


# --- the public web form --------------------------------------------------------------------


def web(world: Any, body: dict[str, Any], slug: str | None = None) -> Any:
    return world.api.post(f"/api/v1/channels/web/{slug or world.a.slug}", json=body)


def form(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "王芳",
        "email": "wang.fang@jinmao.example",
        "subject": "空调不制冷",
        "description": "会议室空调不制冷",
    }
    body.update(overrides)
    return body


def test_web_form_from_a_known_contact_creates_a_web_order(
    world: Any, session: Any, desk: Any
) -> None:
    r = web(world, form())
    assert r.status_code == 202, r.json
    msg = session.get(InboundMessage, uuid_of(r.json["reference"]))
    assert msg.channel == "web" and msg.status == "created"
    order = session.get(WorkOrder, msg.work_order_id)
    assert order.channel == "web" and order.equipment_id is None
    assert order.title == "空调不制冷" and order.site_id == desk.site.id
    assert order.contact == {"name": "王芳", "email": "wang.fang@jinmao.example"}
    author = session.get(User, order.created_by_id)
    assert author.email.startswith("portal@")


def test_web_form_phone_with_customer_code(world: Any, session: Any, desk: Any) -> None:
    body = form(phone="+86-138-0000-1111", customer_ref=desk.customer.code)
    del body["email"]
    r = web(world, body)
    msg = session.get(InboundMessage, uuid_of(r.json["reference"]))
    assert msg.status == "created" and msg.customer_id == desk.customer.id
    # The code alone (with someone else's phone) is not enough.
    r = web(world, {**body, "phone": "+1 555 000 9999"})
    msg = session.get(InboundMessage, uuid_of(r.json["reference"]))
    assert msg.status == "unmatched" and msg.reason == "contact_not_verified"


def test_web_form_unknown_requester_goes_to_the_inbox(world: Any, desk: Any) -> None:
    r = web(world, form(email="new.person@example.org"))
    assert r.status_code == 202
    items = world.agent.get(f"{INBOX}?channel=web").json
    assert [i["id"] for i in items] == [r.json["reference"]]
    assert items[0]["reason"] == "unknown_sender" and items[0]["from_name"] == "王芳"


def test_web_form_is_rate_limited_per_address(
    world: Any, session: Any, desk: Any, app: Any, client: Any, monkeypatch: Any
) -> None:
    monkeypatch.setitem(app.config, "INTAKE_SUBMIT_LIMIT_PER_ADDRESS", "2/minute")
    me = {"REMOTE_ADDR": f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"}
    url = f"/api/v1/channels/web/{world.a.slug}"
    for i in range(2):
        body = form(subject=f"Problem {i}")
        assert client.post(url, json=body, environ_base=me).status_code == 202
    before = count(session, InboundMessage)
    r = client.post(url, json=form(subject="Problem 3"), environ_base=me)
    assert r.status_code == 429 and r.json["code"] == "rate_limited"
    assert 0 < int(r.headers["Retry-After"]) <= 60
    assert count(session, InboundMessage) == before


def test_honeypot_answers_the_same_and_stores_nothing(world: Any, session: Any, desk: Any) -> None:
    r = web(world, form(website="http://spam.example"))
    assert r.status_code == 202 and set(r.json) == {"reference"}
    assert count(session, InboundMessage) == 0
    assert count(session, WorkOrder) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"email": None, "phone": None},
        {"subject": ""},
        {"subject": "x" * 201},
        {"description": "x" * 5001},
        {"name": "   "},
        {"phone": "call me maybe"},
        {"email": "nope"},
        {"equipment_id": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_web_form_bad_input(world: Any, session: Any, desk: Any, change: dict[str, Any]) -> None:
    body = {k: v for k, v in {**form(), **change}.items() if v is not None}
    r = web(world, body)
    assert r.status_code == 422, r.json
    assert count(session, InboundMessage) == 0


def test_web_form_unknown_tenant(world: Any) -> None:
    r = web(world, form(), slug="nobody")
    assert r.status_code == 404


def test_odd_tenant_slugs_are_not_found(world: Any, desk: Any) -> None:
    for slug in ("%00", "x" * 65, "%F0%9F%98%80"):
        r = world.api.post(
            f"/api/v1/channels/email/{slug}", json=email(), headers={"X-Webhook-Secret": SECRET}
        )
        assert r.status_code == 404, (slug, r.json)
        assert web(world, form(), slug=slug).status_code == 404


def test_sender_with_a_non_ascii_address_is_matched(world: Any, session: Any, desk: Any) -> None:
    customer = make_contacted_customer(session, world.a, "wang@例子.example")
    f.make_site(session, world.a, customer)
    session.commit()
    r = web(world, form(email="wang@例子.example"))
    assert r.status_code == 202, r.json
    msg = session.get(InboundMessage, uuid_of(r.json["reference"]))
    assert msg.status == "created" and msg.customer_id == customer.id
