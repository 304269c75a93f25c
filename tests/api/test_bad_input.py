"""Hostile input answered with a 4xx code before any handler runs, on every endpoint."""

from __future__ import annotations

from typing import Any

import pytest

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "body,status,code",
    [
        ("[" * 50_000 + "]" * 50_000, 400, "malformed_json"),
        ('{"a":' * 100 + "1" + "}" * 100, 422, "invalid_text"),
        ('{"title": "a\\u0000b", "order_type": "repair"}', 422, "invalid_text"),
        ('{"title": "\\ud800", "order_type": "repair"}', 422, "invalid_text"),
        ('{"\\u0000": 1}', 422, "invalid_text"),
        ("{not json", 400, "malformed_json"),
    ],
)
def test_hostile_json_bodies(world: Any, body: str, status: int, code: str) -> None:
    r = world.agent.post("/api/v1/work-orders", data=body, headers=JSON)
    assert r.status_code == status and r.json["code"] == code
    assert world.agent.get("/api/v1/work-orders").json == []


@pytest.mark.parametrize("query", ["q=%00", "%00=1"])
def test_unstorable_query_text(world: Any, query: str) -> None:
    r = world.dispatcher.get(f"/api/v1/customers?{query}")
    assert r.status_code == 422 and r.json["code"] == "invalid_text"


def test_invalid_utf8_in_query_is_replaced_not_fatal(world: Any) -> None:
    # An encoded lone surrogate decodes to U+FFFD, which every database stores.
    r = world.dispatcher.get("/api/v1/customers?q=%ED%A0%80")
    assert r.status_code == 200 and r.json == []


def test_wrong_content_type_is_a_client_error(world: Any) -> None:
    r = world.agent.post(
        "/api/v1/work-orders",
        data="title=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= r.status_code < 500 and r.json["code"]


def test_unknown_route_and_method_are_json_errors(world: Any) -> None:
    r = world.agent.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json["code"] == "not_found"
    r = world.agent.delete("/api/v1/work-orders")
    assert r.status_code == 405 and r.json["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1850-01-01T00:00:00Z"]
)
def test_dates_outside_1900_2200_are_422_everywhere(world: Any, value: str) -> None:
    r = world.agent.get("/api/v1/work-orders", query_string={"created_from": value})
    assert r.status_code == 422 and r.json["code"] == "validation_error"


def test_nan_and_infinity_are_refused(world: Any) -> None:
    body = '{"title": "x", "order_type": "repair", "estimated_duration_minutes": NaN}'
    r = world.agent.post("/api/v1/work-orders", data=body, headers=JSON)
    assert r.status_code == 422 and r.json["code"] == "invalid_text"
    r = world.agent.post("/api/v1/work-orders", data='{"a": [Infinity]}', headers=JSON)
    assert r.status_code == 422


def test_weak_etag_never_satisfies_if_match(world: Any, session: Any) -> None:
    from tests import factories as f

    site = f.make_site(session, world.a, f.make_customer(session, world.a))
    order = f.make_work_order(session, world.a, site)
    session.commit()
    url = f"/api/v1/work-orders/{order.id}"
    etag = world.dispatcher.get(url).headers["ETag"]
    r = world.dispatcher.patch(url, json={"priority": "high"}, headers={"If-Match": f"W/{etag}"})
    assert r.status_code == 412
