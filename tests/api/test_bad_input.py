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
