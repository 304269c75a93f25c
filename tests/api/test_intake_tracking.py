"""Intake tracking: the public tracking page, its JSON status, cancel and add information."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import select

from server.db import utcnow
from server.work_orders.models import WorkOrderComment, WorkOrderEvent
from tests import intake_factories
from tests.intake_factories import (
    VALID_FORM,
    counts,
    order_of,
    png,
    submit,
    tracking_token_of,
)

MOVE = "/api/v1/work-orders/{}/transitions"

# Fixtures shared with the other intake test modules.
intake_config = intake_factories.intake_config
unit = intake_factories.unit


def html(response: Any) -> str:
    return str(response.get_data(as_text=True))


@pytest.fixture()
def tracked(client: Any, session: Any, unit: Any) -> Any:
    """A submitted request: (tracking token, order)."""
    token = tracking_token_of(submit(client, unit.token))
    return token, order_of(session, token)


def status(client: Any, token: str, lang: str = "en") -> Any:
    r = client.get(f"/api/v1/public/tracking/{token}?lang={lang}")
    assert r.status_code == 200, r.json
    return r.json


def move(world: Any, api: Any, order: Any, to: str, **extra: Any) -> None:
    r = api.post(MOVE.format(order.id), json={"to": to, **extra})
    assert r.status_code == 200, r.json


def schedule(world: Any, order: Any) -> tuple[dt.datetime, dt.datetime]:
    start = (utcnow() + dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    end = start + dt.timedelta(hours=2)
    move(
        world,
        world.dispatcher,
        order,
        "scheduled",
        lead_technician_id=str(world.tech.id),
        scheduled_start=start.isoformat(),
        scheduled_end=end.isoformat(),
    )
    return start, end


def test_new_request_status(client: Any, tracked: Any) -> None:
    token, order = tracked
    body = status(client, token)
    assert body["number"] == order.number and body["status"] == "new"
    assert body["status_label"] == "Received"
    assert [s["status"] for s in body["timeline"]] == ["new"]
    assert body["engineer"] is None and body["position"] is None and body["eta"] is None
    assert body["cancellable"] is True and body["closed"] is False
    assert status(client, token, "zh")["status_label"] == "已受理"
    page = html(client.get(f"/t/{token}"))
    assert order.number in page and "Received" in page and "Not scheduled yet" in page
    assert 'id="cancel-form"' in page and 'id="info-form"' in page


def test_schedule_engineer_eta_and_position_privacy(
    client: Any, world: Any, session: Any, tracked: Any
) -> None:
    token, order = tracked
    # The engineer's phone reports positions all day; the customer must not see them yet.
    fix = world.technician.post(
        "/api/v1/technicians/me/position", json={"lat": 31.2200, "lon": 121.4700}
    )
    assert fix.status_code == 200, fix.json
    start, end = schedule(world, order)
    body = status(client, token)
    assert body["status"] == "scheduled" and body["engineer"] == "Li"  # "Li Wei": first name
    assert dt.datetime.fromisoformat(body["scheduled_start"]) == start
    assert dt.datetime.fromisoformat(body["eta"]) == start
    assert body["position"] is None and body["timezone"] == "Asia/Shanghai"
    page = html(client.get(f"/t/{token}"))
    local = start.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert local.strftime("%Y-%m-%d %H:%M") in page and "Asia/Shanghai" in page
    assert "Wei" not in page and 'id="position"' not in page

    move(world, world.dispatcher, order, "dispatched")
    move(world, world.technician, order, "accepted")
    assert status(client, token)["position"] is None
    move(world, world.technician, order, "en_route")
    body = status(client, token)
    assert body["status"] == "en_route" and body["status_label"] == "Engineer on the way"
    assert body["position"] == {"lat": 31.22, "lon": 121.47}
    # ETA from the last fix: about 5 km at 30 km/h with detour -> 10 to 20 minutes.
    eta = dt.datetime.fromisoformat(body["eta"])
    assert dt.timedelta(minutes=8) < eta - utcnow() < dt.timedelta(minutes=25)
    assert body["cancellable"] is False
    page = html(client.get(f"/t/{token}"))
    assert 'id="position"' in page and "openstreetmap.org" in page
    assert 'id="cancel-form"' not in page

    move(world, world.technician, order, "on_site")
    body = status(client, token)
    assert body["position"] is None  # arrived: no more tracking
    labels = [s["label"] for s in body["timeline"]]
    assert labels == [
        "Received",
        "Visit scheduled",
        "Engineer assigned",
        "Engineer confirmed",
        "Engineer on the way",
        "Engineer on site",
    ]


def test_internal_notes_stay_internal(client: Any, session: Any, tracked: Any) -> None:
    token, order = tracked
    session.add_all(
        [
            WorkOrderComment(
                tenant_id=order.tenant_id,
                work_order_id=order.id,
                visibility="internal",
                body="Customer is difficult, bill extra",
            ),
            WorkOrderComment(
                tenant_id=order.tenant_id,
                work_order_id=order.id,
                visibility="customer",
                author_kind="user",
                body="We will bring a spare motor.",
            ),
        ]
    )
    session.commit()
    body = status(client, token)
    assert [c["body"] for c in body["comments"]] == ["We will bring a spare motor."]
    assert body["comments"][0]["author"] == "Service team"
    page = html(client.get(f"/t/{token}"))
    assert "bill extra" not in page and "spare motor" in page


def test_version_changes_when_the_order_moves(client: Any, world: Any, tracked: Any) -> None:
    token, order = tracked
    before = status(client, token)["version"]
    assert status(client, token)["version"] == before
    schedule(world, order)
    after = status(client, token)["version"]
    assert after != before
    live = html(client.get(f"/t/{token}/live"))
    assert "Visit scheduled" in live and "<html" not in live


def test_cancel(client: Any, session: Any, tracked: Any) -> None:
    token, order = tracked
    r = client.post(f"/t/{token}/cancel?lang=en", data={"reason": "Fixed itself"})
    assert r.status_code == 303 and "done=cancelled" in r.headers["Location"]
    order = order_of(session, token)
    assert order.status == "cancelled" and "Fixed itself" in (order.cancel_reason or "")
    event = session.scalars(
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id == order.id)
        .order_by(WorkOrderEvent.recorded_at.desc())
    ).first()
    assert event.to_status == "cancelled" and event.actor_role == "agent"
    page = html(client.get(r.headers["Location"]))
    assert "was cancelled" in page and 'id="cancel-form"' not in page
    assert 'id="info-form"' not in page
    again = client.post(f"/t/{token}/cancel", data={})
    assert again.status_code == 409 and "can no longer be cancelled" in html(again)


def test_cannot_cancel_once_on_the_way(client: Any, world: Any, session: Any, tracked: Any) -> None:
    token, order = tracked
    schedule(world, order)
    move(world, world.dispatcher, order, "dispatched")
    move(world, world.technician, order, "accepted")
    move(world, world.technician, order, "en_route")
    r = client.post(f"/t/{token}/cancel", data={"reason": "changed my mind"})
    assert r.status_code == 409 and 'id="action-error"' in html(r)
    assert r.headers["X-Error-Code"] == "cannot_cancel"
    assert order_of(session, token).status == "en_route"


def test_cancel_reason_too_long(client: Any, session: Any, tracked: Any) -> None:
    token, _ = tracked
    r = client.post(f"/t/{token}/cancel", data={"reason": "x" * 501})
    assert r.status_code == 422
    assert order_of(session, token).status == "new"


def test_add_information_with_photo(client: Any, session: Any, tracked: Any) -> None:
    token, order = tracked
    r = client.post(
        f"/t/{token}/info?lang=zh",
        data={
            "body": "It also smells burnt.",
            "photos": [(io.BytesIO(png()), "p.png")],
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 303 and "done=info" in r.headers["Location"]
    comment = session.scalar(
        select(WorkOrderComment).where(WorkOrderComment.work_order_id == order.id)
    )
    assert comment.visibility == "customer" and comment.author_kind == "customer"
    assert comment.author_name == "Wang Fang" and len(comment.attachments) == 1
    body = status(client, token)
    assert body["comments"][0]["body"] == "It also smells burnt."
    assert body["comments"][0]["photos"] == 1 and body["comments"][0]["mine"] is True
    assert "补充信息已添加" in html(client.get(r.headers["Location"]))


def test_add_information_refusals(client: Any, session: Any, world: Any, tracked: Any) -> None:
    token, order = tracked
    before = counts(session)
    bad = client.post(
        f"/t/{token}/info",
        data={"body": "see photo", "photos": [(io.BytesIO(b"GIF89a..."), "x.gif")]},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 415 and "Only JPEG" in html(bad)
    empty = client.post(f"/t/{token}/info", data={"body": "   "})
    assert empty.status_code == 422
    assert counts(session) == before
    assert session.scalars(select(WorkOrderComment)).all() == []
    client.post(f"/t/{token}/cancel", data={})
    closed = client.post(f"/t/{token}/info", data={"body": "hello?"})
    assert closed.status_code == 409 and "closed" in html(closed)


@pytest.mark.parametrize("path", ["", "/live", "/cancel", "/info"])
def test_unknown_tracking_token(client: Any, unit: Any, path: str) -> None:
    method = client.post if path in {"/cancel", "/info"} else client.get
    r = method(f"/t/nope-nope-nope-nope-nope{path}")
    assert r.status_code == 404 and r.mimetype == "text/html"
    j = client.get("/api/v1/public/tracking/nope-nope-nope-nope-nope")
    assert j.status_code == 404 and j.json["code"] == "tracking_unknown"


def test_tracking_bad_language_arg(client: Any, tracked: Any) -> None:
    token, _ = tracked
    r = client.get(f"/api/v1/public/tracking/{token}?lang=fr")
    assert r.status_code == 422
    assert client.get(f"/t/{token}?lang=fr").status_code == 200  # pages fall back


def test_tracking_tokens_are_per_order(client: Any, session: Any, unit: Any, tracked: Any) -> None:
    token, order = tracked
    other = tracking_token_of(
        submit(client, unit.token, {**VALID_FORM, "description": "Another problem entirely."}),
    )
    assert other != token and order_of(session, other).id != order.id
